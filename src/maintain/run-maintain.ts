import { sql } from 'kysely';
import { z } from 'zod';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, optionalNumberInput, parseStageInput } from '../stage/stage-input.js';
import type { RangeLayout, TableConfig } from '../config/config-schema.js';
import { addIntervals, rangeBounds, rangeLabel, truncateToInterval, type RangeBound } from '../config/range-bounds.js';
import { withAdvisoryLocks } from '../db/advisory-lock.js';
import { requireTable, type TableRef } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import { objectNames } from '../db/object-names.js';
import { rangePartitionStatements } from '../db/range-partition-ddl.js';
import { refreshPartitionConstraintDdl } from '../db/partition-routing.js';
import { dropRetiredPartitions } from '../db/retired-partitions.js';
import { siblingLeafStorage, type StorageParameters } from '../db/storage-options.js';
import { archiveNameOf, partitionedTableOf } from '../db/shadow-pair.js';
import { isCutOver } from '../changelog/sync-state.js';
import { SafetyRefusedError } from '../errors.js';
import { runGuarded, setLocalTimeouts } from '../db/run-guarded.js';
import { appTriggersOn, mayWriteAsReplica, replicaWrites } from '../changelog/target-triggers.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { assertStateSchema } from '../state/state-schema.js';
import { writeAudit, type Step } from '../steps/run-steps.js';
import { judged, type StageVerdict } from '../checks/check.js';

/** maintain's input: defaults and limits once, for the library and the CLI. */
export const maintainInputSchema = z.object({
  dryRun: flagInput('print what would change; change nothing'),
  maxLockedMoveRows: optionalNumberInput({ min: 0, max: 1_000_000_000, integer: true, describe: "move up to this many DEFAULT rows of one range under the table's lock (default: maintain.max_locked_move_rows)" }),
});
export type MaintainInput = z.input<typeof maintainInputSchema>;

export interface MaintainTableResult {
  table: string;
  partitioned: string;
  /** Range partitions created ahead of time (premake) or for rows found in the DEFAULT. */
  created: string[];
  /** Rows moved out of the DEFAULT into the partition created for them (a dry run: rows it would move). */
  default_rows_moved: number;
  /** Rows left in the DEFAULT: a NULL range key, or a range retired earlier whose kept table holds the partition's name. */
  default_rows_left: number;
  /** Why retention did not run (null: it ran): the table still has a twin that must stay equal row for row. */
  retention_held: string | null;
  /** What the DBA should know about rows left in the DEFAULT, and what to do. */
  notes: string[];
  /** Partitions past retention: detached, then dropped or kept as standalone tables. */
  detached: string[];
  dropped: string[];
  kept_as_archive: string[];
  /** Longest exclusive-lock hold of any one step. */
  lock_held_ms: number;
  steps: Step[];
}

export interface MaintainResult extends StageVerdict {
  dry_run: boolean;
  /** False when there was nothing to do (a second run right after a first). */
  changed: boolean;
  tables: MaintainTableResult[];
  audit_id: string | null;
}

interface Child {
  schema: string;
  name: string;
  isDefault: boolean;
  from: number | null;
  to: number | null;
}

/** The root's direct partitions with their bounds as epoch milliseconds (read under TimeZone UTC, as plan writes them). */
async function rangeChildren(db: PartgovKysely, root: TableRef): Promise<Child[]> {
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('TimeZone', 'UTC', true)`.execute(trx);
    const r = await sql<{ schema: string; name: string; bound: string; from_ms: string | null; to_ms: string | null }>`
      select n.nspname as schema, c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound,
             (extract(epoch from m[1]::timestamptz) * 1000)::int8::text as from_ms,
             (extract(epoch from m[2]::timestamptz) * 1000)::int8::text as to_ms
      from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_namespace n on n.oid = c.relnamespace
      left join lateral (select regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') as m) x on true
      where i.inhparent = (quote_ident(${root.schema}) || '.' || quote_ident(${root.name}))::regclass`.execute(trx);
    return r.rows.map((x) => ({ schema: x.schema, name: x.name, isDefault: x.bound === 'DEFAULT', from: x.from_ms === null ? null : Number(x.from_ms), to: x.to_ms === null ? null : Number(x.to_ms) }));
  });
}

/** The column as a UTC wall-clock timestamp, whatever the session's TimeZone: what range bounds are compared with. */
function utcWallTime(column: string, type: string) {
  return type.startsWith('timestamp') && type.endsWith('with time zone') ? sql`(${sql.id(column)} at time zone 'UTC')` : sql`${sql.id(column)}::timestamp`;
}

interface TablePlan {
  table: TableConfig;
  root: TableRef;
  layout: RangeLayout;
  columnType: string;
  /** The partitioned table's owner: the partitions maintain creates are theirs too. */
  owner: string;
  /** A sibling leaf's storage parameters, for the new leaves. */
  storage: StorageParameters;
  columns: string[];
  identityAlways: boolean;
  create: { bound: RangeBound; rowsInDefault: number }[];
  retire: Child[];
  defaultChild: Child | null;
  /** The leaves under a DEFAULT that is itself partitioned (see refreshPartitionConstraintDdl); none when the DEFAULT is a leaf. */
  defaultLeaves: TableRef[];
  nullRows: number;
  /** Rows of ranges retired earlier (their kept table has the name a new partition would take). */
  retiredRows: { table: string; rows: number }[];
  /** Ranges with more rows in the DEFAULT than may move under the lock: left for a quiet moment. */
  heldRows: { label: string; rows: number }[];
  /** Why no row may move out of the DEFAULT (the move would fire the application's triggers), or null. */
  movesFireTriggers: string | null;
  /** Rows left in the DEFAULT for that reason. */
  triggerHeldRows: { label: string; rows: number }[];
  /** Where premake stops (epoch ms): partitions created past it hold rows found in the DEFAULT. */
  horizon: number;
  /** Moves run as a replica: the table has ordinary triggers of the application's, which must stay quiet. */
  movesAsReplica: boolean;
}

async function planTable(db: PartgovKysely, table: TableConfig, layout: RangeLayout, root: TableRef, now: Date, retention: boolean, maxLockedMoveRows: number, asReplica: boolean): Promise<TablePlan> {
  const model = await requireTable(db, root);
  const column = model.columns.find((c) => c.name === layout.column)!;
  const children = await rangeChildren(db, root);
  const defaultChild = children.find((c) => c.isDefault) ?? null;
  const wanted = new Map<number, RangeBound>();
  for (const b of rangeBounds({ ...layout, start: undefined }, now, now)) wanted.set(b.from.getTime(), b);
  // The end of what premake makes: a partition past it exists only because a row in the DEFAULT asked for it.
  const horizon = Math.max(...[...wanted.values()].map((b) => b.to.getTime()));
  const inDefault = new Map<number, number>();
  let nullRows = 0;
  if (defaultChild) {
    // The interval start of each row, as UTC epoch milliseconds (plan's bounds are UTC midnights).
    const utc = utcWallTime(layout.column, column.type);
    const r = await sql<{ start_ms: string | null; n: string }>`
      select (extract(epoch from date_trunc(${layout.interval}, ${utc})) * 1000)::int8::text as start_ms, count(*)::text as n
      from ${sql.id(defaultChild.schema, defaultChild.name)} group by 1`.execute(db);
    for (const row of r.rows) {
      if (row.start_ms === null) {
        nullRows += Number(row.n);
        continue;
      }
      const start = new Date(Number(row.start_ms));
      inDefault.set(start.getTime(), Number(row.n));
      if (!wanted.has(start.getTime())) wanted.set(start.getTime(), { from: start, to: addIntervals(start, layout.interval, 1), label: rangeLabel(start, layout.interval) });
    }
  }
  const covered = (b: RangeBound) => children.some((c) => c.from !== null && c.to !== null && c.from < b.to.getTime() && c.to > b.from.getTime());
  const cutoff = layout.retention && retention ? addIntervals(truncateToInterval(now, layout.interval), layout.interval, -layout.retention.keep).getTime() : null;
  const missing = [...wanted.values()].filter((b) => !covered(b)).sort((a, b) => a.from.getTime() - b.from.getTime());
  // A name already taken: by the table an earlier retention kept (its range came back, in the
  // DEFAULT), or by something else, which maintain must not guess about.
  const names = missing.map((b) => objectNames.range(table.name, b.label));
  const taken = new Set((await sql<{ name: string }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${root.schema} and c.relname = any(${names}::text[])`.execute(db)).rows.map((r) => r.name));
  const retiredRows: { table: string; rows: number }[] = [];
  const heldRows: { label: string; rows: number }[] = [];
  // A move deletes and re-inserts rows: as a replica, the application's ordinary triggers stay quiet (see replicaWrites).
  const triggers = await appTriggersOn(db, root);
  const loud = triggers.filter((x) => x.mode !== 'O' || !asReplica);
  const movesFireTriggers = loud.length === 0 ? null : `moving them would fire the application's trigger(s) ${loud.map((x) => `${x.name} on ${x.table}`).join(', ')} for rows that only change partition${loud.some((x) => x.mode === 'O') ? ' (partgov moves as a replica when it may: a superuser, or GRANT SET ON PARAMETER session_replication_role)' : ''}`;
  const triggerHeldRows: { label: string; rows: number }[] = [];
  const create: TablePlan['create'] = [];
  for (const bound of missing) {
    const name = objectNames.range(table.name, bound.label);
    const rowsInDefault = inDefault.get(bound.from.getTime()) ?? 0;
    if (taken.has(name)) {
      if (cutoff !== null && bound.to.getTime() <= cutoff) retiredRows.push({ table: `${root.schema}.${name}`, rows: rowsInDefault });
      else {
        throw new SafetyRefusedError('maintain-partition-name-taken', `maintain would create ${root.schema}.${name} for [${bound.from.toISOString()}, ${bound.to.toISOString()}) of ${root.schema}.${root.name}, and a table of that name exists already`, {
          fix: `rename or drop ${root.schema}.${name} (it is not a partition of ${root.name}), then run maintain again`,
        });
      }
    } else if (rowsInDefault > 0 && movesFireTriggers !== null) {
      triggerHeldRows.push({ label: bound.label, rows: rowsInDefault });
    } else if (rowsInDefault > maxLockedMoveRows) {
      // The move holds the table's exclusive lock while it runs: past the limit, every write would wait that long.
      heldRows.push({ label: bound.label, rows: rowsInDefault });
    } else create.push({ bound, rowsInDefault });
  }
  const retire: Child[] = [];
  if (cutoff !== null) {
    const createdOld = create.filter((c) => c.bound.to.getTime() <= cutoff);
    for (const c of children) if (!c.isDefault && c.to !== null && c.to <= cutoff) retire.push(c);
    // A partition made for old rows in the DEFAULT is past retention at once: it is created, then retired like the rest.
    for (const c of createdOld) retire.push({ schema: root.schema, name: objectNames.range(table.name, c.bound.label), isDefault: false, from: c.bound.from.getTime(), to: c.bound.to.getTime() });
  }
  return {
    table, root, layout, columnType: column.type, owner: model.owner, storage: await siblingLeafStorage(db, root),
    columns: model.columns.filter((c) => c.generated === null).map((c) => c.name),
    identityAlways: model.columns.some((c) => c.identity === 'always'),
    create, retire, defaultChild, defaultLeaves: defaultChild ? await partitionsUnder(db, defaultChild) : [], nullRows, retiredRows, heldRows, movesFireTriggers, triggerHeldRows, horizon,
    movesAsReplica: triggers.length > 0 && loud.length === 0,
  };
}

/** The leaves under `part` when it is partitioned itself (none when it is a leaf). */
async function partitionsUnder(db: PartgovKysely, part: TableRef): Promise<TableRef[]> {
  const r = await sql<TableRef>`select n.nspname as schema, c.relname as name
    from pg_partition_tree((select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${part.schema} and c.relname = ${part.name})) t
    join pg_class c on c.oid = t.relid join pg_namespace n on n.oid = c.relnamespace where t.isleaf and t.level > 0 order by 2`.execute(db);
  return r.rows;
}

function stepsOf(p: TablePlan): { create: { step: Step; rowsInDefault: number; bound: RangeBound }[]; retire: { step: Step; after: Step | null }[] } {
  // Committed with each partition made or detached beside the DEFAULT, so no session keeps checking its leaves' old constraint.
  const refresh = p.defaultLeaves.flatMap((l) => refreshPartitionConstraintDdl(l).map((ddl) => compileDdl(ddl)));
  const create = p.create.map(({ bound, rowsInDefault }) => {
    const statements = rangePartitionStatements(p.root.schema, p.table.name, p.root.name, bound, p.layout, p.columnType, p.owner, p.storage);
    const text = [...statements.map((s) => compileDdl(s.statement)), ...refresh].join(';\n');
    const move = rowsInDefault > 0 ? `; first moves ${rowsInDefault} row(s) of the range out of the DEFAULT, in the same transaction` : '';
    return { step: { id: `create ${statements[0]!.name}`, description: `range partition ${bound.label}${move}`, sql: text }, rowsInDefault, bound };
  });
  const retire = p.retire.map((c) => {
    const keep = p.layout.retention?.action === 'archive';
    const detach = compileDdl(sql`alter table ${sql.id(p.root.schema, p.root.name)} detach partition ${sql.id(c.schema, c.name)}`);
    if (keep) return { step: { id: `retire ${c.name}`, description: 'past retention: detach and keep as a standalone table', sql: [detach, ...refresh].join(';\n') }, after: null };
    // Dropped after the COMMIT: a COMMIT that drops a table unlinks its files while the root's lock is still held.
    const retired = objectNames.retiredPartition(c);
    return {
      step: { id: `retire ${c.name}`, description: `past retention: detach (renamed ${retired}, dropped after the COMMIT)`, sql: [detach, compileDdl(sql`alter table ${sql.id(c.schema, c.name)} rename to ${sql.id(retired)}`), ...refresh].join(';\n') },
      after: { id: `drop ${c.name}`, description: 'the detached partition and its files, out of the application\'s way', sql: compileDdl(sql`drop table if exists ${sql.id(c.schema, retired)}`) },
    };
  });
  return { create, retire };
}

/**
 * Why retention must wait, or null. Detaching a partition removes its rows
 * from one table of a pair that sync keeps equal: from the shadow before
 * cutover (verify fails, cutover refuses), or from the partitioned table while
 * its archive is kept for rollback (verify fails; the archive is no longer
 * what the table was). Premaking and moving rows out of the DEFAULT change no
 * row, so they go on.
 */
async function retentionHold(db: PartgovKysely, table: TableConfig, root: TableRef): Promise<string | null> {
  const label = `${table.schema}.${table.name}`;
  if (root.name !== table.name) return `retention waits for cutover: until then ${root.schema}.${root.name} must equal ${label} row for row`;
  if (await isCutOver(db, table)) return `retention waits for \`partgov retire\`: the archive ${table.schema}.${archiveNameOf(table)} stays equal to ${label} for a lossless rollback`;
  return null;
}

/** Partitions made past premake's horizon for rows in the DEFAULT: say so, such rows are often a sentinel or a typo (9999-12-31, 2090 for 2009). */
function pastHorizonNote(p: TablePlan, column: string): string[] {
  const far = p.create.filter((c) => c.rowsInDefault > 0 && c.bound.from.getTime() >= p.horizon);
  if (far.length === 0) return [];
  const rows = far.reduce((n, c) => n + c.rowsInDefault, 0);
  const labels = far.length <= 4 ? far.map((c) => c.bound.label).join(', ') : `${far[0]!.bound.label} … ${far.at(-1)!.bound.label}`;
  return [`${far.length} partition(s) past the premake horizon (${new Date(p.horizon).toISOString().slice(0, 10)}) are made for ${rows} row(s) found in the DEFAULT (${labels}): check their ${column}, a sentinel or mistyped value makes a partition of its own`];
}

/**
 * `partgov maintain`: for every range table (its partitioned table: itself
 * after cutover, else the shadow) premakes the partitions `premake` intervals
 * ahead, gives rows found in the DEFAULT the partition they belong to (moved in
 * the same short transaction that creates it), and applies retention (detach,
 * then drop or keep). Idempotent and advisory-locked: safe from cron; a second
 * run finds nothing to do.
 */
export async function runMaintain(ctx: StageContext, input: MaintainInput = {}): Promise<MaintainResult> {
  const r = await maintainTables(ctx, input);
  return judged(r, r.tables.length === 0 ? [{ name: 'maintain', status: 'pass' as const, detail: 'no range table to maintain' }] : r.tables.map((t) => ({ name: `maintain:${t.table}`, status: r.dry_run ? ('skip' as const) : ('pass' as const), detail: `${t.created.length} created, ${t.default_rows_moved} row(s) moved out of the DEFAULT, ${t.detached.length} detached`, figures: { created: t.created.length, default_rows_moved: t.default_rows_moved, detached: t.detached.length } })));
}

async function maintainTables(ctx: StageContext, input: MaintainInput = {}): Promise<Omit<MaintainResult, keyof StageVerdict>> {
  const i = parseStageInput('maintain', maintainInputSchema, input);
  const config = requireConfig(ctx, 'maintain');
  const { db } = ctx.database;
  const o = { settings: ctx.settings, dryRun: i.dryRun, now: ctx.now(), onRetry: ctx.onRetry, onEvent: ctx.log };
  await assertStateSchema(db);
  const now = o.now ?? new Date();
  const maxLockedMoveRows = i.maxLockedMoveRows ?? config.maintain.max_locked_move_rows;
  const targets: { table: TableConfig; layout: RangeLayout; root: TableRef; retentionHeld: string | null }[] = [];
  for (const table of config.tables) {
    if (table.layout.type !== 'range') continue;
    const root = await partitionedTableOf(db, table);
    if (root) targets.push({ table, layout: table.layout, root, retentionHeld: await retentionHold(db, table, root) });
    else o.onEvent?.(`${table.schema}.${table.name}: not partitioned yet (no shadow either): skipped`);
  }
  const labels = targets.map((t) => `${t.table.schema}.${t.table.name}`);
  if (targets.length === 0) return { dry_run: o.dryRun === true, changed: false, tables: [], audit_id: null };
  const asReplica = await mayWriteAsReplica(db);
  return withAdvisoryLocks(db, 'partitions', labels, async () => {
    const guard = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, ...(o.onRetry ? { onRetry: o.onRetry } : {}) };
    const results: MaintainTableResult[] = [];
    for (const t of targets) {
      if (!o.dryRun) await dropRetiredPartitions(db, [t.root.schema], guard, 'maintain');
      const p = await planTable(db, t.table, t.layout, t.root, now, t.retentionHeld === null, maxLockedMoveRows, asReplica);
      const steps = stepsOf(p);
      const result: MaintainTableResult = {
        table: `${t.table.schema}.${t.table.name}`, partitioned: `${t.root.schema}.${t.root.name}`,
        created: p.create.map((c) => `${t.root.schema}.${objectNames.range(t.table.name, c.bound.label)}`),
        default_rows_moved: 0, default_rows_left: p.nullRows + [...p.retiredRows, ...p.heldRows, ...p.triggerHeldRows].reduce((n, x) => n + x.rows, 0),
        retention_held: t.layout.retention ? t.retentionHeld : null,
        notes: [
          ...(p.nullRows > 0 ? [`${p.nullRows} row(s) with a NULL ${t.layout.column} stay in the DEFAULT: no range holds them`] : []),
          ...p.heldRows.map((x) => `${x.rows} row(s) of ${x.label} in the DEFAULT stay: more than ${maxLockedMoveRows} to move under the table's exclusive lock (every write waits meanwhile); move them in a quiet moment: partgov maintain --max-locked-move-rows ${x.rows}`),
          ...p.triggerHeldRows.map((x) => `${x.rows} row(s) of ${x.label} in the DEFAULT stay: ${p.movesFireTriggers}`),
          ...p.retiredRows.map((x) => `${x.rows} row(s) in the DEFAULT belong to a range retired earlier, kept as ${x.table}: they stay (move them into it, or delete them)`),
          ...pastHorizonNote(p, t.layout.column),
        ],
        detached: p.retire.map((c) => `${c.schema}.${c.name}`),
        dropped: p.layout.retention?.action === 'drop' ? p.retire.map((c) => `${c.schema}.${c.name}`) : [],
        kept_as_archive: p.layout.retention?.action === 'archive' ? p.retire.map((c) => `${c.schema}.${c.name}`) : [],
        lock_held_ms: 0,
        steps: [...steps.create.map((c) => c.step), ...steps.retire.flatMap((r) => (r.after ? [r.step, r.after] : [r.step]))],
      };
      results.push(result);
      if (o.dryRun) {
        // What the run would move, as `created` and `detached` say what it would do.
        result.default_rows_moved = steps.create.reduce((n, c) => n + c.rowsInDefault, 0);
        continue;
      }
      // Each switch takes the table first, as the application's statements do: creating a partition beside the DEFAULT
      // (or moving its rows) locks the DEFAULT, and taken before the table, that deadlocked with writers (measured:
      // 9 of the application's statements chosen as victims in one run). lock_held_ms counts from the grant.
      const lockRoot = async (trx: PartgovKysely) => {
        await sql`lock table ${sql.id(p.root.schema, p.root.name)} in access exclusive mode`.execute(trx);
        return performance.now();
      };
      for (const c of steps.create) {
        const held = await runGuarded(db, async (trx) => {
          const t0 = await lockRoot(trx);
          let moved = 0;
          if (c.rowsInDefault > 0 && p.defaultChild) {
            // The rows of this range leave the DEFAULT and come back through the root into their new partition, in one transaction.
            const def = sql.id(p.defaultChild.schema, p.defaultChild.name);
            const cols = sql.join(p.columns.map((x) => sql.id(x)));
            const utc = utcWallTime(p.layout.column, p.columnType);
            const inRange = sql`${utc} >= ${c.bound.from.toISOString()}::timestamptz at time zone 'UTC' and ${utc} < ${c.bound.to.toISOString()}::timestamptz at time zone 'UTC'`;
            await sql`lock table ${def} in access exclusive mode`.execute(trx);
            if (p.movesAsReplica) await setLocalTimeouts(trx, o.settings.lockTimeoutMs, o.settings.statementTimeoutMs, replicaWrites);
            await sql`create temporary table partgov_default_move on commit drop as select ${cols} from ${def} where ${inRange}`.execute(trx);
            moved = Number((await sql`delete from ${def} where ${inRange}`.execute(trx)).numAffectedRows ?? 0n);
            await sql.raw(c.step.sql).execute(trx);
            await sql`insert into ${sql.id(p.root.schema, p.root.name)} (${cols}) ${p.identityAlways ? sql`overriding system value` : sql``} select ${cols} from partgov_default_move`.execute(trx);
          } else {
            await sql.raw(c.step.sql).execute(trx); // sql.raw: compiled by kysely in rangePartitionStatements
          }
          result.default_rows_moved += moved;
          return performance.now() - t0;
        }, { ...guard, label: `maintain: ${c.step.id}` });
        result.lock_held_ms = Math.max(result.lock_held_ms, Math.round(held * 10) / 10);
        o.onEvent?.(`${result.table}: ${c.step.id}${c.rowsInDefault > 0 ? ` (${c.rowsInDefault} row(s) moved out of the DEFAULT)` : ''}`);
      }
      for (const { step: s, after } of steps.retire) {
        const held = await runGuarded(db, async (trx) => {
          const t0 = await lockRoot(trx);
          await sql.raw(s.sql).execute(trx); // sql.raw: compiled by kysely in stepsOf
          return performance.now() - t0;
        }, { ...guard, label: `maintain: ${s.id}` });
        result.lock_held_ms = Math.max(result.lock_held_ms, Math.round(held * 10) / 10);
        if (after) await runGuarded(db, (trx) => sql.raw(after.sql).execute(trx), { ...guard, label: `maintain: ${after.id}` }); // sql.raw: compiled in stepsOf
        o.onEvent?.(`${result.table}: ${s.id}`);
      }
    }
    const changed = results.some((r) => r.steps.length > 0);
    if (o.dryRun || !changed) return { dry_run: o.dryRun === true, changed, tables: results, audit_id: null };
    const auditId = await writeAudit(db, { command: 'maintain', table: labels.join(', '), appEnv: o.settings.appEnv }, 'succeeded', results.flatMap((r) => r.steps.map((s) => ({ ...s, status: 'succeeded' as const }))),
      { tables: results.map(({ steps: _steps, ...rest }) => rest) });
    return { dry_run: false, changed, tables: results, audit_id: auditId };
  });
}
