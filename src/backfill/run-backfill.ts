import { sql } from 'kysely';
import { z } from 'zod';
import { configuredTable, type StageContext } from '../stage/stage-context.js';
import { flagInput, numberInput, optionalNumberInput, parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import type { TableConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { writeAudit } from '../steps/run-steps.js';
import { runGuarded, setLocalTimeouts } from '../db/run-guarded.js';
import { quietWrites, replicaWrites } from '../changelog/target-triggers.js';
import { resolveShadowPair, type ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import type { PartgovDatabase } from '../db/open-database.js';
import { InputInvalidError } from '../errors.js';
import { assertStateSchema } from '../state/state-schema.js';
import { isSyncEnabled } from '../changelog/sync-state.js';
import { replayChanges, startReplayLoop, type ReplayResult } from '../changelog/replay-changes.js';
import { sqlStateOf } from '../errors.js';
import { highestKeyQuery, type KeysetPosition } from './batch-query.js';
import { assertCanaryRuns, canaryProbe, type CanaryFigures } from './canary.js';
import { walkBatches } from './batch-walk.js';
import { deferrableIndexes, deferrablePrimaryKey, deferredIndexDropSteps, deferredIndexRebuilds, dropDeferredIndexes, rebuildDeferredIndexes, primaryKeyRebuildSteps, rebuildPrimaryKey, rebuildSteps, type DeferredIndex, type DeferredPrimaryKey } from './deferred-indexes.js';
import { readPartitionTree } from '../db/catalog.js';
import { compileDdl, compileForReading } from '../db/compile-ddl.js';
import type { Step, StepReport } from '../steps/run-steps.js';
import { batchQuery } from './batch-query.js';
import { judged, type Check, type StageVerdict } from '../checks/check.js';

/** More batches in flight than this only queue on locks and WAL. */
export const maxJobs = 16;

/** The canary's bound when --canary-sql comes without --canary-max-ms. */
const defaultCanaryMaxMs = 100;

/** backfill's input: defaults and limits once, for the library and the CLI. */
export const backfillInputSchema = z.object({
  table: textInput(`configured table (${tableNameForms})`),
  batchSize: numberInput({ min: 1, max: 1_000_000, integer: true, default: 50_000, describe: 'rows per batch (the ceiling adaptive sizing returns to)' }),
  jobs: numberInput({ min: 1, max: maxJobs, integer: true, default: 1, describe: 'batches in flight at once, each on its own connection; also leaf index builds at once' }),
  sleepMs: numberInput({ min: 0, max: 3_600_000, integer: true, default: 0, describe: 'pause between batches, to leave I/O for the application' }),
  maxBatchMs: numberInput({ min: 1, max: 3_600_000, integer: true, default: 5000, describe: 'a batch slower than this halves the batch size' }),
  maxDuration: optionalNumberInput({ min: 0.01, max: 31_536_000, describe: 'stop cleanly (checkpoint kept) after this many seconds; run again to continue' }),
  keepIndexes: flagInput("keep the shadow's primary key and secondary indexes during a fresh copy (slower; by default they are dropped for the copy and built leaf by leaf once it completes)"),
  restart: flagInput('empty the shadow, forget the checkpoint and copy from the first key again'),
  dryRun: flagInput('print what the run would do (restart, deferred index drop and rebuild, the copy statement); change nothing'),
  maxRetries: numberInput({ min: 0, max: 1000, integer: true, default: 10, describe: 'consecutive failed attempts of one batch before giving up' }),
  canarySql: z.string().min(1, { message: 'must not be empty' }).optional().describe("a read-only query of the application's, timed before each batch: while it takes longer than --canary-max-ms no new batch starts"),
  canaryMaxMs: optionalNumberInput({ min: 1, max: 600_000, integer: true, describe: `the canary's bound in ms (default ${defaultCanaryMaxMs} with --canary-sql)` }),
});
export type BackfillInput = z.input<typeof backfillInputSchema>;

interface BackfillOptions {
  settings: RuntimeSettings;
  batchSize: number;
  jobs: number;
  sleepMs: number;
  maxBatchMs: number;
  maxDurationSec: number | undefined;
  keepIndexes: boolean;
  restart: boolean;
  dryRun: boolean;
  maxRetries: number;
  canarySql?: string | undefined;
  canaryMaxMs?: number | undefined;
  onProgress: (p: BackfillProgress) => void;
  onEvent: (message: string) => void;
}

export interface BackfillProgress {
  table: string;
  total_rows_copied: number;
  rows_estimate: number;
  batches: number;
  batch_size: number;
  rows_per_sec: number;
  eta_sec: number | null;
}

export interface BackfillResult extends StageVerdict {
  table: string;
  shadow: string;
  /** --dry-run: nothing ran; `steps` is what would. */
  dry_run: boolean;
  /** The statements around the copy (restart, deferred index drop and rebuild) and the copy's own, with what became of each. */
  steps: StepReport[];
  complete: boolean;
  stopped_reason: 'complete' | 'max_duration';
  resumed: boolean;
  sync_enabled: boolean;
  /** online: sync on (the change log is replayed as the copy advances); offline: sync off. */
  mode: 'online' | 'offline';
  /** --restart emptied the shadow and forgot the checkpoint first. */
  restarted: boolean;
  /** Batches of this table copied while sync was off; with sync on now, rows changed in between may be stale. */
  offline_batches: number;
  /** Offline batches that met rows already in the shadow and were redone yielding to them. */
  conflict_fallbacks: number;
  rows_copied: number;
  rows_skipped_existing: number;
  total_rows_copied: number;
  batches: number;
  retries: number;
  batch_size_final: number;
  duration_ms: number;
  rows_per_sec: number;
  /** Peak resident memory of this process so far (the CLI process when run from the CLI). */
  peak_rss_mb: number;
  /** build_ms: time spent building the dropped indexes back (part of duration_ms). */
  deferred_indexes: { dropped: string[]; leaf_indexes_built: number; build_ms: number };
  final_checkpoint: { last_key: KeysetPosition | null; batches: number; rows_copied: number };
  /** Change-log replay during and after the copy (sync on); zeros when sync is off. */
  replay: Pick<ReplayResult, 'entries' | 'keys' | 'rejected' | 'waiting'>;
  /** --canary-sql: its runs, slowest run, and the pauses it caused; null without it. */
  canary: CanaryFigures | null;
}

interface CheckpointRow {
  last_key: KeysetPosition | null;
  rows_copied: string;
  batches: string;
  offline_batches: string;
  done: boolean;
  deferred_indexes: DeferredIndex[];
}

const batchWorkMemBytes = 64 * 1024 * 1024;

function guardOf(o: BackfillOptions) {
  return { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries };
}

async function readCheckpoint(db: PartgovKysely, label: string): Promise<CheckpointRow | undefined> {
  return db
    .selectFrom('partgov.backfill_checkpoint')
    .select(['last_key', 'rows_copied', 'batches', 'offline_batches', 'done', sql<DeferredIndex[]>`deferred_indexes`.as('deferred_indexes')])
    .where('table_name', '=', label)
    .executeTakeFirst() as Promise<CheckpointRow | undefined>;
}

async function rowsEstimate(db: PartgovKysely, pair: ShadowPair): Promise<number> {
  if (pair.legacy.rowEstimate > 0) return pair.legacy.rowEstimate;
  const r = await sql<{ n: string }>`select count(*) as n from ${sql.id(pair.legacy.schema, pair.legacy.name)}`.execute(db);
  return Number(r.rows[0]!.n);
}

/**
 * Whether batches should be sorted by the shadow key (it helps the shadow's
 * indexes take their rows): not when the copy goes without them (the primary
 * key deferred, no unique index), nor when the legacy table's rows already
 * arrive in that order along its primary key, i.e. the shadow key's first
 * column correlates with the legacy key's (a timestamp rising with an identity). pg_stats' correlation is physical order, which a
 * freshly loaded or append-mostly table shares with its key; no statistics: sort.
 */
async function sortsBatches(db: PartgovKysely, pair: ShadowPair, deferred: readonly DeferredIndex[]): Promise<boolean> {
  // Into a shadow with no index during the copy the sort is pure cost (1e6 rows into 32
  // hash leaves, no index, 20 batches by hand: 1.4 s unsorted against 2.2 s sorted).
  const keyDeferred = deferred.some((i) => i.primary_key !== undefined);
  if (keyDeferred && !pair.shadow.indexes.some((i) => i.isUnique && !i.isPrimary)) return false;
  const first = pair.shadowKey[0];
  if (first === undefined || first === pair.legacyKey[0]?.name) return false; // the walk's own order
  const r = await sql<{ c: number | null }>`
    select abs(correlation)::float8 as c from pg_stats
    where schemaname = ${pair.legacy.schema} and tablename = ${pair.legacy.name} and attname = ${first}`.execute(db);
  const c = r.rows[0]?.c;
  return !(c !== null && c !== undefined && c > 0.98);
}

/**
 * The batch sorts its rows by the shadow key (see batchQuery): 64 MB of
 * work_mem keeps a batch of 50k rows of ~1 KB in memory. A higher server
 * setting is left alone.
 */
async function batchWorkMem(db: PartgovKysely): Promise<{ work_mem?: string }> {
  const r = await sql<{ bytes: string }>`select pg_size_bytes(current_setting('work_mem'))::text as bytes`.execute(db);
  return Number(r.rows[0]!.bytes) < batchWorkMemBytes ? { work_mem: `${batchWorkMemBytes / 1024}kB` } : {};
}

/**
 * `partgov backfill`: copies the legacy table into its shadow in keyset
 * batches. Each batch's INSERT … SELECT and its checkpoint row commit in one
 * transaction, so a run killed at any instant resumes from the last committed
 * batch with no row lost or copied twice. The walk ends at the highest key
 * present when the run started; later inserts reach the shadow through sync
 * (a run without sync picks them up when run again). Transient errors (lock timeout,
 * deadlock, serialization failure, statement timeout, a dropped connection)
 * are retried with backoff; one run per table at a time (exit 4 otherwise).
 */
export async function runBackfill(ctx: StageContext, input: BackfillInput): Promise<BackfillResult> {
  const i = parseStageInput('backfill', backfillInputSchema, input);
  const table = configuredTable(ctx, 'backfill', i.table);
  // One connection for the advisory lock, one for replay, one for the rest (the batches have their own pool).
  const own = ctx.database.open({ maxConnections: 3 });
  try {
    const r = await backfillTable(own, table, {
      ...i,
      maxDurationSec: i.maxDuration,
      settings: ctx.settings,
      onEvent: ctx.log,
      onProgress: (p) => ctx.onProgress({ stage: 'backfill', table: p.table, done: p.total_rows_copied, total: p.rows_estimate, unit: 'rows', per_sec: p.rows_per_sec, eta_sec: p.eta_sec, figures: { batches: p.batches, batch_size: p.batch_size } }),
    });
    return judged(r, backfillChecks(r));
  } finally {
    await own.close();
  }
}

async function backfillTable(database: PartgovDatabase, table: TableConfig, o: BackfillOptions): Promise<Omit<BackfillResult, keyof StageVerdict>> {
  const db = database.db;
  await assertStateSchema(db);
  const pair = await resolveShadowPair(db, table);
  const ceiling = o.batchSize;
  const jobs = o.jobs;
  if (jobs > 1 && o.settings.lockTimeoutMs <= 0) {
    // A batch waiting for the one before it is invisible to PostgreSQL's deadlock
    // detector; lock_timeout is what turns a lock cycle through the application into a retry.
    throw new InputInvalidError(`--jobs ${jobs} needs a lock_timeout, and it is off (0)`, {
      fix: 'pass --lock-timeout 5000 (or set lock_timeout_ms in the config), or run with --jobs 1',
    });
  }
  const event = o.onEvent;
  if (o.canaryMaxMs !== undefined && o.canarySql === undefined) {
    throw new InputInvalidError('--canary-max-ms needs --canary-sql: the query whose latency it bounds', { fix: "add --canary-sql '<a read-only query of the application's>', or drop --canary-max-ms" });
  }
  const canaryMaxMs = o.canaryMaxMs ?? defaultCanaryMaxMs;
  const canary = o.canarySql === undefined ? undefined : { probe: canaryProbe(database, o.canarySql, canaryMaxMs), figures: { sql: o.canarySql, max_ms: canaryMaxMs, runs: 0, slowest_ms: 0, pauses: 0, paused_ms: 0 } };
  // Before anything changes: a canary that fails or writes is bad input.
  if (canary) event(`canary: ${await assertCanaryRuns(canary.probe, canary.figures.sql)} ms now; no new batch while it is over ${canaryMaxMs} ms`);
  if (o.dryRun) return dryRunOf(db, pair, o);
  return withAdvisoryLock(db, 'backfill', pair.label, async (lock) => {
    const t0 = performance.now();
    // Batches (and replay) write the shadow as a replica: the application's triggers there stay quiet, or the run is refused.
    const asReplica = await quietWrites(db, pair.shadow, pair.mayWriteAsReplica, 'backfill-target-triggers');
    // What ran besides the batches themselves, for the result and the audit row.
    const steps: Step[] = [];
    if (o.restart) {
      // Indexes an unfinished copy dropped stay dropped: the new copy builds them when it completes.
      const stillDropped = (await readCheckpoint(db, pair.label))?.deferred_indexes ?? [];
      // Emptying the shadow makes the restart exact whatever it held (stale rows,
      // rows of keys deleted since). TRUNCATE locks only the shadow, which no
      // application statement touches; logged changes stay and replay once copied.
      await runGuarded(
        db,
        async (trx) => {
          if (asReplica) await setLocalTimeouts(trx, o.settings.lockTimeoutMs, o.settings.statementTimeoutMs, replicaWrites); // no ON TRUNCATE trigger of the application's
          await sql.raw(restartStep(pair).sql).execute(trx); // sql.raw: compiled by kysely in restartStep
          await trx.deleteFrom('partgov.backfill_batch').where('table_name', '=', pair.label).execute();
          await trx.deleteFrom('partgov.backfill_checkpoint').where('table_name', '=', pair.label).execute();
          if (stillDropped.length > 0) {
            await trx
              .insertInto('partgov.backfill_checkpoint')
              .values({ table_name: pair.label, shadow_table: `${pair.shadow.schema}.${pair.shadow.name}`, deferred_indexes: JSON.stringify(stillDropped) })
              .execute();
          }
        },
        { ...guardOf(o), label: `backfill --restart ${pair.label}` },
      );
      steps.push(restartStep(pair));
      event('restart: shadow emptied and checkpoint forgotten; copying from the first key');
    }
    const existing = await readCheckpoint(db, pair.label);
    const resumed = existing !== undefined && existing.last_key !== null;
    if (!existing) {
      await db
        .insertInto('partgov.backfill_checkpoint')
        .values({ table_name: pair.label, shadow_table: `${pair.shadow.schema}.${pair.shadow.name}` })
        .execute();
    }
    let totalRows = Number(existing?.rows_copied ?? 0);
    let totalBatches = Number(existing?.batches ?? 0);
    let deferred: DeferredIndex[] = existing?.deferred_indexes ?? [];
    const guard = guardOf(o);
    const syncEnabled = await isSyncEnabled(db, pair.legacy.schema, pair.legacy.name);
    // With sync on, a finished copy is kept exact by replay alone: walking again
    // would copy rows replay already wrote.
    const upTo = existing?.done && syncEnabled && !o.restart ? null : ((await highestKeyQuery(pair).execute(db)).rows[0]?.key ?? null);

    if (deferred.length > 0 && o.keepIndexes) {
      event(`--keep-indexes: ${deferred.map((i) => i.name).join(', ')} were dropped when this copy started; they are built once it completes`);
    }
    if (defersIndexes(o, existing, upTo) && deferred.length === 0) {
      const primaryKey = await deferrablePrimaryKey(db, pair);
      const toDrop = [...(primaryKey ? [primaryKey] : []), ...deferrableIndexes(pair)];
      if (toDrop.length > 0) {
        const dropSteps = deferredIndexDropSteps(pair, toDrop);
        await dropDeferredIndexes(db, dropSteps, guard, async (trx) => {
          await trx
            .updateTable('partgov.backfill_checkpoint')
            .set({ deferred_indexes: JSON.stringify(toDrop) })
            .where('table_name', '=', pair.label)
            .execute();
        });
        deferred = toDrop;
        steps.push(...dropSteps);
        event(`dropped ${toDrop.length} index(es) of ${pair.shadow.name} for the copy: ${toDrop.map((i) => i.name).join(', ')}${primaryKey ? ' (replay of the change log waits for the primary key, built when the copy completes)' : ''}`);
      }
    }

    if (!syncEnabled) event(`sync is not enabled on ${pair.label}: writes made to it during and after this copy will not reach the shadow (partgov sync enable)`);
    let offlineBatches = o.restart ? 0 : Number(existing?.offline_batches ?? 0);
    if (syncEnabled && offlineBatches > 0) {
      event(`${offlineBatches} earlier batch(es) were copied while sync was off: rows changed before sync was enabled may be stale; re-copy them with --restart`);
    }
    const estimate = await rowsEstimate(db, pair);
    let totalRowsThisRun = 0;
    let skipped = 0;
    const replay = { entries: 0, keys: 0, rejected: 0, waiting: 0 };
    const replayOptions = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs };
    const addReplay = (r: ReplayResult) => {
      replay.entries += r.entries;
      replay.keys += r.keys;
      replay.rejected += r.rejected;
      replay.waiting = r.waiting;
    };
    // Replays logged changes behind the copy on its own connection, so the log stays short.
    const replayLoop = syncEnabled
      ? startReplayLoop(db, pair, { ...replayOptions, onRound: addReplay, onError: (err) => event(`replay behind the copy failed (${sqlStateOf(err) ?? (err as Error).message}); trying again`) })
      : undefined;
    // The batches' and index builds' own sessions, which start with their settings: a
    // transaction's SET LOCAL would cost each batch a round trip more. Asynchronous commit
    // is safe for both: a crash loses a batch together with its checkpoint, or a build that
    // the next run redoes (`if not exists`); the synchronous checkpoint updates below flush
    // them before success is reported.
    const batchSessions = database.open({
      maxConnections: jobs + 1, // one per job, and one for chunk probes
      sessionSettings: {
        lock_timeout: `${o.settings.lockTimeoutMs}ms`,
        statement_timeout: `${o.settings.statementTimeoutMs}ms`,
        synchronous_commit: 'off',
        ...(await batchWorkMem(db)),
        ...(asReplica ? replicaWrites : {}),
      },
    });
    try {
      let walk: Awaited<ReturnType<typeof walkBatches>> | undefined;
      try {
        walk =
          upTo === null
            ? undefined
            : await walkBatches(batchSessions.db, {
                pair,
                upTo,
                startAfter: existing?.last_key ?? null,
                batchesBefore: Number(existing?.batches ?? 0),
                // As a replica a DEFERRABLE key's check (a trigger) is skipped too: batches then skip present keys themselves.
                mode: asReplica && pair.shadow.constraints.some((c) => (c.kind === 'primary_key' || c.kind === 'unique') && /\sDEFERRABLE\b/.test(c.definition)) ? 'offline_yield' : syncEnabled ? 'online' : 'offline',
                syncEnabled,
                sortBatches: await sortsBatches(db, pair, deferred),
                jobs,
                batchSize: ceiling,
                maxBatchMs: o.maxBatchMs,
                maxRetries: o.maxRetries,
                sleepMs: o.sleepMs,
                deadline: o.maxDurationSec === undefined ? undefined : t0 + o.maxDurationSec * 1000,
                onEvent: event,
                lock,
                ...(canary ? { canary } : {}),
                onCommitted: (b) => {
                  totalRows += b.row_count;
                  totalBatches++;
                  totalRowsThisRun += b.row_count;
                  skipped += b.row_count - b.inserted;
                  if (!syncEnabled) offlineBatches++;
                  const secs = (performance.now() - t0) / 1000;
                  const rate = secs > 0 ? totalRowsThisRun / secs : 0;
                  o.onProgress({
                    table: pair.label,
                    total_rows_copied: totalRows,
                    rows_estimate: Math.max(estimate, totalRows),
                    batches: totalBatches,
                    batch_size: b.batch_size,
                    rows_per_sec: Math.round(rate),
                    eta_sec: rate > 0 ? Math.max(0, Math.round((estimate - totalRows) / rate)) : null,
                  });
                },
              });
      } finally {
        await replayLoop?.stop();
      }
      const stoppedReason = walk?.stopped_reason ?? 'complete';
      let leafIndexesBuilt = 0;
      let buildMs = 0;
      const dropped = deferred.map((i) => i.name);
      const keyDeferred = deferred.find((i) => i.primary_key !== undefined);
      if (stoppedReason !== 'complete' && keyDeferred && syncEnabled) {
        event(`stopped before the copy completed: its primary key ${keyDeferred.name} is built when it does, and until then replay waits while the change log keeps the application's writes; run backfill again to finish (a fresh copy with --keep-indexes keeps replay running instead)`);
      }
      if (stoppedReason === 'complete') {
        await db.updateTable('partgov.backfill_checkpoint').set({ done: true, updated_at: sql`now()` }).where('table_name', '=', pair.label).execute();
        const primaryKey = deferred.find((i): i is DeferredIndex & { primary_key: DeferredPrimaryKey } => i.primary_key !== undefined);
        if (primaryKey) {
          event(`copy complete; building the primary key ${primaryKey.name} leaf by leaf`);
          const buildStarted = performance.now();
          const rest = deferred.filter((i) => i !== primaryKey);
          const key = await rebuildPrimaryKey(batchSessions.db, pair, primaryKey, guard, jobs, async (trx) => {
            await trx.updateTable('partgov.backfill_checkpoint').set({ deferred_indexes: JSON.stringify(rest) }).where('table_name', '=', pair.label).execute();
          });
          steps.push(...key.steps);
          deferred = rest;
          leafIndexesBuilt += key.built;
          buildMs += Math.round(performance.now() - buildStarted);
        }
        // Done: every logged key is replayable now; drain what the copy left behind.
        if (syncEnabled) addReplay(await replayChanges(db, pair, replayOptions));
      }
      // Totals come from the checkpoint row, the one record that commits with the rows.
      const final = (await readCheckpoint(db, pair.label))!;
      const rowsBefore = Number(existing?.rows_copied ?? 0);
      totalRows = Number(final.rows_copied);
      totalBatches = Number(final.batches);
      offlineBatches = Number(final.offline_batches);

      if (stoppedReason === 'complete' && deferred.length > 0) {
        event(`copy complete; building ${deferred.length} deferred index(es) leaf by leaf`);
        const buildStarted = performance.now();
        const rebuilds = deferredIndexRebuilds(pair, await readPartitionTree(db, pair.shadow), deferred);
        leafIndexesBuilt += await rebuildDeferredIndexes(batchSessions.db, rebuilds, guard, jobs);
        steps.push(...rebuildSteps(rebuilds));
        buildMs += Math.round(performance.now() - buildStarted);
        await db.updateTable('partgov.backfill_checkpoint').set({ deferred_indexes: '[]' }).where('table_name', '=', pair.label).execute();
        // The application kept writing during the build: leave the shadow as current as the copy left it.
        if (syncEnabled) addReplay(await replayChanges(db, pair, replayOptions));
      }
      const durationMs = Math.round(performance.now() - t0);
      const result: Omit<BackfillResult, keyof StageVerdict> = {
        table: pair.label,
        shadow: `${pair.shadow.schema}.${pair.shadow.name}`,
        dry_run: false,
        steps: steps.map((x) => ({ ...x, status: 'succeeded' as const })),
        complete: stoppedReason === 'complete',
        stopped_reason: stoppedReason,
        resumed,
        sync_enabled: syncEnabled,
        mode: syncEnabled ? 'online' : 'offline',
        restarted: o.restart,
        offline_batches: offlineBatches,
        conflict_fallbacks: walk?.conflict_fallbacks ?? 0,
        rows_copied: totalRows - rowsBefore,
        rows_skipped_existing: skipped,
        total_rows_copied: totalRows,
        batches: walk?.batches ?? 0,
        retries: walk?.retries ?? 0,
        batch_size_final: walk?.batch_size_final ?? ceiling,
        duration_ms: durationMs,
        rows_per_sec: durationMs > 0 ? Math.round(((totalRows - rowsBefore) * 1000) / durationMs) : 0,
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        deferred_indexes: { dropped, leaf_indexes_built: leafIndexesBuilt, build_ms: buildMs },
        final_checkpoint: { last_key: final.last_key, batches: totalBatches, rows_copied: totalRows },
        replay,
        canary: canary?.figures ?? null,
      };
      // Backfill writes into the shadow: the audit log says who copied what, when (restart and deferred indexes included).
      await writeAudit(db, { command: 'backfill', table: pair.label, appEnv: o.settings.appEnv }, 'succeeded', result.steps, {
        restarted: result.restarted, rows_copied: result.rows_copied, batches: result.batches, stopped_reason: result.stopped_reason,
        duration_ms: durationMs, deferred_indexes: result.deferred_indexes, final_checkpoint: result.final_checkpoint,
      });
      return result;
    } finally {
      await batchSessions.close();
    }
  });
}

/**
 * Whether this run drops the shadow's secondary indexes for its copy: when the
 * copy starts from the first key (a fresh shadow, or --restart), unless
 * --keep-indexes. Building an index once over the copied rows costs far less
 * than keeping it through every batch (1e6 rows into a monthly range shadow,
 * one index on (text, timestamptz): 1.8 s + 0.7 s build against 4.0 s). A resumed
 * copy keeps whatever its first run chose; a run with nothing to copy drops nothing.
 */
function defersIndexes(o: Pick<BackfillOptions, 'keepIndexes' | 'restart'>, existing: CheckpointRow | undefined, upTo: KeysetPosition | null): boolean {
  return !o.keepIndexes && upTo !== null && (o.restart || !existing || existing.last_key === null);
}

/** --restart's statement: the shadow emptied (the checkpoint rows go in the same transaction). */
function restartStep(pair: ShadowPair): Step {
  return { id: 'restart', description: `empty ${pair.shadow.name} and forget the checkpoint (TRUNCATE locks only the shadow, which no application statement touches)`, sql: compileDdl(sql`truncate ${sql.id(pair.shadow.schema, pair.shadow.name)}`) };
}

/**
 * What a run would do, from the checkpoint and the catalog, changing nothing:
 * the restart, the deferred indexes' drop and rebuild, and the copy statement
 * (written for the whole remaining key range; each batch runs it for its own
 * chunk, its checkpoint row in the same transaction).
 */
async function dryRunOf(db: PartgovKysely, pair: ShadowPair, o: BackfillOptions): Promise<Omit<BackfillResult, keyof StageVerdict>> {
  const checkpoint = await readCheckpoint(db, pair.label);
  const existing = o.restart ? undefined : checkpoint;
  const syncEnabled = await isSyncEnabled(db, pair.legacy.schema, pair.legacy.name);
  const after = existing?.last_key ?? null;
  const upTo = (await highestKeyQuery(pair).execute(db)).rows[0]?.key ?? null;
  // Indexes an unfinished copy dropped stay dropped through a --restart too.
  const stillDropped = checkpoint?.deferred_indexes ?? [];
  const primaryKey = stillDropped.length || !defersIndexes(o, existing, upTo) ? null : await deferrablePrimaryKey(db, pair, o.restart);
  const deferred = stillDropped.length ? stillDropped : defersIndexes(o, existing, upTo) ? [...(primaryKey ? [primaryKey] : []), ...deferrableIndexes(pair)] : [];
  const keyRebuild = deferred.filter((i): i is DeferredIndex & { primary_key: DeferredPrimaryKey } => i.primary_key !== undefined).flatMap((i) => primaryKeyRebuildSteps(pair, i));
  const sorted = await sortsBatches(db, pair, deferred);
  const copy: Step[] =
    upTo === null || (existing?.done && syncEnabled)
      ? []
      : [{
          id: 'copy',
          description: `copy ${after === null ? 'from the first key' : `after key ${JSON.stringify(after)}`} to ${JSON.stringify(upTo)} in keyset batches of up to ${o.batchSize} rows, ${o.jobs} at a time, ${syncEnabled ? 'online (the change log replays behind the copy)' : 'offline (sync is off)'}`,
          sql: compileForReading(batchQuery(pair, after, upTo, syncEnabled ? 'online' : 'offline', sorted)),
        }];
  const steps = [
    ...(o.restart ? [restartStep(pair)] : []),
    ...(stillDropped.length ? [] : deferredIndexDropSteps(pair, deferred)),
    ...copy,
    ...keyRebuild,
    ...rebuildSteps(deferredIndexRebuilds(pair, await readPartitionTree(db, pair.shadow), deferred)),
  ];
  const rows = Number(existing?.rows_copied ?? 0);
  return {
    table: pair.label, shadow: `${pair.shadow.schema}.${pair.shadow.name}`, dry_run: true, steps: steps.map((x) => ({ ...x, status: 'not_executed' as const })),
    complete: false, stopped_reason: 'complete', resumed: after !== null, sync_enabled: syncEnabled, mode: syncEnabled ? 'online' : 'offline', restarted: false,
    offline_batches: Number(existing?.offline_batches ?? 0), conflict_fallbacks: 0, rows_copied: 0, rows_skipped_existing: 0, total_rows_copied: rows,
    batches: 0, retries: 0, batch_size_final: o.batchSize, duration_ms: 0, rows_per_sec: 0, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    deferred_indexes: { dropped: [], leaf_indexes_built: 0, build_ms: 0 }, final_checkpoint: { last_key: after, batches: Number(existing?.batches ?? 0), rows_copied: rows },
    replay: { entries: 0, keys: 0, rejected: 0, waiting: 0 },
    canary: null,
  };
}

/** A run passes when it copied what it set out to; a stop at --max-duration warns (run again), rejected rows fail (verify names them). */
function backfillChecks(r: Omit<BackfillResult, keyof StageVerdict>): Check[] {
  if (r.dry_run) return [{ name: 'copy', status: 'skip', detail: `dry run: ${r.steps.length} statement(s) listed, nothing changed` }];
  return [
    r.complete
      ? { name: 'copy', status: 'pass', detail: `${r.rows_copied} row(s) copied in ${r.batches} batch(es); ${r.total_rows_copied} in all`, figures: { rows_copied: r.rows_copied, rows_per_sec: r.rows_per_sec } }
      : { name: 'copy', status: 'warn', detail: `stopped at --max-duration after ${r.rows_copied} row(s); the checkpoint is kept`, fix: 'run `partgov backfill` again to continue', figures: { rows_copied: r.rows_copied } },
    r.replay.rejected > 0
      ? { name: 'rejected_keys', status: 'fail', detail: `the shadow rejected ${r.replay.rejected} logged key(s)`, fix: 'run `partgov verify` to list them; see runbooks/application-errors.md', figures: { rejected: r.replay.rejected } }
      : { name: 'rejected_keys', status: 'pass', detail: 'the shadow took every logged change', figures: { rejected: 0 } },
  ];
}
