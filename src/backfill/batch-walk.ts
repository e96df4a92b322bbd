import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { ShadowPair } from '../db/shadow-pair.js';
import { connectionLostStates, retryableLockStates, SqlState } from '../db/sqlstate.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { DatabaseError, InputInvalidError, isConnectionError, LockUnavailableError, RunInProgressError, sqlStateOf } from '../errors.js';
import type { HeldAdvisoryLock } from '../db/advisory-lock.js';
import { compileDdl } from '../db/compile-ddl.js';
import { notNullWithoutLongLock } from '../changelog/shadow-compatibility.js';
import { waitForCanary, type CanaryFigures, type CanaryProbe } from './canary.js';
import { batchQuery, chunkBoundsQuery, type BatchMode, type ChunkBounds, type KeysetPosition } from './batch-query.js';

/** How the walk runs; see runBackfill for what each knob means to a user. */
export interface BatchWalkOptions {
  pair: ShadowPair;
  /** The last key to copy (the highest key when the run started). */
  upTo: KeysetPosition;
  /** The checkpoint: copy keys after this one (null: from the first key). */
  startAfter: KeysetPosition | null;
  /** Batches committed by earlier runs, so batch numbers continue without a gap. */
  batchesBefore: number;
  mode: BatchMode;
  syncEnabled: boolean;
  /** Insert each batch sorted by the shadow key (see batchQuery). */
  sortBatches: boolean;
  /** Batches in flight at once, each on its own connection. */
  jobs: number;
  /** Starting batch size and the ceiling adaptive sizing grows back to. */
  batchSize: number;
  maxBatchMs: number;
  maxRetries: number;
  sleepMs: number;
  /** performance.now() after which no new batch starts. */
  deadline: number | undefined;
  onCommitted: (batch: CommittedBatch) => void;
  onEvent: (message: string) => void;
  /** The run's advisory lock: a batch never commits once its session lost it. */
  lock?: HeldAdvisoryLock;
  /** --canary-sql: timed before each batch is dispatched; none is while it is over its bound. */
  canary?: { probe: CanaryProbe; figures: CanaryFigures };
}

/** The run's advisory-lock session is gone (server restart, terminated): stop, another run may hold the table now. */
export class BackfillLockLostError extends RunInProgressError {}

export interface CommittedBatch {
  row_count: number;
  inserted: number;
  /** The batch size the walk uses from now on. */
  batch_size: number;
}

export interface BatchWalkResult {
  stopped_reason: 'complete' | 'max_duration';
  batches: number;
  retries: number;
  conflict_fallbacks: number;
  batch_size_final: number;
}

const minBatchSize = 100;

/** A batch rolled back because an earlier batch of the window failed; not an error of its own. */
class SupersededBatch extends Error {}

interface Chunk {
  after: KeysetPosition | null;
  first: KeysetPosition;
  end: KeysetPosition;
  mode: BatchMode;
}

/** How to treat an error thrown by a batch: retry it (and whether to shrink), or stop. */
function classify(err: unknown): { retry: boolean; shrink: boolean } {
  const code = sqlStateOf(err);
  if (code !== undefined && retryableLockStates.has(code)) return { retry: true, shrink: true };
  if (code === SqlState.queryCanceled) return { retry: true, shrink: true }; // statement_timeout: the batch is too big
  if ((code !== undefined && connectionLostStates.has(code)) || isConnectionError(err)) return { retry: true, shrink: false };
  return { retry: false, shrink: false };
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // the last batch of a window has no successor to observe its failure
  return { promise, resolve, reject };
}

/**
 * Walks the legacy key range (startAfter, upTo] in batches, up to `jobs` at
 * once on separate connections, and commits them strictly in key order.
 *
 * Each batch runs its INSERT … SELECT as soon as it is dispatched, then waits
 * for the batch before it to commit, and only then writes the checkpoint (its
 * own last key) and its batch record and commits. So every committed
 * checkpoint is the end of a gap-free prefix of the key range: a `kill -9`, a
 * server crash (commit records reach the WAL in the same order) or a failed
 * batch never leaves a later batch committed beside an earlier one missing.
 * When a batch fails, the batches after it roll back (they wait for it), and
 * the walk starts a new window from the last committed key, with a smaller
 * batch size for lock and statement timeouts and after a backoff.
 *
 * Chunk bounds are probed by the dispatcher, one batch ahead of the workers,
 * so with one job the probe overlaps the running batch instead of preceding it.
 */
export async function walkBatches(db: PartgovKysely, o: BatchWalkOptions): Promise<BatchWalkResult> {
  let committedKey = o.startAfter;
  let committedBatches = o.batchesBefore;
  let mode = o.mode;
  let batchSize = o.batchSize;
  let failures = 0;
  let retries = 0;
  let conflictFallbacks = 0;

  // One statement, so no transaction: the session's own timeouts apply.
  const probe = async (after: KeysetPosition | null): Promise<ChunkBounds> => (await chunkBoundsQuery(o.pair, after, o.upTo, batchSize).execute(db)).rows[0]!;

  const runChunk = async (chunk: Chunk, previousCommitted: Promise<void>): Promise<void> => {
    const started = performance.now();
    let copyMs = 0;
    const r = await db.transaction().execute(async (trx) => {
      const outcome = (await batchQuery(o.pair, chunk.after, chunk.end, chunk.mode, o.sortBatches).execute(trx)).rows[0]!;
      copyMs = performance.now() - started;
      try {
        await previousCommitted;
      } catch {
        throw new SupersededBatch();
      }
      // Checkpoint, batch record and the advisory-lock check in one statement: each round trip
      // between two batches is time a job's connection stands idle (~1-2 ms each with the
      // other jobs' backends busy on a 2-core server).
      const checkpoint =
        outcome.row_count === 0
          ? undefined
          : trx
              .with('checkpoint', (qb) =>
                qb
                  .updateTable('partgov.backfill_checkpoint')
                  .set({
                    last_key: JSON.stringify(chunk.end),
                    rows_copied: sql`rows_copied + ${outcome.row_count}`,
                    batches: sql`batches + 1`,
                    offline_batches: o.syncEnabled ? sql`offline_batches` : sql`offline_batches + 1`,
                    done: false,
                    updated_at: sql`now()`,
                  })
                  .where('table_name', '=', o.pair.label),
              )
              .with('batch', (qb) =>
                qb
                  .insertInto('partgov.backfill_batch')
                  .values({
                    table_name: o.pair.label,
                    batch_no: committedBatches + 1,
                    first_key: JSON.stringify(chunk.first),
                    last_key: JSON.stringify(chunk.end),
                    row_count: outcome.row_count,
                    checksum: outcome.checksum,
                    duration_ms: Math.round(copyMs),
                  })
                  .onConflict((oc) => oc.columns(['table_name', 'batch_no']).doNothing()),
              );
      const held = (o.lock ? sql<boolean>`(${o.lock.stillHeld()})` : sql<boolean>`true`).as('held');
      const written = await (checkpoint ? checkpoint.selectNoFrom(held) : trx.selectNoFrom(held)).executeTakeFirstOrThrow();
      if (!written.held) {
        // Thrown inside the transaction: its checkpoint rolls back with the batch.
        throw new BackfillLockLostError(`backfill ${o.pair.label} lost its advisory lock (the server restarted, or its session was terminated); stopped before committing another batch`, {
          fix: 'run `partgov backfill` again: it resumes from the checkpoint, and refuses (exit 4) if another run holds the table now',
          details: { operation: 'backfill', table: o.pair.label },
        });
      }
      return outcome;
    });
    // Runs before this batch's commit is signalled, so the next batch numbers after it.
    committedKey = chunk.end;
    if (r.row_count > 0) committedBatches++;
    failures = 0;
    if (copyMs > o.maxBatchMs && batchSize > minBatchSize) {
      batchSize = Math.max(minBatchSize, Math.floor(batchSize / 2));
      o.onEvent(`batch took ${Math.round(copyMs)} ms > ${o.maxBatchMs} ms: batch size now ${batchSize}`);
    } else if (copyMs < o.maxBatchMs / 2 && batchSize < o.batchSize) {
      batchSize = Math.min(o.batchSize, Math.ceil(batchSize * 1.5));
    }
    if (r.row_count > 0) o.onCommitted({ row_count: r.row_count, inserted: r.inserted, batch_size: batchSize });
  };

  let resync = false;
  for (;;) {
    // One window: dispatch from the last committed key until the end, the deadline or a failure.
    let failure: unknown;
    let outcome: 'complete' | 'max_duration' | undefined;
    if (resync) {
      // After a failure, the checkpoint row is the truth: a COMMIT whose connection
      // broke may have landed or not, and only the database knows which.
      try {
        const cp = await db
          .selectFrom('partgov.backfill_checkpoint')
          .select(['last_key', 'batches'])
          .where('table_name', '=', o.pair.label)
          .executeTakeFirstOrThrow();
        committedKey = cp.last_key as KeysetPosition | null;
        committedBatches = Number(cp.batches);
      } catch (err) {
        failure = err;
      }
    }
    resync = true;
    let dispatchAfter = committedKey;
    let previousCommitted: Promise<void> = Promise.resolve();
    const running = new Set<Promise<void>>();
    while (failure === undefined) {
      if (o.deadline !== undefined && performance.now() > o.deadline) {
        outcome = 'max_duration';
        break;
      }
      if (o.canary) {
        try {
          await waitForCanary(o.canary.probe, o.canary.figures, {
            deadline: o.deadline,
            onEvent: o.onEvent,
            // Lighter batches once the application is hurting; adaptive sizing grows them back.
            onSlow: () => (batchSize = Math.max(minBatchSize, Math.floor(batchSize / 2))),
          });
        } catch (err) {
          failure = err;
          break;
        }
        if (o.deadline !== undefined && performance.now() > o.deadline) {
          outcome = 'max_duration';
          break;
        }
      }
      let bounds: ChunkBounds;
      try {
        bounds = await probe(dispatchAfter);
      } catch (err) {
        failure = err;
        break;
      }
      if (bounds.first_key === null) {
        outcome = 'complete';
        break;
      }
      const chunk: Chunk = { after: dispatchAfter, first: bounds.first_key, end: bounds.last_key ?? o.upTo, mode };
      dispatchAfter = chunk.end;
      // A job is free once its batch has committed. Letting it copy the next one while the last
      // waited for its turn to commit (2 x jobs transactions open) measured 1-3% slower on 2 cores.
      while (running.size >= o.jobs) await Promise.race(running);
      if (failure !== undefined) break;
      const committed = deferred();
      const task: Promise<void> = runChunk(chunk, previousCommitted)
        .then(
          async () => {
            committed.resolve();
            if (o.sleepMs > 0) await sleep(o.sleepMs);
          },
          (err: unknown) => {
            committed.reject(err);
            if (!(err instanceof SupersededBatch)) failure ??= err;
          },
        )
        .finally(() => running.delete(task));
      running.add(task);
      previousCommitted = committed.promise;
    }
    await Promise.all(running);
    if (failure === undefined && outcome !== undefined) {
      return {
        stopped_reason: outcome,
        batches: committedBatches - o.batchesBefore,
        retries,
        conflict_fallbacks: conflictFallbacks,
        batch_size_final: batchSize,
      };
    }

    if (mode !== 'offline_yield' && sqlStateOf(failure) === SqlState.uniqueViolation) {
      // Rows of this range are already in the shadow (an earlier run, or writes by
      // hand): redo the batch yielding to them, and keep yielding from here on.
      mode = 'offline_yield';
      conflictFallbacks++;
      o.onEvent('rows already in the shadow: batches now skip the keys it holds');
      continue;
    }
    // By the server function that raised it (the message is translated where lc_messages is not English).
    if (sqlStateOf(failure) === SqlState.checkViolation && (failure as { routine?: string }).routine === 'ExecFindPartition') {
      // A row dated outside every premade range partition, and no DEFAULT to take it.
      const detail = (failure as { detail?: string }).detail ?? '';
      throw new InputInvalidError(`backfill ${o.pair.label}: a row after key ${JSON.stringify(committedKey)} has no partition in ${o.pair.shadow.name} (${(failure as Error).message}${detail ? `; ${detail}` : ''})`, {
        fix: 'give the layout "default_partition": true, or an earlier "start" / more "premake", plan again and apply it; then run backfill again (the checkpoint is kept)',
        cause: failure,
      });
    }
    const code = sqlStateOf(failure);
    if (code?.startsWith('23')) throw shadowRejectsRow(o.pair, committedKey, failure as PgConstraintError);
    const kind = classify(failure);
    failures++;
    if (!kind.retry || failures > o.maxRetries) {
      if (code !== undefined && retryableLockStates.has(code)) {
        throw new LockUnavailableError(
          `backfill ${o.pair.label}: batch after key ${JSON.stringify(committedKey)} could not get its locks after ${failures} attempts`,
          {
            fix: 'a long transaction holds row locks on the legacy table; run again later (the checkpoint is kept), or raise --lock-timeout',
            cause: failure,
          },
        );
      }
      if (kind.retry) {
        throw new DatabaseError(`backfill ${o.pair.label}: gave up after ${failures} failed attempts: ${(failure as Error).message}`, {
          fix: 'check the server; run the same command again to resume from the checkpoint',
          cause: failure,
        });
      }
      throw failure;
    }
    retries++;
    if (kind.shrink) batchSize = Math.max(minBatchSize, Math.floor(batchSize / 2));
    const backoff = Math.min(10_000, 100 * 2 ** (failures - 1)) * (0.5 + Math.random());
    o.onEvent(
      `batch failed (${sqlStateOf(failure) ?? (failure as Error).message}); retry ${failures}/${o.maxRetries} in ${Math.round(backoff)} ms with batch size ${batchSize}`,
    );
    await sleep(backoff);
  }
}

/** The fields node-postgres copies from the server's error report. */
interface PgConstraintError extends Error {
  detail?: string;
  column?: string;
  constraint?: string;
}

/**
 * A legacy row the shadow refuses (a NOT NULL the legacy column lacks, a
 * CHECK or FOREIGN KEY only the shadow has): retrying cannot help, and the
 * batches before it stay committed, so the DBA is told which row and how to
 * mend it; the next run resumes from the checkpoint.
 */
function shadowRejectsRow(pair: ShadowPair, committedKey: KeysetPosition | null, err: PgConstraintError): InputInvalidError {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const where = committedKey ? `the batch after key ${JSON.stringify(committedKey)}` : 'the first batch';
  const fix = err.column && sqlStateOf(err) === SqlState.notNullViolation
    ? `find them (${compileDdl(sql`select ${sql.join(pair.legacyKey.map((c) => sql.id(c.name)))} from ${legacy} where ${sql.id(err.column)} is null`)}), fill them, then ${notNullWithoutLongLock(legacy, err.column)}`
    : `find the legacy rows that break ${err.constraint ?? 'it'} (the detail above names one), repair them or drop the constraint from the shadow`;
  return new InputInvalidError(`backfill ${pair.label}: the shadow ${pair.shadow.name} rejects a legacy row of ${where}: ${err.message}${err.detail ? ` (${err.detail})` : ''}`, {
    fix: `${fix}; then run backfill again: it resumes from its checkpoint`,
    cause: err,
    details: { sqlstate: sqlStateOf(err), column: err.column ?? null, constraint: err.constraint ?? null },
  });
}
