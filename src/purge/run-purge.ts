import { rm } from 'node:fs/promises';
import { sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import { selectTables } from '../config/load-config.js';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput } from '../stage/stage-input.js';
import type { PartgovConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { advisoryLockHolder, withAdvisoryLocks } from '../db/advisory-lock.js';
import { compileDdl } from '../db/compile-ddl.js';
import { refreshPartitionConstraintDdl } from '../db/partition-routing.js';
import { scopeGuardDdl } from '../db/scope-partition.js';
import { dropRetiredPartitions } from '../db/retired-partitions.js';
import type { PartgovDatabase } from '../db/open-database.js';
import { releaseLocksBeforeFlush, runGuarded, type GuardOptions, type GuardRetryEvent } from '../db/run-guarded.js';
import { InputInvalidError, RunInProgressError, SafetyRefusedError, shellWord, sqlStateOf } from '../errors.js';
import { assertStateSchema } from '../state/state-schema.js';
import { renderSteps, writeAudit, type Step } from '../steps/run-steps.js';
import { planScopePurge, type LeafRef, type TablePurgePlan } from './plan-purge.js';
import { leafSwapSteps, swapNames, type LeafSwap } from './leaf-swap.js';
import { leafIndexNames, restoreIndexNames } from '../db/leaf-index-names.js';
import { constraintState, type TableRef } from '../db/catalog.js';
import { scopeChecksumQuery, writeScopeArchive, type ArchiveManifest } from './scope-archive.js';
import { parseScopeTarget, scopePredicate, type ScopeTarget } from '../db/scope-target.js';
import { judged, type StageVerdict } from '../checks/check.js';
import { forEachConcurrently } from '../concurrency.js';

type GuardOptionsBase = Omit<GuardOptions, 'label'>;

export type PurgeMode = 'partition' | 'auto' | 'delete';

/** purge's input: defaults and limits once, for the library and the CLI. */
export const purgeInputSchema = z.object({
  // The three guards are checked by parseScopeTarget, whose refusals name each mistake.
  tenantId: z.string().optional().describe('tenant (exact value): required'),
  scope: z.string().optional().describe('scope (exact value): required'),
  confirm: z.string().optional().describe('the tenant and scope again, as <tenant>/<scope>: required'),
  mode: z.enum(['partition', 'auto', 'delete'], { error: 'must be partition, auto or delete' }).optional().describe('partition (default: purge.default_mode) | auto | delete'),
  table: z.array(z.string().min(1)).optional().describe('only these configured tables'),
  dryRun: flagInput('print the plan per table and its SQL; change nothing'),
  archive: textInput('first stream the rows out (COPY, gzip, SHA-256 manifest) into a new directory under this one').optional(),
  allowDelete: flagInput('in prod, allow --mode delete'),
  dropPartitions: flagInput('detach and drop dedicated partitions instead of emptying them'),
});
export type PurgeInput = z.input<typeof purgeInputSchema>;

interface PurgeOptions {
  settings: RuntimeSettings;
  config: PartgovConfig;
  onRetry: (e: GuardRetryEvent) => void;
  /** Awaited after the archive, after the partition switch and after each table's DELETE: where a test of a race makes the purge wait. */
  onEvent: (message: string) => void | Promise<void>;
}

export interface PurgeTableResult {
  table: string;
  strategy: TablePurgePlan['strategy'];
  /** Leaves touched (schema.name). */
  partitions: string[];
  /** Rows of the scope: exact for deletes and archived tables, else the partitions' estimate. */
  rows: number;
  rows_exact: boolean;
  /** Rows the DELETE removed (null for truncate/drop). */
  rows_deleted: number | null;
  ms: number;
  /** Longest exclusive-lock hold on this table's partitions (truncate/drop), or the longest DELETE batch. */
  lock_held_ms: number;
  /** After cutover: rows of the scope removed from the kept legacy table too, so a rollback cannot bring them back. */
  archive_table_rows_deleted: number | null;
  /**
   * With --archive, a DELETE removes only the archived rows: rows of the scope
   * written or changed after the archive stay, counted here (the purge then
   * fails its check: stop the writes and purge again). Null without a DELETE under an archive.
   */
  rows_left_unarchived: number | null;
  referenced_by: string[];
  /** DEFAULT leaves read to prove they hold no row of the scope (a swap's guards not yet in place; 0 when every one was). */
  default_leaves_read: number;
  /** Why the strategy is not the obvious one (e.g. a foreign key blocks the TRUNCATE). */
  note: string | null;
}

export interface PurgeResult extends StageVerdict {
  tenant_id: string;
  scope: string;
  mode: PurgeMode;
  dry_run: boolean;
  tables: PurgeTableResult[];
  /** Tables where a DELETE ran (or, for a dry run, would run): 0 is a partition-first purge. */
  purge_delete_strategy_tables_total: number;
  archive: { dir: string; tables: number; rows: number; bytes: number } | null;
  audit_id: string | null;
  duration_ms: number;
  /** The statements, values inlined for reading (they run with parameters). */
  script: string;
}

const deleteStrategies = new Set(['pruned_delete', 'delete']);

function refuse(rule: string, message: string, fix: string, details: Record<string, unknown> = {}): never {
  throw new SafetyRefusedError(rule, message, { fix, details });
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

/** Whether a table's plan runs a DELETE: a delete strategy with rows to remove. */
const needsDelete = (p: TablePurgePlan) => deleteStrategies.has(p.strategy) && p.rows > 0;

/**
 * Every dedicated partition of every table goes in one transaction: the
 * statements before it (twins built, DEFAULT guards validated: nothing
 * blocks writes), the lock (parents of swapped or dropped leaves first, the
 * order writers take them, then leaves to TRUNCATE), the switch itself, and
 * what runs after COMMIT (old partitions dropped, out of the application's way).
 */
interface PartitionWork {
  online: Step[];
  lock: Step;
  locked: Step[];
  after: Step[];
  swaps: LeafSwap[];
  /** Leaves to TRUNCATE (not swapped). */
  truncated: LeafRef[];
}

function partitionWork(plans: readonly TablePurgePlan[]): PartitionWork {
  const swaps = plans.flatMap((p) => p.swaps);
  const swapped = new Set(swaps.map((s) => s.leaf.oid));
  const dropped = plans.filter((p) => p.strategy === 'drop_partition').flatMap((p) => p.leaves);
  const truncated = plans.filter((p) => p.strategy === 'truncate_partition').flatMap((p) => p.leaves).filter((l) => !swapped.has(l.oid));
  const parents = new Map<string, TableRef>();
  for (const t of [...swaps.map((s) => s.parent), ...dropped.map((l) => ({ schema: l.parentSchema!, name: l.parentName! }))]) parents.set(`${t.schema}.${t.name}`, t);
  const lockList = [...parents.values(), ...truncated];
  // A table whose swapped or dropped leaves sit deeper (a month's list partitions) is taken first, alone (ONLY: its
  // other partitions stay free): writers take the table before its partitions, and partitions taken in another
  // order than theirs could wait in a circle with a statement that spans several.
  const keyOf = (t: TableRef) => `${t.schema}.${t.name}`;
  const inList = new Set(lockList.map(keyOf));
  const roots = [...new Map(plans.filter((p) => p.partitioned && !inList.has(keyOf(p.live))).map((p) => [keyOf(p.live), p.live])).values()];
  const swapSteps = swaps.map(leafSwapSteps);
  // Guards already there (see TablePurgePlan.guardedLeaves), beyond those the swaps drop after COMMIT themselves.
  const swapUnguards = new Set(swaps.flatMap((s) => s.routed.map((g) => `${g.schema}.${g.name}.${s.guardName}`)));
  const existingGuards = plans.flatMap((p) => p.guardedLeaves.filter((g) => !swapUnguards.has(`${g.schema}.${g.name}.${g.constraint}`)).map((g) => ({ g, drop: scopeGuardDdl(g, { column: p.selector.keyColumn!, value: p.selector.keyValue! }, g.constraint).drop, dropsPartition: p.strategy === 'drop_partition' })));
  const unguard = (x: (typeof existingGuards)[number], why: string): Step => ({ id: `unguard ${x.g.name}`, description: why, sql: x.drop });
  return {
    swaps,
    truncated,
    online: swapSteps.flatMap((s) => s.online),
    lock: { id: 'lock', description: 'writers of these partitions wait for the switch (catalog changes and TRUNCATEs: milliseconds)', sql: compileDdl(sql`lock table ${sql.join([...roots.map((r) => sql`only ${sql.id(r.schema, r.name)}`), ...lockList.map((l) => sql.id(l.schema, l.name))])} in access exclusive mode`) },
    locked: [
      ...swapSteps.flatMap((s) => s.locked),
      ...existingGuards.filter((x) => x.g.routed && x.dropsPartition).map((x) => unguard(x, 'a guard an interrupted run left where the scope falls without its partition: it would fail its writes once the partition is gone')),
      // The leaf the scope falls into from now on: sessions that used it would keep its old constraint (no row of the
      // scope) and "move" the scope's rows within it on UPDATE (see refreshPartitionConstraintDdl).
      ...plans.filter((p) => p.strategy === 'drop_partition').flatMap((p) => p.routeLeaves).flatMap((l) =>
        refreshPartitionConstraintDdl(l).map((ddl, i) => ({ id: `refresh ${l.name} ${i + 1}`, description: i === 0 ? `sessions re-read the partition constraint of ${l.name}, where the scope's rows fall from now on` : 'the constraint was only the catalog change', sql: compileDdl(ddl) })),
      ),
      ...dropped.flatMap((l) => {
        const retired = swapNames(l).retired;
        return [
          { id: `detach ${l.name}`, description: `the scope's partition leaves the table (dropped after COMMIT)`, sql: compileDdl(sql`alter table ${sql.id(l.parentSchema!, l.parentName!)} detach partition ${sql.id(l.schema, l.name)}`) },
          { id: `retire ${l.name}`, description: 'a name a later run recognises, should this one die before the drop', sql: compileDdl(sql`alter table ${sql.id(l.schema, l.name)} rename to ${sql.id(retired.name)}`) },
        ];
      }),
      ...(truncated.length > 0 ? [{ id: 'truncate', description: `empty the scope's partition(s) ${truncated.map((l) => l.name).join(', ')}`, sql: compileDdl(sql`truncate ${sql.join(truncated.map((l) => sql.id(l.schema, l.name)))}`) }] : []),
    ],
    after: [
      ...swapSteps.flatMap((s) => s.after),
      ...dropped.map((l) => ({ id: `drop ${l.name}`, description: 'the detached partition and its files', sql: compileDdl(sql`drop table if exists ${sql.id(l.schema, swapNames(l).retired.name)}`) })),
      ...existingGuards.filter((x) => x.g.routed && !x.dropsPartition).map((x) => unguard(x, 'a guard an interrupted run left where the scope would fall without its partition')),
      ...existingGuards.filter((x) => !x.g.routed && x.dropsPartition).map((x) => unguard(x, 'the scope has no partition any more: its guards on the other DEFAULT leaves go (no write could meet them)')),
    ],
  };
}

/** The statements of a DELETE plan, with values inlined for a human (the real ones are parameterised). */
function describeDelete(p: TablePurgePlan, batchRows: number): Step[] {
  if (!deleteStrategies.has(p.strategy)) return [];
  const where = scopePredicate(p.selector, { fromSettings: { columnTypes: new Map(p.columns.map((c) => [c.name, c.type])) } });
  return p.leaves.map((l) => ({
    id: `delete ${l.schema}.${l.name}`,
    description: `${p.strategy === 'delete' ? 'DELETE' : 'pruned DELETE'} of the scope's rows in ${l.name}, ${batchRows} rows a batch (values come from partgov.* settings)`,
    sql: compileDdl(scopeDeleteBatch(p.live, l, sql.lit(l.oid), where, sql`true`, sql.lit(batchRows))),
  }));
}

/** Every statement of a purge in the order it runs. */
function describe(plans: readonly TablePurgePlan[], batchRows: number): Step[] {
  const partitionPlans = plans.filter(isPartitionPlan);
  const w = partitionPlans.length > 0 ? partitionWork(partitionPlans) : null;
  return [...(w ? [...w.online, w.lock, ...w.locked, ...w.after] : []), ...plans.flatMap((p) => describeDelete(p, batchRows))];
}

const isPartitionPlan = (p: TablePurgePlan) => p.strategy === 'truncate_partition' || p.strategy === 'drop_partition';

/**
 * One batch of a scope's DELETE: through the root, so the table's triggers (sync) see it,
 * held to one leaf by tableoid (a ctid repeats across leaves). The dry run prints it with
 * its values inlined, the purge runs it with them as parameters.
 */
function scopeDeleteBatch(root: { schema: string; name: string }, leaf: { schema: string; name: string }, leafOid: RawBuilder<unknown>, where: RawBuilder<boolean>, also: RawBuilder<boolean>, limit: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`delete from ${sql.id(root.schema, root.name)} where ${where} and tableoid = ${leafOid}::oid
    and ctid = any(array(select ctid from only ${sql.id(leaf.schema, leaf.name)} as l where ${where} and ${also} limit ${limit}))`;
}

/** Batched DELETE of the scope from one leaf (or a plain table) through its root, so the table's triggers (sync) see it. */
async function deleteInBatches(
  o: PurgeOptions,
  db: PartgovDatabase['db'],
  root: { schema: string; name: string },
  leaf: { schema: string; name: string; oid: string },
  where: RawBuilder<boolean>,
  batchRows: number,
  also: RawBuilder<boolean> = sql`true`,
): Promise<{ rows: number; longestMs: number }> {
  let rows = 0;
  let longestMs = 0;
  for (;;) {
    const t0 = performance.now();
    const n = await runGuarded(
      db,
      async (trx) =>
        Number(
          (
            await scopeDeleteBatch(root, leaf, sql`${leaf.oid}`, where, also, sql`${batchRows}`).execute(trx)
          ).numAffectedRows ?? 0n,
        ),
      deleteGuard(o, leaf),
    );
    longestMs = Math.max(longestMs, ms(t0));
    rows += n;
    if (n === 0) return { rows, longestMs };
  }
}

/** A kept legacy row (alias `l`) whose key the live table no longer has (every row, for a live table without a primary key). */
function goneFromLive(live: { schema: string; name: string }, keyColumns: readonly string[]): RawBuilder<boolean> {
  if (keyColumns.length === 0) return sql<boolean>`true`;
  const cols = (alias: string) => sql.join(keyColumns.map((c) => sql.id(alias, c)));
  return sql<boolean>`not exists (select 1 from ${sql.id(live.schema, live.name)} as c where (${cols('c')}) = (${cols('l')}))`;
}

const deleteGuard = (o: PurgeOptions, leaf: { schema: string; name: string }) => ({ label: `purge: delete from ${leaf.schema}.${leaf.name}`, lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, onRetry: o.onRetry });

/**
 * With --archive, the DELETE of a leaf removes exactly the row versions the
 * archive holds (recorded in its snapshot: writeScopeArchive), in batches of
 * their ctids: a row is deleted only while its ctid and xmin are the archived
 * ones. A row the application wrote to the scope, or changed, after the
 * archive is a new version, and stays (counted by the caller): deleting it
 * would purge a write no archive holds.
 */
async function deleteArchivedRows(o: PurgeOptions, db: PartgovDatabase['db'], root: { schema: string; name: string }, leaf: { schema: string; name: string; oid: string }, where: RawBuilder<boolean>, batchRows: number, target: ScopeTarget): Promise<{ rows: number; longestMs: number }> {
  let rows = 0;
  let longestMs = 0;
  let after = '(0,0)';
  const recorded = sql`partgov.purge_archived_row a where a.tenant_id = ${target.tenantId} and a.scope = ${target.scope} and a.relid = ${leaf.oid}::oid`;
  for (;;) {
    const t0 = performance.now();
    const r = await runGuarded(
      db,
      async (trx) =>
        (
          await sql<{ deleted: number; last: string | null }>`with batch as (
              select a.row_ctid, a.row_xmin from ${recorded} and a.row_ctid > ${after}::tid order by a.row_ctid limit ${batchRows}
            ), gone as (
              delete from ${sql.id(root.schema, root.name)} t where ${where} and t.tableoid = ${leaf.oid}::oid
                and t.ctid = any(array(select row_ctid from batch))
                and exists (select from batch b where b.row_ctid = t.ctid and b.row_xmin = t.xmin)
              returning 1
            )
            select (select count(*) from gone)::int as deleted, (select b.row_ctid from batch b order by b.row_ctid desc limit 1)::text as last`.execute(trx)
        ).rows[0]!,
      deleteGuard(o, leaf),
    );
    longestMs = Math.max(longestMs, ms(t0));
    rows += r.deleted;
    if (r.last === null) return { rows, longestMs };
    after = r.last;
  }
}

/** Refusals that need the database: busy tables, a scope that does not exist or is not the tenant's, an active scope in prod, a mode that would DELETE. */
async function assertPurgeAllowed(db: PartgovDatabase['db'], o: PurgeOptions, target: ScopeTarget, mode: PurgeMode, plans: readonly TablePurgePlan[], archiving: boolean): Promise<void> {
  for (const p of plans) {
    for (const op of ['backfill', 'cutover', 'sync']) {
      const h = await advisoryLockHolder(db, op, p.table);
      if (h) refuse('purge-table-busy', `a partgov ${op} run holds ${p.table} (pid ${h.pid})`, `wait for it to finish, then purge`, { table: p.table, holder_pid: h.pid });
    }
  }
  const label = `${target.tenantId}/${target.scope}`;
  let exists = false;
  for (const p of plans) {
    const sel = p.selector;
    // A key formed without {tenant} or {scope} is shared by other scopes by design: their rows under it are expected.
    // Without tenant and scope columns the key alone names the pair (scopeSelector refused values that could spell another's).
    const { tenantColumn, scopeColumn } = sel;
    // A key read from the scope's rows (keysFromRows): planScopePurge read every row of a partition it would empty.
    if (tenantColumn !== null && scopeColumn !== null && sel.keyColumn !== null && sel.keyValue !== null && sel.keyIdentifiesScope && sel.keysFromRows === null && sel.keyColumn !== tenantColumn && sel.keyColumn !== scopeColumn) {
      // A TRUNCATE takes the whole partition, so its rows must all be this tenant's scope. Without an archive
      // the first 10,000 are read (a wrong scope_key_format fails them all) so the purge stays O(1); with one,
      // every row is (the archive must hold exactly what the TRUNCATE removes). A DELETE's predicate names
      // tenant and scope itself; all rows of the key are checked, at the cost of the DELETE.
      const sampled = (p.strategy === 'truncate_partition' || p.strategy === 'drop_partition') && !archiving;
      // Sampled: the dedicated leaves themselves, a sequential scan that stops at the limit (by the key, the planner would bitmap-scan every row).
      const rows = sampled
        ? sql.join(p.leaves.map((l) => sql`(select ${sql.id(tenantColumn)} as t, ${sql.id(scopeColumn)} as s from only ${sql.id(l.schema, l.name)} limit 10000)`), sql` union all `)
        : sql`select ${sql.id(tenantColumn)} as t, ${sql.id(scopeColumn)} as s from ${sql.id(p.live.schema, p.live.name)} where ${sql.id(sel.keyColumn)} = ${sel.keyValue}`;
      const foreign = await sql<{ x: boolean }>`select exists (select 1 from (${rows}) r where r.t is distinct from ${target.tenantId} or r.s is distinct from ${target.scope}) as x`.execute(db);
      if (foreign.rows[0]!.x) {
        refuse('purge-scope-not-owned', `${p.table} has rows with ${sel.keyColumn} = ${JSON.stringify(sel.keyValue)} that belong to another tenant or scope than ${label}`, `check the tenant and scope; if the key is formed differently, set purge.scope_key_format (or tables[].scope_key_format)`, { table: p.table });
      }
    }
    if (p.strategy === 'truncate_partition' || p.strategy === 'drop_partition') exists = true;
    else if (p.rows > 0) exists = true;
  }
  if (!exists) {
    refuse('purge-scope-not-found', `scope ${label} has no rows and no dedicated partition in ${plans.map((p) => p.table).join(', ')}`, 'check --tenant-id and --scope (exact, case-sensitive); `partgov purge --dry-run` shows what each table holds');
  }
  if (mode === 'partition') {
    const deleting = plans.filter(needsDelete);
    if (deleting.length > 0) {
      refuse('purge-needs-delete', `partition mode purges only by TRUNCATE/DROP of dedicated partitions, and these tables hold the scope's rows among other scopes' (a DELETE would be needed):\n${deleting.map((p) => `  - ${p.table}: ${p.strategy}, ${p.rows} row(s) in ${p.leaves.length} partition(s)${p.note ? ` (${p.note})` : ''}`).join('\n')}`,
        purgeNeedsDeleteFix(deleting, target, label),
        { tables: deleting.map((p) => p.table) });
    }
  }
  if (o.settings.appEnv === 'prod') {
    const withActivity = plans.filter((p) => p.config.activity_column !== undefined);
    if (withActivity.length === 0) {
      refuse('prod-purge-activity-unknown', 'in prod, purge refuses a scope that is still being written, and none of these tables names an activity column', 'set tables[].activity_column (e.g. "updated_at") for the tables the application writes');
    }
    const minutes = o.config.purge.active_window_minutes;
    for (const p of withActivity) {
      const r = await sql<{ last: Date | null }>`select max(${sql.id(p.config.activity_column!)}) as last from ${sql.id(p.live.schema, p.live.name)}
        where ${scopePredicate(p.selector)} and ${sql.id(p.config.activity_column!)} > now() - make_interval(mins => ${minutes})`.execute(db);
      const last = r.rows[0]!.last;
      if (last) {
        refuse('prod-purge-active-scope', `scope ${label} was written at ${new Date(last).toISOString()} in ${p.table}, within purge.active_window_minutes (${minutes})`, 'stop the application writing to this scope and wait for the window to pass, then purge', { table: p.table });
      }
    }
  }
}

/**
 * What an interrupted purge left, found by name: twins of these leaves (never
 * attached), and any detached `partgov_purged_*` table in these schemas (the
 * old partitions of a switch that committed; their drop never came).
 */
async function dropSwapLeftovers(db: PartgovDatabase['db'], leaves: readonly TableRef[], guard: GuardOptionsBase): Promise<void> {
  const twins = leaves.map((l) => swapNames(l).twin);
  const r = await sql<{ schema: string; name: string }>`select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'r' and not c.relispartition
      and (n.nspname, c.relname) in (select * from unnest(${twins.map((x) => x.schema)}::text[], ${twins.map((x) => x.name)}::text[]))`.execute(db);
  for (const t of r.rows) await runGuarded(db, (trx) => sql`drop table ${sql.id(t.schema, t.name)}`.execute(trx), { ...guard, label: `purge: drop ${t.name}, left by an interrupted purge` });
  await dropRetiredPartitions(db, [...new Set(leaves.map((l) => l.schema))], guard, 'purge');
}

/** The run failed before its switch: the twins and guards it made go again (best effort; the next run finds any left by name). */
async function undoSwapPreparation(db: PartgovDatabase['db'], w: PartitionWork, guard: GuardOptionsBase): Promise<void> {
  for (const s of w.swaps) {
    // Only where the scope would fall without its partition: the others' guards are kept (see LeafSwap.routed).
    // sql.raw: compiled by kysely in scopeGuardDdl.
    for (const g of s.routed) await runGuarded(db, (trx) => sql.raw(scopeGuardDdl(g, { column: s.keyColumn, value: s.keyValue }, s.guardName).drop).execute(trx), { ...guard, label: `purge: unguard ${g.name}` }).catch(() => undefined);
  }
  await dropSwapLeftovers(db, w.swaps.map((s) => s.leaf), guard).catch(() => undefined);
}

/**
 * `partgov purge --tenant-id X --scope Y --confirm X/Y`: removes one tenant's
 * scope from every configured table, by TRUNCATE/DROP of its dedicated
 * partitions where it has them (partition mode accepts nothing else), else a
 * batched DELETE pruned to the scope's partitions (auto/delete mode). Guards
 * refuse before anything changes; with --archive the rows are streamed out
 * first and proved unchanged under the lock; every purge writes an audit row.
 */
export async function runPurge(ctx: StageContext, raw: PurgeInput): Promise<PurgeResult> {
  const r = await purgeScope(ctx, raw);
  return judged(
    r,
    r.tables.map((t) => {
      const left = t.rows_left_unarchived ?? 0;
      return {
        name: `purge:${t.table}`,
        status: r.dry_run ? ('skip' as const) : left > 0 ? ('fail' as const) : ('pass' as const),
        detail: `${r.dry_run ? 'would run ' : ''}${t.strategy}: ${t.rows} row(s) in ${t.partitions.length} partition(s)${r.dry_run ? '' : `, ${t.ms} ms, ${lockFigure(t)}`}${left > 0 ? `; ${left} row(s) of the scope written or changed after the archive are left (not in it)` : ''}`,
        ...(left > 0 ? { fix: `the application still writes ${r.tenant_id}/${r.scope}: stop its writes, then purge again with a new --archive (to bring the scope back: restore this archive, then the next with --merge --replace)` } : {}),
        figures: { rows: t.rows, ms: t.ms, lock_held_ms: t.lock_held_ms, ...(t.rows_left_unarchived === null ? {} : { rows_left_unarchived: left }) },
        objects: t.partitions,
      };
    }),
  );
}

/** What lock_held_ms measured: a partition switch's exclusive lock, or a DELETE's longest batch (row locks only). */
export function lockFigure(t: Pick<PurgeTableResult, 'strategy' | 'lock_held_ms'>): string {
  return deleteStrategies.has(t.strategy) ? `longest DELETE batch ${t.lock_held_ms} ms` : `exclusive lock ${t.lock_held_ms} ms`;
}

async function purgeScope(ctx: StageContext, raw: PurgeInput): Promise<Omit<PurgeResult, keyof StageVerdict>> {
  const i = parseStageInput('purge', purgeInputSchema, raw);
  const config = requireConfig(ctx, 'purge');
  const input = { ...i, tables: i.table?.flatMap((n) => selectTables(config, n)), archiveDir: i.archive };
  const database = ctx.database;
  const o: PurgeOptions = { settings: ctx.settings, config, onRetry: ctx.onRetry, onEvent: ctx.log };
  const started = performance.now();
  const target = parseScopeTarget(input, 'purge');
  const mode = input.mode ?? o.config.purge.default_mode;
  const tables = input.tables ?? o.config.tables;
  if (mode === 'delete' && o.settings.appEnv === 'prod' && !input.allowDelete && !input.dryRun) {
    refuse('prod-purge-delete-mode', 'delete mode in prod runs an hours-long, bloat-making DELETE even where a TRUNCATE would do', 'use --mode partition or auto; pass --allow-delete only when a DELETE is what you mean');
  }
  if (input.dropPartitions && mode === 'delete') {
    throw new InputInvalidError('--drop-partitions drops dedicated partitions; delete mode never touches partitions', { fix: 'use --mode partition or auto with --drop-partitions' });
  }
  const { db } = database;
  await assertStateSchema(db);
  const batchRows = o.config.purge.batch_rows;
  const labels = tables.map((t) => `${t.schema}.${t.name}`);
  const locked = async () => {
    const plans = (await planScopePurge(db, o.config, tables, target, { dropPartitions: input.dropPartitions === true })).map((p) =>
      mode === 'delete' && (p.strategy === 'truncate_partition' || p.strategy === 'drop_partition') ? { ...p, strategy: 'pruned_delete' as const } : p,
    );
    // a delete-mode plan over dedicated partitions counts its rows exactly
    for (const p of plans) {
      if (mode === 'delete' && !p.rows_exact) p.rows = Number((await sql<{ n: string }>`select count(*)::text as n from ${sql.id(p.live.schema, p.live.name)} where ${scopePredicate(p.selector)}`.execute(db)).rows[0]!.n);
    }
    await assertPurgeAllowed(db, o, target, mode, plans, input.archiveDir !== undefined);
    const script = `-- purge ${target.tenantId}/${target.scope}, mode ${mode}\n${renderSteps(describe(plans, batchRows))}`;
    const tableResult = (p: TablePurgePlan): PurgeTableResult => ({
      table: p.table,
      strategy: p.strategy,
      partitions: p.leaves.map((l) => `${l.schema}.${l.name}`),
      rows: p.rows,
      rows_exact: p.rows_exact,
      rows_deleted: null,
      ms: 0,
      lock_held_ms: 0,
      archive_table_rows_deleted: null,
      rows_left_unarchived: null,
      referenced_by: p.referencedBy,
      default_leaves_read: p.swaps.reduce((n, s) => n + s.unproven.length, 0),
      note: p.note ?? null,
    });
    const base = { tenant_id: target.tenantId, scope: target.scope, mode, script };
    if (input.dryRun) {
      const rows = plans.map(tableResult);
      return { ...base, dry_run: true, tables: rows, purge_delete_strategy_tables_total: plans.filter(needsDelete).length, archive: null, audit_id: null, duration_ms: ms(started) };
    }
    const results = new Map(plans.map((p) => [p.table, tableResult(p)]));
    let archive: { dir: string; manifest: ArchiveManifest; removedPartials: string[] } | null = null;
    if (input.archiveDir !== undefined) {
      archive = await writeScopeArchive(db, database.pool, input.archiveDir, target, plans.map((p) => ({ table: p.table, live: p.live, selector: p.selector, columns: p.columns, recordRowVersions: needsDelete(p) })));
      for (const left of archive.removedPartials) o.onEvent(`removed ${left}, the unfinished archive of a run that died`);
      await o.onEvent(`archived ${archive.manifest.tables.reduce((n, t) => n + t.rows, 0)} row(s) to ${archive.dir}`);
      for (const t of archive.manifest.tables) {
        const r = results.get(t.table)!;
        r.rows = t.rows;
        r.rows_exact = true;
      }
    }
    const guard = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, onRetry: o.onRetry };
    let failure: unknown;
    let deletedTables = 0;
    // Whether any row may have left the database: until then a failure leaves everything as it was.
    let touched = false;
    try {
      // 1. Every dedicated partition in one transaction (partitionWork): swaps, drops and one TRUNCATE (what foreign keys between them need).
      const partitionPlans = plans.filter(isPartitionPlan);
      if (partitionPlans.length > 0) {
        const t0 = performance.now();
        const w = partitionWork(partitionPlans);
        const step = (s: Step) => runGuarded(db, (trx) => sql.raw(s.sql).execute(trx), { ...guard, label: `purge: ${s.id}` }); // sql.raw: compiled by kysely in partitionWork
        const oldIndexNames = new Map<string, Map<string, string>>();
        let switched = false;
        try {
          await dropSwapLeftovers(db, partitionPlans.flatMap((p) => p.leaves), guard);
          for (const s of w.swaps) oldIndexNames.set(s.leaf.oid, await leafIndexNames(db, s.leaf));
          for (const s of w.swaps) {
            for (const text of s.build) await runGuarded(db, (trx) => sql.raw(text).execute(trx), { ...guard, label: `purge: build ${s.twin.name}` }); // sql.raw: compiled by kysely in planLeafSwap
            // Each DEFAULT leaf without its guard is read once by its VALIDATE (writes go on); two at a time, on two connections.
            await forEachConcurrently(s.unproven, 2, async (g) => {
              const ddl = scopeGuardDdl(g, { column: s.keyColumn, value: s.keyValue }, s.guardName); // sql.raw below: compiled by kysely there
              const state = await constraintState(db, g, s.guardName);
              if (state === null) await runGuarded(db, (trx) => sql.raw(ddl.add).execute(trx), { ...guard, label: `purge: guard ${g.name}` });
              if (state !== true) await runGuarded(db, (trx) => sql.raw(ddl.validate).execute(trx), { ...guard, label: `purge: validate the guard on ${g.name}` });
            });
          }
          // Held from the grant through the COMMIT.
          let granted = 0;
          await runGuarded(db, async (trx) => {
            await releaseLocksBeforeFlush(trx); // the audit row's commit below flushes it
            await sql.raw(w.lock.sql).execute(trx);
            granted = performance.now();
            if (archive) {
              // The archive came from a snapshot before the lock: prove nothing changed since, or purge nothing.
              for (const p of partitionPlans) {
                const entry = archive.manifest.tables.find((t) => t.table === p.table)!;
                const now = (await scopeChecksumQuery({ table: p.table, live: p.live, selector: p.selector, columns: p.columns }).execute(trx)).rows[0]!;
                if (Number(now.rows) !== entry.rows || now.checksum !== entry.checksum) {
                  refuse('purge-scope-changed', `${p.table}: the scope changed between the archive and the lock (${Number(now.rows) === entry.rows ? `${entry.rows} rows both times, their checksum changed: rows were updated` : `${entry.rows} → ${now.rows} rows`})`, 'the scope is still being written: stop the writes and purge again (nothing was purged)', { table: p.table });
                }
              }
            }
            for (const s of w.locked) await sql.raw(s.sql).execute(trx);
          }, { ...guard, label: `purge: ${partitionPlans.map((p) => p.table).join(', ')}` }).catch((err: unknown) => {
            if (sqlStateOf(err) === '0A000') {
              refuse('purge-truncate-foreign-key', `TRUNCATE of the scope's partitions is refused by a foreign key: ${(err as Error).message}`, 'purge the referencing table in the same run (list it in the config or with --table), or use --mode auto');
            }
            throw err;
          });
          switched = true;
          touched = true;
          const held = performance.now() - granted;
          for (const p of partitionPlans) Object.assign(results.get(p.table)!, { lock_held_ms: Math.round(held * 10) / 10 });
          await o.onEvent(`${w.swaps.length > 0 ? `swapped ${w.swaps.length} partition(s) for empty twins, ` : ''}${w.truncated.length > 0 ? `truncated ${w.truncated.length} partition(s), ` : ''}${partitionPlans.some((p) => p.strategy === 'drop_partition') ? 'detached the dropped partition(s), ' : ''}exclusive lock held ${Math.round(held * 10) / 10} ms`);
          // After COMMIT: the old partitions are no longer part of any table the application reads.
          for (const s of w.after) await step(s);
          for (const s of w.swaps) await restoreIndexNames(db, s.leaf, oldIndexNames.get(s.leaf.oid)!);
        } finally {
          if (!switched) await undoSwapPreparation(db, w, guard);
        }
        for (const p of partitionPlans) results.get(p.table)!.ms = ms(t0);
      }
      // 2. Batched DELETEs, referencing tables first.
      for (const p of plans.filter(needsDelete)) {
        const t0 = performance.now();
        const where = scopePredicate(p.selector);
        let rows = 0;
        let longest = 0;
        for (const leaf of p.leaves) {
          touched = true;
          const done = archive ? await deleteArchivedRows(o, db, p.live, leaf, where, batchRows, target) : await deleteInBatches(o, db, p.live, leaf, where, batchRows);
          rows += done.rows;
          longest = Math.max(longest, done.longestMs);
        }
        deletedTables++;
        const left = archive ? Number((await sql<{ n: string }>`select count(*)::text as n from ${sql.id(p.live.schema, p.live.name)} where ${where}`.execute(db)).rows[0]!.n) : null;
        Object.assign(results.get(p.table)!, { rows_deleted: rows, ms: ms(t0), lock_held_ms: longest, rows_left_unarchived: left });
        await o.onEvent(`${p.table}: ${p.strategy} removed ${rows} row(s) in ${ms(t0)} ms${left ? `; ${left} row(s) of the scope written or changed after the archive were left in place` : ''}`);
      }
      // 3. After cutover the kept legacy table holds the scope too; a TRUNCATE of a partition bypasses the reverse sync.
      // Only its rows the live table no longer has go: a row the application wrote to the scope since (or one
      // left unarchived) may already be there through a replay, and a rollback must find it.
      for (const p of plans.filter((x) => x.archiveTable !== null && x.strategy !== 'none')) {
        const a = p.archiveTable!;
        const done = await deleteInBatches(o, db, a, a, scopePredicate(p.selector), batchRows, goneFromLive(p.live, a.keyColumns));
        results.get(p.table)!.archive_table_rows_deleted = done.rows;
      }
    } catch (err) {
      failure = err;
      // An archive of a purge that did not happen would read as one: gone, with nothing purged.
      if (archive && !touched) {
        await rm(archive.dir, { recursive: true, force: true });
        o.onEvent(`removed the archive ${archive.dir}: nothing was purged`);
        archive = null;
      }
    }
    if (input.archiveDir !== undefined && plans.some(needsDelete)) {
      // Read by this run only; a failed cleanup is replaced by the scope's next archive.
      await sql`delete from partgov.purge_archived_row where tenant_id = ${target.tenantId} and scope = ${target.scope}`.execute(db).catch(() => undefined);
    }
    const tablesOut = [...results.values()];
    const details = {
      mode,
      duration_ms: ms(started),
      tables: tablesOut.map((t) => ({ table: t.table, strategy: t.strategy, rows: t.rows, rows_deleted: t.rows_deleted, rows_left_unarchived: t.rows_left_unarchived, ms: t.ms, lock_held_ms: t.lock_held_ms })),
      archive: archive ? { dir: archive.dir, tables: archive.manifest.tables.map((t) => ({ table: t.table, rows: t.rows, sha256: t.sha256 })) } : null,
      ...(failure === undefined ? {} : { error: (failure as Error).message }),
    };
    const steps = describe(plans, batchRows).map((s) => ({ ...s, status: failure === undefined ? ('succeeded' as const) : ('not_executed' as const) }));
    const auditId = await writeAudit(db, { command: 'purge', table: labels.join(', '), appEnv: o.settings.appEnv, tenantId: target.tenantId, scope: target.scope }, failure === undefined ? 'succeeded' : 'failed', steps, details);
    if (failure !== undefined) throw failure;
    return {
      ...base,
      dry_run: false,
      tables: tablesOut,
      purge_delete_strategy_tables_total: deletedTables,
      archive: archive ? { dir: archive.dir, tables: archive.manifest.tables.length, rows: archive.manifest.tables.reduce((n, t) => n + t.rows, 0), bytes: archive.manifest.tables.reduce((n, t) => n + t.bytes, 0) } : null,
      audit_id: auditId,
      duration_ms: ms(started),
    };
  };
  try {
    return await withAdvisoryLocks(db, 'partitions', labels, locked);
  } catch (err) {
    if (err instanceof RunInProgressError) {
      refuse('purge-in-progress', `${err.message}: another purge, isolate or maintain is changing these partitions`, err.fix, err.details);
    }
    throw err;
  }
}

/** What lets a refused partition-mode purge go ahead: isolate only where the layout can give the scope partitions. */
function purgeNeedsDeleteFix(deleting: readonly TablePurgePlan[], target: ScopeTarget, label: string): string {
  const auto = "or pass --mode auto to DELETE only the scope's rows inside the partition that holds them";
  if (deleting.some((p) => p.selector.keyColumn !== null && !p.selector.keyIdentifiesScope)) {
    return `a partition per tenant (or per scope name) cannot be emptied for one scope: partition by a key formed from both (tables[].scope_key_column, e.g. "{tenant}:{scope}") and isolate that, ${auto}`;
  }
  // isolate gives a scope partitions only in isolatable tables; elsewhere it would refuse.
  const notIsolatable = deleting.filter((p) => p.config.layout.type !== 'isolatable');
  if (notIsolatable.length > 0) {
    const listed = (p: TablePurgePlan) => p.config.layout.type === 'range' && p.config.layout.subpartition?.type === 'list';
    const why = notIsolatable.map((p) => `${p.table} (${p.config.layout.type}${listed(p) ? ' with list subpartitions' : ''})`).join(', ');
    return `isolate cannot help ${why}: only layout "isolatable" gives a scope partitions of its own online (a range layout's list subpartitions take the keys in layout.subpartition.values, at plan time); ${auto}`;
  }
  return `isolate the scope first (\`partgov isolate --tenant-id ${shellWord(target.tenantId)} --scope ${shellWord(target.scope)} --confirm ${shellWord(label)}\`), ${auto}`;
}
