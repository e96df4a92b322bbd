import { sql, type RawBuilder } from 'kysely';
import { compileDdl } from '../db/compile-ddl.js';
import { fitIdentifier, shortHash } from '../db/object-names.js';
import type { ColumnModel, TableModel } from '../db/catalog.js';
import type { ShadowPair } from '../db/shadow-pair.js';

/**
 * The sync change log (the design pg-osc uses, chosen over a direct mirror
 * trigger; runbooks/sync-and-backfill.md has the measurements):
 *
 * - Row-level triggers on the legacy table append the *keys* of changed rows
 *   (legacy primary key plus the shadow's partition-key columns, from the old
 *   and the new row) to a log table in schema partgov that has no constraint
 *   to violate. The application's write can fail only where any
 *   insert into a plain heap can (disk full), whatever the shadow would reject.
 * - A replay (replayChanges) re-reads the current legacy rows of logged keys
 *   and rewrites them in the shadow (delete every logged version, insert the
 *   current row), inside partgov's own transactions. What the shadow rejects
 *   lands in partgov.sync_rejected with its key and error, for verify to list
 *   and cutover to refuse on.
 * - Keys are replayed only once the backfill has committed past them (or is
 *   done), so a batch can never copy an older version over a replayed one:
 *   batches need no row locks and insert plainly, at offline speed.
 */
/** forward: legacy -> shadow (before cutover); reverse: the cut-over table -> its archive (until retire). */
export type SyncDirection = 'forward' | 'reverse';

export interface ChangeLog {
  direction: SyncDirection;
  /** partgov.<name>: the log table. */
  table: { schema: 'partgov'; name: string };
  /** partgov.<name>: the SECURITY DEFINER capture function of each event. */
  captureFunctions: Record<CaptureEvent, { schema: 'partgov'; name: string }>;
  truncateFunction: { schema: 'partgov'; name: string };
  /** The columns logged: legacy key columns first, then partition-key columns the shadow key adds. */
  columns: readonly ColumnModel[];
}

export type CaptureEvent = 'insert' | 'update' | 'delete';
const captureEvents: readonly CaptureEvent[] = ['insert', 'update', 'delete'];

/** Trigger names on the captured table (fixed, so disable removes exactly what enable added). */
export function captureTriggerNames(direction: SyncDirection = 'forward') {
  const p = direction === 'forward' ? 'partgov_capture' : 'partgov_capture_back';
  return { insert: `${p}_insert`, update: `${p}_update`, delete: `${p}_delete`, truncate: `${p}_truncate` } as const;
}

/**
 * Makes the capture triggers fire ALWAYS: a session with
 * session_replication_role = replica (a logical replication subscriber's
 * apply worker, a restore) skips ordinary triggers, and its writes would never
 * reach the copy.
 */
export function captureAlwaysDdl(source: { schema: string; name: string }, direction: SyncDirection): string {
  const names = Object.values(captureTriggerNames(direction));
  return compileDdl(sql`alter table ${sql.id(source.schema, source.name)} ${sql.join(names.map((n) => sql`enable always trigger ${sql.id(n)}`))}`);
}

/**
 * Names of the change-log objects of the table whose changes are captured:
 * `<table>_<hash of schema.table>_changes` (forward) or `…_back` (reverse) in schema partgov.
 */
export function changeLogNames(source: { schema: string; name: string }, direction: SyncDirection = 'forward'): Pick<ChangeLog, 'table' | 'captureFunctions' | 'truncateFunction'> {
  const base = `${source.name}_${shortHash(`${source.schema}.${source.name}`)}`;
  const d = direction === 'forward' ? '' : '_back';
  return {
    table: { schema: 'partgov', name: fitIdentifier(base, direction === 'forward' ? '_changes' : '_back') },
    captureFunctions: {
      insert: { schema: 'partgov', name: fitIdentifier(base, `${d}_capture_insert`) },
      update: { schema: 'partgov', name: fitIdentifier(base, `${d}_capture_update`) },
      delete: { schema: 'partgov', name: fitIdentifier(base, `${d}_capture_delete`) },
    },
    truncateFunction: { schema: 'partgov', name: fitIdentifier(base, `${d}_truncate`) },
  };
}

/** The captured table and the one replay rewrites, for a direction. */
export function routeOf(pair: ShadowPair, direction: SyncDirection): { source: TableModel; target: TableModel } {
  return direction === 'forward' ? { source: pair.legacy, target: pair.shadow } : { source: pair.shadow, target: pair.legacy };
}

/** The change log of a pair: which columns identify every version of a row in both tables. */
export function changeLogOf(pair: ShadowPair, direction: SyncDirection = 'forward'): ChangeLog {
  const byName = new Map(pair.legacy.columns.map((c) => [c.name, c]));
  const legacyKey = new Set(pair.legacyKey.map((c) => c.name));
  const extra = pair.shadowKey.filter((c) => !legacyKey.has(c)).map((c) => byName.get(c)!);
  return { direction, ...changeLogNames(routeOf(pair, direction).source, direction), columns: [...pair.legacyKey, ...extra] };
}

const ids = (cols: readonly ColumnModel[], alias?: string) =>
  sql.join(cols.map((c) => (alias ? sql.id(alias, c.name) : sql.id(c.name))));

/**
 * DDL that creates the log table, the capture functions and the triggers, in
 * order (one transaction). The functions are SECURITY DEFINER (owned by the
 * role that runs `sync enable`) so the application's role needs no privilege
 * on schema partgov; EXECUTE is revoked from PUBLIC so no other table owner
 * can attach them to a table of theirs.
 */
export function changeLogDdl(pair: ShadowPair, log: ChangeLog): string[] {
  const parts = changeLogParts(pair, log);
  return [...parts.objects, ...parts.functions, ...parts.triggers];
}

/**
 * The change log's DDL in three parts: `objects` (log table, index) and
 * `functions` (the capture functions) can be created ahead, `triggers` switch
 * capture on. On a partitioned table creating or dropping a row trigger clones
 * or removes it on every leaf (~0.25 ms a leaf here, 83 ms for 326 leaves), so
 * the swap keeps those outside its lock: it attaches the triggers beforehand
 * to inert functions (inertCaptureFunctions) and gives the functions their
 * bodies inside the lock, which costs the same for any number of leaves.
 *
 * Capture is one row-level trigger per event, each with its own function whose
 * body is a single `INSERT … VALUES` of the row's key columns. Measured with
 * pgbench (8 clients of single-row UPDATE/INSERT/DELETE, PostgreSQL 15, 2
 * cores), the application's p95 against no trigger: statement-level triggers
 * with transition tables and a `SET search_path` clause 1.45-1.64x, the same
 * without the clause 1.09-1.38x, these row triggers 0.92-1.25x. A 1e5-row UPDATE
 * pays ~1.7 µs a row for them (statement-level: ~0.9 µs).
 *
 * No `SET search_path` on these SECURITY DEFINER functions (the clause switches
 * the setting on every call, the largest cost measured): nothing in their
 * bodies is looked up by name at run time. The one table is schema-qualified,
 * no operator or function is called (no TG_OP test: one function per event),
 * and the values go into columns of their own types, so the caller's
 * search_path cannot put an object of theirs into a call made with the
 * definer's rights. The TRUNCATE function, which runs rarely, keeps the clause.
 */
export function changeLogParts(pair: ShadowPair, log: ChangeLog): { objects: string[]; functions: string[]; triggers: string[] } {
  const route = routeOf(pair, log.direction);
  const legacy = sql.id(route.source.schema, route.source.name);
  const shadow = sql.id(route.target.schema, route.target.name);
  const names = captureTriggerNames(log.direction);
  const logTable = sql.id(log.table.schema, log.table.name);
  const truncate = sql.id(log.truncateFunction.schema, log.truncateFunction.name);
  // Column types and collations as format_type() and the catalog give them (quoted there).
  const columnDefs = sql.join(
    log.columns.map((c) => sql`${sql.id(c.name)} ${sql.raw(c.type)}${c.collation ? sql` collate ${sql.raw(c.collation)}` : sql``}`),
  );
  const cols = ids(log.columns);
  const keyIndex = sql.id(fitIdentifier(log.table.name, '_key'));
  const row = (r: 'NEW' | 'OLD') => sql`(${sql.join(log.columns.map((c) => sql`${sql.raw(r)}.${sql.id(c.name)}`))})`;
  // An UPDATE logs both sides (a moved key or partition key leaves an old version in the
  // shadow; an unchanged key is logged twice, which replay takes as one).
  const captureBodies: Record<CaptureEvent, RawBuilder<unknown>> = {
    insert: sql`insert into ${logTable} (${cols}) values ${row('NEW')}`,
    update: sql`insert into ${logTable} (${cols}) values ${row('OLD')}, ${row('NEW')}`,
    delete: sql`insert into ${logTable} (${cols}) values ${row('OLD')}`,
  };
  // TRUNCATE of the legacy table empties the shadow too; pending entries are moot then.
  const truncateBody = compileDdl(sql`
begin
  truncate ${shadow};
  truncate ${logTable};
  return null;
end`);
  const fnId = (e: CaptureEvent) => sql.id(log.captureFunctions[e].schema, log.captureFunctions[e].name);
  return {
    objects: [
      compileDdl(sql`create table if not exists ${logTable} (${columnDefs})`),
      // Replay takes keys at or below the backfill checkpoint: a range scan of this index.
      compileDdl(sql`create index if not exists ${keyIndex} on ${logTable} (${ids(pair.legacyKey)})`),
      compileDdl(sql`alter table ${logTable} set (autovacuum_vacuum_scale_factor = 0.01)`),
    ],
    functions: [
      ...captureEvents.flatMap((e) => [
        compileDdl(sql`create or replace function ${fnId(e)}() returns trigger language plpgsql security definer
      as ${sql.lit(compileDdl(sql`begin ${captureBodies[e]}; return null; end`))}`),
        compileDdl(sql`revoke all on function ${fnId(e)}() from public`),
      ]),
      compileDdl(sql`create or replace function ${truncate}() returns trigger language plpgsql security definer
      set search_path = pg_catalog, pg_temp as ${sql.lit(truncateBody)}`),
      compileDdl(sql`revoke all on function ${truncate}() from public`),
    ],
    triggers: [
      ...captureEvents.map((e) => compileDdl(sql`create trigger ${sql.id(names[e])} after ${sql.raw(e)} on ${legacy} for each row execute function ${fnId(e)}()`)),
      compileDdl(sql`create trigger ${sql.id(names.truncate)} after truncate on ${legacy} for each statement execute function ${truncate}()`),
      captureAlwaysDdl(route.source, log.direction),
    ],
  };
}

/**
 * The capture functions with bodies that log nothing (same names and
 * signatures, so triggers can be attached to them): a table's triggers exist
 * before capture starts, and capture stops without dropping them.
 */
export function inertCaptureFunctions(source: { schema: string; name: string }, direction: SyncDirection): string[] {
  const names = changeLogNames(source, direction);
  const inert = sql.lit('begin return null; end');
  return [...captureEvents.map((e) => names.captureFunctions[e]), names.truncateFunction].flatMap((f) => [
    compileDdl(sql`create or replace function ${sql.id(f.schema, f.name)}() returns trigger language plpgsql security definer as ${inert}`),
    compileDdl(sql`revoke all on function ${sql.id(f.schema, f.name)}() from public`),
  ]);
}

/** DDL that removes the triggers, the functions and the log table (sync disable, cutover, rollback, retire). */
export function dropChangeLogDdl(source: { schema: string; name: string }, direction: SyncDirection = 'forward'): string[] {
  const parts = dropChangeLogParts(source, direction);
  return [...parts.triggers, ...parts.objects];
}

/** The drop in two parts: `triggers` stop capture (cutover: inside its lock), `objects` can go after. */
export function dropChangeLogParts(source: { schema: string; name: string }, direction: SyncDirection = 'forward'): { triggers: string[]; objects: string[] } {
  const names = changeLogNames(source, direction);
  const table = sql.id(source.schema, source.name);
  return {
    triggers: Object.values(captureTriggerNames(direction)).map((t) => compileDdl(sql`drop trigger if exists ${sql.id(t)} on ${table}`)),
    objects: [
      ...captureEvents.map((e) => compileDdl(sql`drop function if exists ${sql.id(names.captureFunctions[e].schema, names.captureFunctions[e].name)}()`)),
      compileDdl(sql`drop function if exists ${sql.id(names.truncateFunction.schema, names.truncateFunction.name)}()`),
      compileDdl(sql`drop table if exists ${sql.id(names.table.schema, names.table.name)}`),
    ],
  };
}

/**
 * Steps that register a captured table with partgov's DDL guard
 * (sql/sync/guard-synced-ddl.sql): a row in partgov.sync_guard naming the
 * columns its change log reads, and, when the role may create one (superuser),
 * the event trigger that refuses renaming or dropping them.
 */
export function ddlGuardDdl(source: TableModel, label: string, log: ChangeLog, withEventTrigger: boolean, functionText: string): string[] {
  const cols = log.columns.map((c) => c.name);
  return [
    // sql.lit: the oid and names come from the catalog; the array literal is built from quoted text literals.
    compileDdl(sql`insert into partgov.sync_guard (relid, table_name, key_columns) values (${sql.lit(source.oid)}::oid, ${sql.lit(label)}, array[${sql.join(cols.map((c) => sql.lit(c)))}]::text[])
      on conflict (relid) do update set table_name = excluded.table_name, key_columns = excluded.key_columns`),
    ...(withEventTrigger
      ? [
          functionText.trim().replace(/;\s*$/, ''),
          // CREATE TABLE too (an INHERITS child); one installed by an older partgov, with ALTER TABLE only, is replaced.
          compileDdl(sql`do ${sql.lit(`begin if exists (select 1 from pg_event_trigger where evtname = 'partgov_guard_synced_ddl' and not evttags @> array['ALTER TABLE', 'CREATE TABLE']) then drop event trigger partgov_guard_synced_ddl; end if; if not exists (select 1 from pg_event_trigger where evtname = 'partgov_guard_synced_ddl') then create event trigger partgov_guard_synced_ddl on ddl_command_end when tag in ('ALTER TABLE', 'CREATE TABLE') execute function partgov.guard_synced_ddl(); end if; end`)}`),
        ]
      : []),
  ];
}

/** The step that takes a table off the DDL guard. */
export function dropDdlGuardDdl(source: TableModel): string {
  return compileDdl(sql`delete from partgov.sync_guard where relid = ${sql.lit(source.oid)}::oid`);
}
