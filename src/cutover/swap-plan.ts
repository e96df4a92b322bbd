import { sql, type RawBuilder } from 'kysely';
import { partitionKeyColumns, type TableConfig } from '../config/config-schema.js';
import { triggerDdlOn, type TableModel } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import { incomingForeignKeyFix, parseIncomingForeignKey } from '../db/foreign-key-advice.js';
import { grantStatements } from '../db/grant-ddl.js';
import { fitIdentifier, objectNames } from '../db/object-names.js';
import { archiveNameOf, type ShadowPair } from '../db/shadow-pair.js';
import { querySqlFile } from '../db/sql-file.js';
import { replicaIdentityClause } from '../db/storage-options.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { changeLogOf, changeLogParts, ddlGuardDdl, dropChangeLogParts, dropDdlGuardDdl, inertCaptureFunctions } from '../changelog/change-log.js';
import type { Step } from '../steps/run-steps.js';

/** Something that points at the table by OID, and what the swap does with it. */
export interface SwapObject {
  kind: 'view' | 'matview' | 'fk_in' | 'publication' | 'trigger' | 'replica_identity' | 'sequence' | 'identity' | 'grant' | 'statistics' | 'function' | 'rule' | 'policy' | 'index';
  name: string;
  action: 'carried' | 'refused';
  /** What the swap does with it (carried), or why it cannot follow (refused). */
  detail: string;
  /** A refused object: what to do about it, the statement to run where there is one. */
  fix?: string;
}

export interface SwapPlan {
  /** What the swap puts in place: cutover (the partitioned table takes the name) or rollback (the archive takes it back). */
  direction: 'cutover' | 'rollback';
  table: string;
  archive: string;
  objects: SwapObject[];
  /** Before the lock, in a transaction of their own: the change-log objects of the other direction (unused until their triggers exist). */
  prepare: Step[];
  /** Steps inside the one swap transaction, in order; `replay-rest` is replayed by partgov, its SQL a comment. */
  steps: Step[];
  /** After the swap committed: the emptied change log of the old direction (no trigger feeds it any more). */
  cleanup: Step[];
}

/**
 * A table's column list and row filter in a publication (PostgreSQL 15+;
 * none before): re-added without them, the new table would publish every
 * column and every row.
 */
async function publicationMembership(db: PartgovKysely, tableOid: string, publication: string): Promise<{ columns: string[] | null; filter: string | null; viaRoot: boolean }> {
  const v = await sql<{ n: number; via_root: boolean }>`select current_setting('server_version_num')::int as n, (select pubviaroot from pg_publication where pubname = ${publication}) as via_root`.execute(db);
  if (v.rows[0]!.n < 150000) return { columns: null, filter: null, viaRoot: v.rows[0]!.via_root };
  const r = await sql<{ columns: string[] | null; filter: string | null; viaRoot: boolean }>`
    select (select array_agg(a.attname::text order by a.attnum) from pg_attribute a where a.attrelid = pr.prrelid and a.attnum = any(pr.prattrs::int2[])) as columns,
           pg_get_expr(pr.prqual, pr.prrelid) as filter, p.pubviaroot as "viaRoot"
    from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
    where pr.prrelid = ${tableOid}::oid and p.pubname = ${publication}`.execute(db);
  return r.rows[0] ?? { columns: null, filter: null, viaRoot: false };
}

interface DependentRow {
  kind: SwapObject['kind'];
  name: string;
  definition: string | null;
}

/**
 * Plans one swap. `from` is the table the application uses now (legacy before
 * cutover, the partitioned one before rollback), `into` the one that takes
 * its name. Everything that follows the old table by OID is either carried
 * inside the transaction (views recreated from their text, publication
 * membership, replica identity, grants, serial-sequence ownership, identity
 * sequences moved past every value handed out) or refused with its name
 * (materialized views, foreign keys into the table, triggers the other table
 * lacks, REPLICA IDENTITY USING INDEX).
 */
export async function planSwap(
  db: PartgovKysely,
  pair: ShadowPair,
  table: TableConfig,
  direction: 'cutover' | 'rollback',
): Promise<SwapPlan> {
  const archive = archiveNameOf(table);
  const schema = table.schema;
  // Before cutover: legacy = T, shadow = T_shadow. Before rollback: legacy = archive, shadow = T.
  const from = direction === 'cutover' ? pair.legacy : pair.shadow;
  const into = direction === 'cutover' ? pair.shadow : pair.legacy;
  const fromNewName = direction === 'cutover' ? archive : objectNames.shadow(table.name);
  const T = sql.id(schema, table.name);
  const moved = sql.id(schema, fromNewName);
  const objects: SwapObject[] = [];
  /** Settings of the shadow's leaves, made before the lock. */
  const leafSettings: Step[] = [];
  const steps: Step[] = [];
  const add = (id: string, description: string, statement: RawBuilder<unknown> | string) =>
    steps.push({ id, description, sql: typeof statement === 'string' ? statement : compileDdl(statement) });

  const dependents = await querySqlFile<DependentRow>(db, 'catalog/dependents.sql', [from.oid]);
  const intoTriggers = new Set(
    (await querySqlFile<DependentRow>(db, 'catalog/dependents.sql', [into.oid])).filter((d) => d.kind === 'trigger').map((d) => d.name),
  );

  // The views the swap recreates first: a query through a view locks the view, then its table, so a swap that
  // took the table first and the view later (CREATE OR REPLACE VIEW) deadlocked with it (seen in a walk: the
  // application's query lost after deadlock_timeout, and the swap held its lock that second). Locking a view
  // locks the tables its query reads too (PostgreSQL recurses), in the order a query through it does.
  const views = dependents.filter((d) => d.kind === 'view').map((d) => sql.raw(d.name)); // sql.raw: format('%I.%I') from the catalog
  add('lock', `take ${views.length > 0 ? `the view(s) reading ${table.name}, then ` : ''}${table.name} and ${into.name} exclusively (under lock_timeout): no write lands between the last replay and the rename`,
    sql`lock table ${sql.join([...views, sql.id(schema, from.name), sql.id(schema, into.name)])} in access exclusive mode`);
  add('replay-rest', 'replay what is left of the change log into the table taking over (partgov replays it; nothing can be logged meanwhile)',
    `-- partgov replays the ${direction === 'cutover' ? 'forward' : 'reverse'} change log here`);
  const logBefore = changeLogOf(pair, direction === 'cutover' ? 'forward' : 'reverse');
  const dropBefore = dropChangeLogParts({ schema, name: from.name }, logBefore.direction);
  // The partitioned table's triggers (rollback) stay until after the COMMIT: inert from the swap on,
  // dropped once it is the shadow again (a drop inside the lock cost ~14 ms a trigger at 326 leaves).
  const stopBefore = direction === 'cutover' ? dropBefore.triggers : inertCaptureFunctions({ schema, name: from.name }, logBefore.direction);
  stopBefore.forEach((text, i) => add(`stop-capture-${i + 1}`, 'stop the change log that fed the table taking over', text));
  add('rename-old', `${table.name} becomes ${fromNewName}`, sql`alter table ${sql.id(schema, from.name)} rename to ${sql.id(fromNewName)}`);
  add('rename-new', `${into.name} becomes ${table.name}`, sql`alter table ${sql.id(schema, into.name)} rename to ${sql.id(table.name)}`);
  // Index and constraint names go with the table name: the application's ON CONFLICT ON CONSTRAINT names the legacy ones.
  const renames = indexRenames(table, direction, from, into);
  const taken = await sql<{ name: string }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = any(${renames.map((r) => r.to)}::text[]) and not (c.relname = any(${renames.map((r) => r.from)}::text[]))`.execute(db);
  for (const r of renames) {
    if (taken.rows.some((x) => x.name === r.to)) objects.push({ kind: 'index', name: r.from, action: 'refused', detail: `index ${r.from} would be renamed ${r.to}, a name another relation of schema ${schema} has`, fix: 'rename that relation' });
  }
  for (const r of renames) add(`index:${r.from}`, r.why, sql`alter index ${sql.id(schema, r.from)} rename to ${sql.id(r.to)}`);
  const statistics = statisticsRenames(direction, from, into);
  const takenStatistics = await sql<{ schema: string; name: string }>`select n.nspname as schema, s.stxname as name from pg_statistic_ext s join pg_namespace n on n.oid = s.stxnamespace
    where s.stxname = any(${statistics.map((r) => r.to)}::text[]) and not (s.stxname = any(${statistics.map((r) => r.from)}::text[]))`.execute(db);
  for (const r of statistics) {
    if (takenStatistics.rows.some((x) => x.schema === r.schema && x.name === r.to)) objects.push({ kind: 'statistics', name: r.from, action: 'refused', detail: `statistics ${r.from} would be renamed ${r.to}, a name other statistics of schema ${r.schema} have`, fix: 'rename those' });
    add(`statistics:${r.from}`, r.why, sql`alter statistics ${sql.id(r.schema, r.from)} rename to ${sql.id(r.to)}`);
  }
  if (renames.length > 0) objects.push({ kind: 'index', name: renames.filter((r) => r.takesName).map((r) => r.to).join(', '), action: 'carried', detail: `index and constraint names move with ${table.name}` });

  // Identity columns of the table taking over continue past every value the other handed out.
  for (const c of into.columns.filter((x) => x.identity !== null)) {
    const intoText = compileDdl(T);
    const fromText = compileDdl(moved);
    // max() is read before the lock: on the partitioned table the key column is not the index's
    // first, so max() scans every row (120-180 ms at 1e6 rows, measured by bench:cutover). Rows
    // written since then took their ids from a sequence, whose last value is read inside.
    const maxBefore = (await sql<{ m: string | null }>`select max(${sql.id(c.name)})::text as m from ${sql.id(schema, from.name)}`.execute(db)).rows[0]!.m;
    // sql.lit: a number the server formatted; sql.raw(c.type): the column's format_type().
    const known = maxBefore === null ? sql`null` : sql`${sql.lit(maxBefore)}::${sql.raw(c.type)}`;
    add(`identity:${c.name}`, `identity ${c.name} of ${table.name} continues past every value ${fromNewName} handed out`,
      sql`select setval(pg_get_serial_sequence(${sql.lit(intoText)}, ${sql.lit(c.name)}), v, true) from (
            select greatest(${known},
                            pg_sequence_last_value(pg_get_serial_sequence(${sql.lit(fromText)}, ${sql.lit(c.name)})::regclass),
                            pg_sequence_last_value(pg_get_serial_sequence(${sql.lit(intoText)}, ${sql.lit(c.name)})::regclass)) as v) x
          where v is not null`);
    objects.push({ kind: 'identity', name: c.name, action: 'carried', detail: `sequence moved past max(${c.name}) and the other sequence's last value` });
  }
  // A serial default's sequence is shared (plan kept the default); it must belong to the table that keeps the name.
  for (const s of from.ownedSequences.filter((x) => !x.isIdentity)) {
    // sql.raw: quote_ident()-built name from sql/catalog/owned-sequences.sql.
    add(`sequence:${s.sequence}`, `sequence ${s.sequence} is owned by ${table.name}.${s.column} again`, sql`alter sequence ${sql.raw(s.sequence)} owned by ${sql.id(schema, table.name, s.column)}`);
    objects.push({ kind: 'sequence', name: s.sequence, action: 'carried', detail: `OWNED BY ${table.name}.${s.column}, so retiring ${fromNewName} cannot drop it` });
  }
  for (const d of dependents) {
    if (d.kind === 'view') {
      // sql.raw: the view's name (format %I) and definition (pg_get_viewdef) come from the catalog
      // before the rename, so its text names the table by the name it keeps.
      const view = JSON.parse(d.definition!) as { query: string; options: string[] };
      // CREATE OR REPLACE resets what WITH does not name: without them a security_invoker view would
      // read as its owner (row-level security bypassed) and a check_option view stop checking writes.
      const options = view.options.map((o) => {
        const at = o.indexOf('=');
        return sql`${sql.id(o.slice(0, at))} = ${sql.lit(o.slice(at + 1))}`;
      });
      const withOptions = options.length > 0 ? sql` with (${sql.join(options)})` : sql``;
      add(`view:${d.name}`, `view ${d.name} reads ${table.name} again`, sql`create or replace view ${sql.raw(d.name)}${withOptions} as ${sql.raw(view.query.replace(/;\s*$/, ''))}`);
      objects.push({ kind: 'view', name: d.name, action: 'carried', detail: `recreated from its definition inside the swap${view.options.length > 0 ? `, with (${view.options.join(', ')})` : ''}` });
    } else if (d.kind === 'function') {
      // sql.raw: pg_get_functiondef's own CREATE OR REPLACE text, read before the rename: its
      // body names the table by the name it keeps, so running it after the rename binds it anew.
      add(`function:${d.name}`, `${d.name} (a SQL-standard body) reaches ${table.name} again`, sql.raw(d.definition!));
      objects.push({ kind: 'function', name: d.name, action: 'carried', detail: 'its BEGIN ATOMIC body bound the table by OID: recreated from its definition inside the swap' });
    } else if (d.kind === 'policy') {
      const p = JSON.parse(d.definition!) as { policy: string; table: string; using: string | null; check: string | null };
      // sql.raw: regclass text and pg_get_expr text from the catalog, read before the rename (they name the table by the name it keeps).
      const using = p.using !== null ? sql` using (${sql.raw(p.using)})` : sql``;
      const check = p.check !== null ? sql` with check (${sql.raw(p.check)})` : sql``;
      add(`policy:${d.name}`, `policy ${d.name} reads ${table.name} again`, sql`alter policy ${sql.id(p.policy)} on ${sql.raw(p.table)}${using}${check}`);
      objects.push({ kind: 'policy', name: d.name, action: 'carried', detail: `its expressions read ${table.name} by OID: set again inside the swap` });
    } else if (d.kind === 'rule') {
      objects.push({ kind: 'rule', name: d.name, action: 'refused', detail: `rule ${d.name} (${d.definition}) would stay on ${fromNewName}`, fix: `drop it, swap, and create it on ${table.name}` });
    } else if (d.kind === 'matview') {
      objects.push({ kind: 'matview', name: d.name, action: 'refused', detail: `materialized view ${d.name} would keep reading ${fromNewName}`, fix: 'drop it before and recreate it after the swap' });
    } else if (d.kind === 'fk_in') {
      const fk = parseIncomingForeignKey(d.name, d.definition!);
      // Nothing can point it at the other table inside the swap: it goes first, and comes back after.
      const fix = direction === 'cutover'
        ? incomingForeignKeyFix(fk, table.name, partitionKeyColumns(table.layout))
        : `drop it first (${fk.drop}; the application enforces it meanwhile) and, after the swap, add it again against ${table.name}'s key`;
      objects.push({ kind: 'fk_in', name: d.name, action: 'refused', detail: `foreign key ${d.name} (${fk.definition}) would keep referencing ${fromNewName}`, fix });
    } else if (d.kind === 'publication') {
      const m = await publicationMembership(db, from.oid, d.name);
      if (direction === 'cutover' && !m.viaRoot) {
        // Without it, a partitioned table's changes go out as its partitions': a subscriber that
        // has only T stops (no such relation), a CDC consumer sees new tables. (And PostgreSQL
        // refuses a row filter on a partitioned table without it.)
        objects.push({ kind: 'publication', name: d.name, action: 'refused', detail: `publication ${d.name} publishes ${table.name} without publish_via_partition_root: after the swap its subscribers would receive the changes as those of ${table.name}'s partitions, not of ${table.name}${m.filter ? ` (and PostgreSQL refuses its row filter, where ${m.filter}, on a partitioned table)` : ''}`, fix: `${compileDdl(sql`alter publication ${sql.id(d.name)} set (publish_via_partition_root = true)`)}, or take ${table.name} out of it` });
        continue;
      }
      add(`publication:${d.name}`, `publication ${d.name} publishes ${table.name} again`, sql`alter publication ${sql.id(d.name)} drop table ${moved}`);
      // With its column list and row filter: re-added without them, it would publish every column and row.
      const columns = m.columns ? sql` (${sql.join(m.columns.map((c) => sql.id(c)))})` : sql``;
      // sql.raw: the row filter as PostgreSQL deparsed it (pg_get_expr).
      const where = m.filter ? sql` where (${sql.raw(m.filter)})` : sql``;
      add(`publication-add:${d.name}`, `publication ${d.name} adds ${table.name}`, sql`alter publication ${sql.id(d.name)} add table ${T}${columns}${where}`);
      objects.push({ kind: 'publication', name: d.name, action: 'carried', detail: `membership moves to the new ${table.name}${m.columns ? `, columns (${m.columns.join(', ')})` : ''}${m.filter ? `, where ${m.filter}` : ''}` });
    } else if (d.kind === 'trigger') {
      if (intoTriggers.has(d.name)) objects.push({ kind: 'trigger', name: d.name, action: 'carried', detail: `${into.name} has its own ${d.name}` });
      else {
        const trigger = from.triggers.find((t) => t.name === d.name);
        objects.push({ kind: 'trigger', name: d.name, action: 'refused', detail: `the application's trigger ${d.name} is not on ${into.name}`, fix: `create it there first (${trigger ? triggerDdlOn(trigger, into) : d.definition})` });
      }
    } else if (d.kind === 'statistics') {
      // sql.lit: an integer the catalog formatted.
      add(`statistics:${d.name}`, `statistics target ${d.definition} on ${d.name}`, sql`alter table ${T} alter column ${sql.id(d.name)} set statistics ${sql.lit(Number(d.definition))}`);
      objects.push({ kind: 'statistics', name: d.name, action: 'carried', detail: `SET STATISTICS ${d.definition}` });
    } else if (d.kind === 'replica_identity') {
      if (d.name === 'index') objects.push({ kind: 'replica_identity', name: 'index', action: 'refused', detail: 'REPLICA IDENTITY USING INDEX', fix: 'set it on the other table by hand, then run again' });
      else {
        add('replica-identity', `replica identity ${d.name}`, sql`alter table ${T} replica identity ${sql.raw(d.name === 'full' ? 'full' : 'nothing')}`);
        // A partition does not inherit it, and each leaf's is what logical decoding reads: set on the
        // shadow's leaves before the lock (a shadow planned before plan did it there).
        const wanted = d.name === 'full' ? 'f' : 'n';
        if (direction === 'cutover') {
          const leaves = await sql<{ schema: string; name: string }>`select n.nspname as schema, c.relname as name from pg_partition_tree(${into.oid}::oid::regclass) p
            join pg_class c on c.oid = p.relid join pg_namespace n on n.oid = c.relnamespace where p.isleaf and c.relreplident <> ${wanted}`.execute(db);
          for (const l of leaves.rows) leafSettings.push({ id: `replica-identity:${l.name}`, description: `replica identity ${d.name} of leaf ${l.name}`, sql: compileDdl(sql`alter table ${sql.id(l.schema, l.name)} ${replicaIdentityClause(wanted)!}`) });
        }
        objects.push({ kind: 'replica_identity', name: d.name, action: 'carried', detail: `REPLICA IDENTITY ${d.name.toUpperCase()}, on the table and every leaf` });
      }
    }
  }
  const granted = grantStatements(from.access, T).filter((g) => g.statement !== null);
  for (const g of granted) add(`grant:${g.key}`, `grant ${g.label}, as today`, g.statement!);
  if (granted.length > 0) objects.push({ kind: 'grant', name: granted.map((g) => g.label).join(', '), action: 'carried', detail: 'granted again on the new table' });

  // The table that steps aside keeps following: its change log is installed on the table taking the name.
  const after: ShadowPair =
    direction === 'cutover'
      ? { ...pair, legacy: renamed(pair.legacy, archive), shadow: renamed(pair.shadow, table.name) }
      : { ...pair, legacy: renamed(pair.legacy, table.name), shadow: renamed(pair.shadow, fromNewName) };
  const logAfter = changeLogParts(after, changeLogOf(after, direction === 'cutover' ? 'reverse' : 'forward'));
  // Cutover captures the partitioned table: its triggers are attached before the lock to inert
  // functions, which get their bodies here; rollback's triggers go on the plain table, here.
  const startAfter = direction === 'cutover' ? logAfter.functions : logAfter.triggers;
  startAfter.forEach((text, i) => add(`capture-${i + 1}`, `log changes of ${table.name} for ${fromNewName}, so it stays exact`, text));
  // The DDL guard follows: it protects the key columns of whichever table is captured now.
  add('guard-off', `stop guarding ${fromNewName}'s key columns`, dropDdlGuardDdl(from));
  const logAfterModel = changeLogOf(after, direction === 'cutover' ? 'reverse' : 'forward');
  ddlGuardDdl(into, `${schema}.${table.name}`, logAfterModel, false, '').forEach((text) => add('guard-on', `guard the key columns the change log of ${table.name} reads`, text));
  // On the partitioned table under its name before the swap (the triggers follow it through the
  // rename); a failed earlier attempt's triggers, inert all along, are replaced.
  const redoTriggers = direction === 'cutover' ? [...dropChangeLogParts({ schema, name: into.name }, 'reverse').triggers, ...changeLogParts(pair, changeLogOf(after, 'reverse')).triggers] : [];
  const prepareAfter = direction === 'cutover'
    ? [...logAfter.objects, ...inertCaptureFunctions({ schema, name: table.name }, 'reverse'), ...redoTriggers]
    : [...logAfter.objects, ...logAfter.functions];
  const prepare = [...leafSettings, ...prepareAfter.map((text, i) => ({ id: `prepare-${i + 1}`, description: `change-log objects for ${fromNewName} (inert until the swap)`, sql: text }))];
  // Rollback: the partitioned table's inert triggers, on it under its shadow name now, go first.
  const dropLeft = direction === 'rollback' ? dropChangeLogParts({ schema, name: fromNewName }, logBefore.direction).triggers : [];
  const cleanup = [...dropLeft, ...dropBefore.objects].map((text, i) => ({ id: `cleanup-${i + 1}`, description: 'drop the emptied change log of the old direction', sql: text }));
  return { direction, table: `${schema}.${table.name}`, archive: `${schema}.${archive}`, objects, prepare, steps, cleanup };
}

function renamed(t: TableModel, name: string): TableModel {
  return { ...t, name };
}

interface IndexRename {
  from: string;
  to: string;
  why: string;
  /** This rename gives the table under the name one of its old index names (the other kind frees the name first). */
  takesName: boolean;
}

/**
 * The index renames of a swap, names freed first. Plan names the shadow's
 * objects `<legacy index>_shadow` (the key `<table>_shadow_pkey`); at cutover
 * the archive's take `_legacy` and the shadow's take the legacy names, which a
 * constraint backed by the index follows; rollback undoes both. Indexes
 * without a counterpart keep their names.
 */
export function indexRenames(table: TableConfig, direction: 'cutover' | 'rollback', from: TableModel, into: TableModel): IndexRename[] {
  const shadowNameOf = (i: { name: string; isPrimary: boolean }) => objectNames.shadowIndex(table.name, i);
  const intoNames = new Set(into.indexes.map((i) => i.name));
  const free: IndexRename[] = [];
  const take: IndexRename[] = [];
  for (const i of from.indexes) {
    if (direction === 'cutover') {
      const s = shadowNameOf(i);
      if (s === i.name || !intoNames.has(s)) continue;
      const archived = fitIdentifier(i.name, '_legacy');
      free.push({ from: i.name, to: archived, why: `the archive's ${i.name} becomes ${archived}`, takesName: false });
      take.push({ from: s, to: i.name, why: `${s} becomes ${i.name}, as the table's index was called`, takesName: true });
    } else {
      const archived = fitIdentifier(i.name, '_legacy');
      if (!intoNames.has(archived)) continue;
      const s = shadowNameOf(i);
      free.push({ from: i.name, to: s, why: `${i.name} becomes ${s} again, the partitioned table's`, takesName: false });
      take.push({ from: archived, to: i.name, why: `${archived} is ${i.name} again`, takesName: true });
    }
  }
  return [...free, ...take];
}

/**
 * The extended-statistics renames of a swap, names freed first: as
 * indexRenames, for CREATE STATISTICS objects (plan names the shadow's
 * `<name>_shadow`), so the planner settings a DBA made on the table stay
 * under their names.
 */
export function statisticsRenames(direction: 'cutover' | 'rollback', from: TableModel, into: TableModel): (IndexRename & { schema: string })[] {
  const intoNames = new Set(into.extendedStatistics.map((x) => `${x.schema}.${x.name}`));
  const free: (IndexRename & { schema: string })[] = [];
  const take: (IndexRename & { schema: string })[] = [];
  for (const st of from.extendedStatistics) {
    const shadowName = objectNames.shadowObject(st.name);
    const archived = fitIdentifier(st.name, '_legacy');
    if (direction === 'cutover') {
      if (!intoNames.has(`${st.schema}.${shadowName}`)) continue;
      free.push({ schema: st.schema, from: st.name, to: archived, why: `the archive's statistics ${st.name} become ${archived}`, takesName: false });
      take.push({ schema: st.schema, from: shadowName, to: st.name, why: `statistics ${shadowName} become ${st.name}`, takesName: true });
    } else {
      if (!intoNames.has(`${st.schema}.${archived}`)) continue;
      free.push({ schema: st.schema, from: st.name, to: shadowName, why: `statistics ${st.name} become ${shadowName} again`, takesName: false });
      take.push({ schema: st.schema, from: archived, to: st.name, why: `statistics ${archived} are ${st.name} again`, takesName: true });
    }
  }
  return [...free, ...take];
}
