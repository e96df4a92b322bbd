import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { findTableOid, requireTable } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import { objectNames } from '../db/object-names.js';
import { runGuarded, type GuardRetryEvent } from '../db/run-guarded.js';
import { shadowCompatibilityProblems } from '../changelog/shadow-compatibility.js';
import { statementEvidence } from './statement-evidence.js';
import { archiveNameOf, resolveShadowPair, shadowOnlyColumns, shadowOnlyColumnsFix, type ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { dropChangeLogDdl, dropDdlGuardDdl } from '../changelog/change-log.js';
import { drainInTransaction, listRejectedKeys, replayChanges, routeLabel } from '../changelog/replay-changes.js';
import { disabledCaptureTriggers, isSyncEnabled } from '../changelog/sync-state.js';
import { InputInvalidError, SafetyRefusedError, shellWord } from '../errors.js';
import { pendingIndexNames } from '../state/pending-indexes.js';
import { lastSucceeded, latestRun } from '../state/run-ledger.js';
import { assertStateSchema } from '../state/state-schema.js';
import { renderSteps, writeAudit, type StepReport } from '../steps/run-steps.js';
import { planSwap, type SwapObject, type SwapPlan } from './swap-plan.js';
import { z } from 'zod';
import { configuredTable, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import { namesTable } from '../config/load-config.js';
import { judged, type StageVerdict } from '../checks/check.js';

/** cutover's and rollback's input: defaults and limits once, for the library and the CLI. */
export const swapInputSchema = z.object({
  table: textInput(`configured table (${tableNameForms})`),
  // Checked by the stage itself (assertConfirm), so a missing or wrong value gets the swap's own refusal.
  confirm: z.string().optional().describe(`the table again (${tableNameForms}): required`),
  dryRun: flagInput('print the preconditions and the swap SQL; change nothing'),
});
export type SwapInput = z.input<typeof swapInputSchema>;

interface SwapOptions {
  settings: RuntimeSettings;
  confirm: string | undefined;
  dryRun: boolean;
  onRetry: (e: GuardRetryEvent) => void;
  onEvent: (message: string) => void;
}

function swapOptions(ctx: StageContext, stage: 'cutover' | 'rollback', input: SwapInput): { table: TableConfig; o: SwapOptions } {
  const i = parseStageInput(stage, swapInputSchema, input);
  return { table: configuredTable(ctx, stage, i.table), o: { settings: ctx.settings, confirm: i.confirm, dryRun: i.dryRun, onRetry: ctx.onRetry, onEvent: ctx.log } };
}

export interface SwapResult extends StageVerdict {
  table: string;
  archive: string;
  action: 'cutover' | 'rollback';
  dry_run: boolean;
  /** Already in the requested state (a second run, or a run after a crash that had committed): nothing done. */
  already: boolean;
  objects: SwapObject[];
  steps: StepReport[];
  /** Change-log entries replayed before the lock and inside it. */
  replayed_before_lock: number;
  replayed_in_lock: number;
  /** How long the swap transaction held its exclusive locks (lock granted to commit). */
  lock_held_ms: number;
  /** Milliseconds of each step inside the lock. */
  step_ms: Record<string, number>;
  attempts: number;
  /** SQL of the swap, for --dry-run. */
  script: string;
  /** cutover: the application's statements pg_stat_statements kept that were judged (source null: not installed). */
  statement_evidence: { source: string | null; examined: number; hidden: number } | null;
}

type TableState = 'before' | 'cut_over' | 'unknown';

/** Where a table stands: before cutover (legacy under its name, shadow beside it) or cut over (partitioned under its name, archive beside it). */
async function tableState(db: PartgovKysely, table: TableConfig): Promise<TableState> {
  const r = await sql<{ partitioned: boolean | null; shadow: boolean; archive: boolean }>`
    select (select c.relkind = 'p' from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${table.schema} and c.relname = ${table.name}) as partitioned,
           exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${table.schema} and c.relname = ${objectNames.shadow(table.name)}) as shadow,
           exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${table.schema} and c.relname = ${archiveNameOf(table)}) as archive`.execute(db);
  const s = r.rows[0]!;
  if (s.partitioned === false && s.shadow) return 'before';
  if (s.partitioned === true && s.archive) return 'cut_over';
  return 'unknown';
}

function assertConfirm(table: TableConfig, confirm: string | undefined, verb: string): void {
  if (confirm === undefined || !namesTable(table, confirm)) {
    throw new InputInvalidError(`${verb} swaps the table the application writes to; --confirm must name it`, {
      fix: `pass --confirm ${shellWord(table.name)} (exactly; ${confirm === undefined ? 'it is missing' : `got ${JSON.stringify(confirm)}`})`,
    });
  }
}

/** What to do about each refused object, then how to check that none is left. */
const dependentObjectsFix = (direction: 'cutover' | 'rollback', table: TableConfig, refused: readonly SwapObject[]) =>
  `${refused.map((o) => `${o.kind} ${o.name}: ${o.fix}`).join('; ')}; then \`partgov ${direction} --table ${shellWord(table.name)} --confirm ${shellWord(table.name)} --dry-run\` shows whether any is left`;

function refuse(rule: string, message: string, fix: string, details: Record<string, unknown> = {}): never {
  throw new SafetyRefusedError(rule, message, { fix, details });
}

/** Preconditions of cutover, each refused with exit 3 before any lock (pgslice's assert_*). */
async function assertReadyForCutover(db: PartgovKysely, pair: ShadowPair, table: TableConfig, plan: SwapPlan, onEvent: (msg: string) => void): Promise<SwapResult['statement_evidence']> {
  const label = pair.label;
  if (!(await isSyncEnabled(db, table.schema, table.name))) {
    refuse('cutover-needs-sync', `sync is not enabled on ${label}: writes since the copy would be lost at the swap`, `run \`partgov sync enable --table ${shellWord(table.name)}\`, then \`partgov backfill --restart --table ${shellWord(table.name)}\`, verify, and cut over`);
  }
  const cp = await db.selectFrom('partgov.backfill_checkpoint').select(['done', 'updated_at']).where('table_name', '=', label).executeTakeFirst();
  if (!cp?.done) {
    refuse('cutover-needs-backfill', `the backfill of ${label} is not complete`, `run \`partgov backfill --table ${shellWord(table.name)}\` until it reports complete`);
  }
  const pendingIndexes = await pendingIndexNames(db, label);
  if (pendingIndexes.length > 0) {
    // A run stopped while building them: the copy is done, the shadow's indexes (the primary key too, maybe) are not.
    refuse('cutover-needs-indexes', `${pendingIndexes.length} index(es) of ${label}'s shadow, dropped for the copy, are not built yet: ${pendingIndexes.join(', ')}`,
      `run \`partgov backfill --table ${shellWord(table.name)}\` (it builds them leaf by leaf and copies nothing again), verify, then cut over`, { indexes: pendingIndexes });
  }
  const verify = await latestRun(db, 'verify', label);
  if (!verify || verify.status !== 'succeeded') {
    refuse('cutover-needs-verify', `${verify ? 'the latest verify of' : 'no verify recorded for'} ${label}${verify ? ` (${verify.finished_at?.toISOString()}) failed` : ''}`, `run \`partgov verify --table ${shellWord(table.name)}\` and fix what it reports`);
  }
  if (verify.started_at < new Date(cp.updated_at)) {
    refuse('cutover-verify-stale', `the latest verify of ${label} (${verify.started_at.toISOString()}) is older than the end of its backfill (${new Date(cp.updated_at).toISOString()})`, `run \`partgov verify --table ${shellWord(table.name)}\` again`);
  }
  const rejected = await listRejectedKeys(db, label, 5);
  if (rejected.total > 0) {
    refuse('cutover-rejected-keys', `the shadow rejected ${rejected.total} key(s) of ${label} the application wrote: ${rejected.keys.map((k) => JSON.stringify(k.key)).join(', ')}`, 'make the shadow accept them, re-copy (`partgov backfill --restart`), verify, then cut over');
  }
  const legacyPk = pair.legacy.constraints.find((c) => c.kind === 'primary_key')!.columns;
  const widened = pair.shadowKey.length !== legacyPk.length;
  const ack = table.cutover.acknowledge_key_change;
  // A set, as ON CONFLICT's column list is: any order acknowledges the key.
  const sameColumns = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000');
  if (widened && (ack === undefined || !sameColumns(ack, pair.shadowKey))) {
    const columns = (cols: readonly string[]) => compileDdl(sql.join(cols.map((c) => sql.id(c))));
    refuse('cutover-key-change-unacknowledged', `${label}'s primary key changes from (${columns(legacyPk)}) to (${columns(pair.shadowKey)}): after the swap the application's INSERT … ON CONFLICT (${columns(legacyPk)}) fails, and (${columns(legacyPk)}) alone is no longer unique`,
      `change those statements to ON CONFLICT (${columns(pair.shadowKey)}), then acknowledge in the config: tables[].cutover.acknowledge_key_change = ${JSON.stringify(pair.shadowKey)}${ack === undefined ? '' : ` (it says ${JSON.stringify(ack)})`}`);
  }
  const extra = shadowOnlyColumns(pair);
  if (extra.length > 0) {
    refuse('cutover-shadow-only-columns', `${pair.shadow.name} has column(s) ${label} lacks: ${extra.map((c) => c.name).join(', ')}; the swap would give the application back column(s) it dropped${extra.some((c) => c.notNull && c.defaultExpr === null && c.identity === null && c.generated === null) ? ' (a NOT NULL one without a default: every insert would fail)' : ''}`,
      shadowOnlyColumnsFix(pair, extra), { columns: extra.map((c) => c.name) });
  }
  const problems = shadowCompatibilityProblems(pair, table);
  if (problems.length > 0) {
    // The legacy table changed since sync enable (the application's migration): after the swap its writes would fail.
    refuse('cutover-shadow-rejects-rows', `the shadow of ${label} would reject rows the table accepts today, so after the swap the application's writes would fail:\n${problems.map((p) => `  - ${p.object}: ${p.problem}`).join('\n')}`,
      `${problems.map((p) => `${p.object}: ${p.fix}`).join('; ')}; then verify and cut over`, { problems });
  }
  // Evidence over promises: the application's own statements, as pg_stat_statements saw them.
  const evidence = await statementEvidence(db, pair, table);
  if (evidence.hidden > 0) onEvent(`${evidence.source}: ${evidence.hidden} statement text(s) this role may not read were not judged (GRANT pg_read_all_stats TO <partgov role> lets it)`);
  if (evidence.failing.length > 0) {
    const shown = evidence.failing.slice(0, 5);
    refuse('cutover-statements-would-fail', `${evidence.source} shows ${evidence.failing.length} statement(s) of the application on ${label} that would fail once the partitioned table takes the name:\n${shown.map((f) => `  - ${f.why} (${f.calls} call(s)): ${f.query.replace(/\s+/g, ' ').slice(0, 200)}`).join('\n')}`,
      `change them (the partitioned key is (${pair.shadowKey.join(', ')})) and deploy; then forget the old entries (${shown.map((f) => `select pg_stat_statements_reset(${f.userid}, ${f.dbid}, ${f.queryid})`).join('; ')}) and cut over`,
      { statements: evidence.failing.map(({ queryid, calls, why }) => ({ queryid, calls, why })) });
  }
  const refused = plan.objects.filter((o) => o.action === 'refused');
  if (refused.length > 0) {
    refuse('cutover-dependent-objects', `these point at ${label} and cannot follow the swap:\n${refused.map((o) => `  - ${o.kind} ${o.name}: ${o.detail}`).join('\n')}`, dependentObjectsFix('cutover', table, refused), { objects: refused });
  }
  if ((await findTableOid(db, { schema: table.schema, name: archiveNameOf(table) })) !== null) {
    refuse('cutover-archive-name-taken', `a table ${table.schema}.${archiveNameOf(table)} already exists`, 'drop or rename it, or set tables[].cutover.archive_name');
  }
  return { source: evidence.source, examined: evidence.examined, hidden: evidence.hidden };
}

/**
 * Runs the swap transaction: exclusive locks under lock_timeout, the rest of
 * the change log, the renames and every carried object, the change log the
 * other way. Retried with backoff on lock timeout; exit 4 with nothing
 * changed when the locks cannot be had. One transaction: a kill -9 leaves
 * the catalog wholly before or wholly after.
 */
async function executeSwap(db: PartgovKysely, pair: ShadowPair, plan: SwapPlan, o: SwapOptions): Promise<{ replayed: number; lockHeldMs: number; attempts: number; stepMs: Record<string, number> }> {
  let attempts = 0;
  let lockHeldMs = 0;
  let replayed = 0;
  let stepMs: Record<string, number> = {};
  await runGuarded(
    db,
    async (trx) => {
      attempts++;
      let granted = 0;
      stepMs = {};
      for (const step of plan.steps) {
        const t0 = performance.now();
        if (step.id === 'replay-rest') {
          replayed = await drainInTransaction(trx, pair, plan.direction === 'cutover' ? 'forward' : 'reverse');
        } else {
          // sql.raw: step text compiled by kysely from quoted identifiers and catalog text (swap-plan.ts).
          await sql.raw(step.sql).execute(trx);
        }
        if (step.id === 'lock') granted = performance.now();
        else stepMs[step.id] = Math.round((performance.now() - t0) * 10) / 10;
      }
      lockHeldMs = performance.now() - granted;
    },
    { label: `${plan.direction} ${pair.label}`, lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, ...(o.onRetry ? { onRetry: o.onRetry } : {}) },
  );
  return { replayed, lockHeldMs: Math.round(lockHeldMs * 10) / 10, attempts, stepMs };
}

async function swap(db: PartgovKysely, table: TableConfig, direction: 'cutover' | 'rollback', o: SwapOptions): Promise<SwapResult> {
  const r = await swapTable(db, table, direction, o);
  return judged(r, [{
    name: `${direction}:${r.table}`,
    status: r.dry_run || r.already ? 'skip' : 'pass',
    detail: r.dry_run ? `dry run: ${r.steps.length} statement(s), ${r.objects.length} dependent object(s); nothing changed` : r.already ? 'already done' : `swapped; exclusive locks held ${r.lock_held_ms} ms (${r.attempts} attempt(s)); ${r.replayed_in_lock} log entries replayed inside the lock`,
    figures: { lock_held_ms: r.lock_held_ms, replayed_in_lock: r.replayed_in_lock, attempts: r.attempts },
  }]);
}

async function swapTable(db: PartgovKysely, table: TableConfig, direction: 'cutover' | 'rollback', o: SwapOptions): Promise<Omit<SwapResult, keyof StageVerdict>> {
  assertConfirm(table, o.confirm, direction);
  await assertStateSchema(db);
  const label = `${table.schema}.${table.name}`;
  const archive = archiveNameOf(table);
  const state = await tableState(db, table);
  const wanted: TableState = direction === 'cutover' ? 'cut_over' : 'before';
  const base = { table: label, archive: `${table.schema}.${archive}`, action: direction, dry_run: o.dryRun === true };
  if (state === wanted) {
    return { ...base, already: true, objects: [], steps: [], replayed_before_lock: 0, replayed_in_lock: 0, lock_held_ms: 0, step_ms: {}, attempts: 0, script: '', statement_evidence: null };
  }
  if (state === 'unknown') {
    throw new InputInvalidError(`${label} is neither before cutover (a plain table with ${objectNames.shadow(table.name)} beside it) nor cut over (a partitioned table with ${archive} beside it)`, {
      fix: 'run `partgov status` to see what exists; plan and apply the shadow first',
    });
  }
  const pair = direction === 'cutover' ? await resolveShadowPair(db, table) : await resolveShadowPair(db, table, { legacy: archive, shadow: table.name });
  return withAdvisoryLock(db, 'cutover', label, async () => {
    const plan = await planSwap(db, pair, table, direction);
    // A disabled capture trigger let writes by unlogged: the copy the swap hands over lacks them.
    const off = await disabledCaptureTriggers(db, table.schema, table.name, direction === 'cutover' ? 'forward' : 'reverse');
    if (off.length > 0) {
      const copy = direction === 'cutover' ? `the shadow ${pair.shadow.name}` : `the archive ${archive}`;
      refuse(`${direction}-capture-disabled`, `change-log trigger(s) ${off.join(', ')} on ${label} are disabled: writes made while they were off are in neither the log nor ${copy}, and the swap would lose them`,
        direction === 'cutover'
          ? `run \`partgov sync enable --table ${shellWord(table.name)}\` (it enables them again), then verify; if verify fails, \`partgov backfill --restart\`, verify, and cut over`
          : `enable them (${off.map((t) => compileDdl(sql`alter table ${sql.id(table.schema, table.name)} enable always trigger ${sql.id(t)}`)).join('; ')}), then \`partgov verify --table ${shellWord(table.name)}\`: if the archive misses writes, do not roll back`);
    }
    let statementEvidence: SwapResult['statement_evidence'] = null;
    if (direction === 'cutover') statementEvidence = await assertReadyForCutover(db, pair, table, plan, o.onEvent);
    else {
      const refused = plan.objects.filter((x) => x.action === 'refused');
      if (refused.length > 0) refuse('rollback-dependent-objects', `these point at ${label} and cannot follow the swap back:\n${refused.map((x) => `  - ${x.kind} ${x.name}: ${x.detail}`).join('\n')}`, dependentObjectsFix('rollback', table, refused), { objects: refused });
      const rejected = await listRejectedKeys(db, routeLabel(pair, 'reverse'), 5);
      if (rejected.total > 0) refuse('rollback-rejected-keys', `the archive rejected ${rejected.total} key(s) written since cutover: ${rejected.keys.map((k) => JSON.stringify(k.key)).join(', ')}`, 'make the archive accept them (the rows are in the cut-over table), then roll back');
    }
    const script = `-- before the lock\n${renderSteps(plan.prepare)}\n-- the swap: one transaction\n${renderSteps(plan.steps)}\n-- after the commit\n${renderSteps(plan.cleanup)}`;
    if (o.dryRun) {
      return { ...base, already: false, objects: plan.objects, steps: [...plan.prepare, ...plan.steps, ...plan.cleanup].map((s) => ({ ...s, status: 'not_executed' as const })), replayed_before_lock: 0, replayed_in_lock: 0, lock_held_ms: 0, step_ms: {}, attempts: 0, script, statement_evidence: statementEvidence };
    }
    // Before any lock: the first queries after the swap must not plan blind (autovacuum never
    // analyzes a partitioned parent), and the log should be short so the locked replay is.
    if (direction === 'cutover') {
      o.onEvent(`analyze ${pair.shadow.name}`);
      await sql`analyze ${sql.id(pair.shadow.schema, pair.shadow.name)}`.execute(db);
    }
    const before = await replayChanges(db, pair, { direction: direction === 'cutover' ? 'forward' : 'reverse', lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs });
    o.onEvent(`replayed ${before.entries} change-log entries before the lock`);
    const started = new Date();
    const guard = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries };
    // sql.raw below: step text compiled by kysely in swap-plan.ts.
    await runGuarded(db, async (trx) => {
      for (const s of plan.prepare) await sql.raw(s.sql).execute(trx);
    }, { ...guard, label: `${direction} ${label}: prepare` });
    // Once more right before the lock: what the lock has to replay is what arrives in these milliseconds.
    const justBefore = await replayChanges(db, pair, { direction: direction === 'cutover' ? 'forward' : 'reverse', lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs });
    let outcome: Awaited<ReturnType<typeof executeSwap>>;
    try {
      outcome = await executeSwap(db, pair, plan, o);
    } catch (err) {
      await writeAudit(db, { command: direction, table: label, appEnv: o.settings.appEnv }, 'failed', plan.steps.map((s) => ({ ...s, status: 'not_executed' })), { error: (err as Error).message }).catch(() => undefined);
      throw err;
    }
    await runGuarded(db, async (trx) => {
      for (const s of plan.cleanup) await sql.raw(s.sql).execute(trx);
    }, { ...guard, label: `${direction} ${label}: cleanup` });
    if (direction === 'rollback') {
      // The shadow is exact again and fed by the forward log: replay may apply every key.
      await db.updateTable('partgov.backfill_checkpoint').set({ done: true }).where('table_name', '=', label).execute();
    }
    const steps = [...plan.prepare, ...plan.steps, ...plan.cleanup].map((s) => ({ ...s, status: 'succeeded' as const }));
    await writeAudit(db, { command: direction, table: label, appEnv: o.settings.appEnv }, 'succeeded', steps, {
      archive: base.archive,
      lock_held_ms: outcome.lockHeldMs,
      replayed_in_lock: outcome.replayed,
      attempts: outcome.attempts,
      step_ms: outcome.stepMs,
      started_at: started.toISOString(),
      objects: plan.objects,
      statement_evidence: statementEvidence,
    });
    return { ...base, already: false, objects: plan.objects, steps, replayed_before_lock: before.entries + justBefore.entries, replayed_in_lock: outcome.replayed, lock_held_ms: outcome.lockHeldMs, step_ms: outcome.stepMs, attempts: outcome.attempts, script, statement_evidence: statementEvidence };
  });
}

/**
 * `partgov cutover --table T --confirm T`: swaps the proven shadow in. After
 * it, T is the partitioned table, the legacy table is kept as its archive and
 * follows every write through the reverse change log, so `rollback` loses nothing.
 */
export function runCutover(ctx: StageContext, input: SwapInput): Promise<SwapResult> {
  const { table, o } = swapOptions(ctx, 'cutover', input);
  return swap(ctx.database.db, table, 'cutover', o);
}

/** `partgov rollback --table T --confirm T`: the reverse swap, with the same guarantees; forward sync again. */
export function runRollback(ctx: StageContext, input: SwapInput): Promise<SwapResult> {
  const { table, o } = swapOptions(ctx, 'rollback', input);
  return swap(ctx.database.db, table, 'rollback', o);
}

/** retire's input: defaults and limits once, for the library and the CLI. */
export const retireInputSchema = swapInputSchema.extend({
  keepArchive: flagInput('keep the archive as a plain table instead of dropping it'),
  dryRun: flagInput('print the steps; change nothing'),
});
export type RetireInput = z.input<typeof retireInputSchema>;

export interface RetireResult extends StageVerdict {
  table: string;
  archive: string;
  dry_run: boolean;
  archive_dropped: boolean;
  days_since_cutover: number | null;
  /** The table's exclusive lock, from its grant through the COMMIT that removed the capture triggers (0 for a dry run). */
  lock_held_ms: number;
  steps: StepReport[];
}

/**
 * `partgov retire --table T --confirm T [--keep-archive]`: removes the reverse
 * change log and drops the archive (or keeps it as a plain table). In prod,
 * refused until tables[].cutover.retire_after_days after the cutover.
 */
export async function runRetire(ctx: StageContext, input: RetireInput): Promise<RetireResult> {
  const r = await retireTable(ctx, input);
  return judged(r, [{ name: `retire:${r.table}`, status: r.dry_run ? ('skip' as const) : ('pass' as const), detail: r.dry_run ? 'dry run: nothing changed' : `change log removed (exclusive lock ${r.lock_held_ms} ms); ${r.archive} ${r.archive_dropped ? 'dropped' : 'kept'}`, figures: { lock_held_ms: r.lock_held_ms } }]);
}

async function retireTable(ctx: StageContext, input: RetireInput): Promise<Omit<RetireResult, keyof StageVerdict>> {
  const o = { ...parseStageInput('retire', retireInputSchema, input), settings: ctx.settings };
  const table = configuredTable(ctx, 'retire', o.table);
  const { db } = ctx.database;
  assertConfirm(table, o.confirm, 'retire');
  await assertStateSchema(db);
  const label = `${table.schema}.${table.name}`;
  const archive = archiveNameOf(table);
  // A COMMIT that drops a table unlinks its files while every lock is still held (177 ms for 1.2 GB here): the archive
  // is renamed in the locked transaction and dropped after its COMMIT.
  const retired = { schema: table.schema, name: objectNames.retiredArchive(table) };
  const guard = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries };
  const dropRetired = { id: 'drop-archive', description: `drop the archive (renamed ${retired.name}) and its files, after the COMMIT: no lock the application waits on`, sql: compileDdl(sql`drop table if exists ${sql.id(retired.schema, retired.name)}`) };
  const result = { table: label, archive: `${table.schema}.${archive}`, dry_run: o.dryRun === true, archive_dropped: !o.keepArchive && !o.dryRun, days_since_cutover: null as number | null, lock_held_ms: 0 };
  if ((await tableState(db, table)) !== 'cut_over') {
    // A retire that died between its COMMIT and the archive's drop left the renamed archive: finish that.
    if ((await findTableOid(db, retired)) !== null) {
      if (o.dryRun) return { ...result, archive_dropped: false, steps: [{ ...dropRetired, status: 'not_executed' }] };
      return withAdvisoryLock(db, 'cutover', label, async () => {
        await runGuarded(db, (trx) => sql.raw(dropRetired.sql).execute(trx), { ...guard, label: `retire ${label}: drop the archive an interrupted retire left` }); // sql.raw: compiled above
        const reports = [{ ...dropRetired, status: 'succeeded' as const }];
        await writeAudit(db, { command: 'retire', table: label, appEnv: o.settings.appEnv }, 'succeeded', reports, { finished_interrupted_retire: true });
        return { ...result, archive_dropped: true, steps: reports };
      });
    }
    throw new InputInvalidError(`${label} is not cut over (no partitioned ${table.name} with ${archive} beside it): nothing to retire`, { fix: 'run `partgov status`' });
  }
  const cut = await lastSucceeded(db, 'cutover', label);
  const days = cut ? (ctx.now().getTime() - cut.getTime()) / 86_400_000 : null;
  if (o.settings.appEnv === 'prod' && (days === null || days < table.cutover.retire_after_days)) {
    refuse('prod-retire-too-early', `${label} was cut over ${days === null ? 'at an unknown time' : `${days.toFixed(1)} day(s) ago`}; prod keeps the archive ${table.cutover.retire_after_days} day(s) so a rollback stays possible`, `wait, or lower tables[].cutover.retire_after_days in the config`);
  }
  const current = await requireTable(db, { schema: table.schema, name: table.name });
  const locked = [
    // First: a reader of the archive then makes retire wait before it holds any lock on the live table.
    // In the same transaction as the rest, so no state exists where the archive is there but no longer fed (a rollback would lose writes).
    ...(o.keepArchive ? [] : [{ id: 'retire-archive', description: `${archive} leaves the table's name space (dropped after the COMMIT)`, sql: compileDdl(sql`alter table ${sql.id(table.schema, archive)} rename to ${sql.id(retired.name)}`) }]),
    // The table before its triggers: DROP TRIGGER on a partitioned table takes its partitions one by one, in another
    // order than the application's statements, which deadlocked with them (measured: 4 of the application's statements
    // chosen as victims). Locked here, the table and its partitions are taken root first, the order writers take them.
    { id: 'lock', description: `writers of ${table.name} wait (milliseconds) while its capture triggers go`, sql: compileDdl(sql`lock table ${sql.id(table.schema, table.name)} in access exclusive mode`) },
    ...dropReverseLog(table).map((text, i) => ({ id: `drop-capture-${i + 1}`, description: `stop feeding ${archive}`, sql: text })),
    { id: 'guard-off', description: `stop guarding ${table.name}'s key columns`, sql: dropDdlGuardDdl(current) },
  ];
  const steps = [...locked, ...(o.keepArchive ? [] : [dropRetired])];
  Object.assign(result, { days_since_cutover: days === null ? null : Math.round(days * 10) / 10 });
  if (o.dryRun) return { ...result, steps: steps.map((s) => ({ ...s, status: 'not_executed' })) };
  return withAdvisoryLock(db, 'cutover', label, async () => {
    let granted = 0;
    await runGuarded(db, async (trx) => {
      // sql.raw: steps compiled by kysely above.
      for (const s of locked) {
        await sql.raw(s.sql).execute(trx);
        if (s.id === 'lock') granted = performance.now();
      }
    }, { ...guard, label: `retire ${label}` });
    result.lock_held_ms = Math.round((performance.now() - granted) * 10) / 10;
    if (!o.keepArchive) await runGuarded(db, (trx) => sql.raw(dropRetired.sql).execute(trx), { ...guard, label: `retire ${label}: drop the archive` }); // sql.raw: compiled above
    const reports = steps.map((s) => ({ ...s, status: 'succeeded' as const }));
    await writeAudit(db, { command: 'retire', table: label, appEnv: o.settings.appEnv }, 'succeeded', reports, { keep_archive: o.keepArchive === true });
    return { ...result, steps: reports };
  });
}

/** After cutover the change log runs from the table to its archive. */
function dropReverseLog(table: TableConfig): string[] {
  return dropChangeLogDdl({ schema: table.schema, name: table.name }, 'reverse');
}
