import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { PartgovDatabase } from '../db/open-database.js';
import { SqlState } from '../db/sqlstate.js';
import { InputInvalidError, sqlStateOf } from '../errors.js';

/** What the canary saw over a run: in the backfill result, so a change ticket can quote it. */
export interface CanaryFigures {
  sql: string;
  max_ms: number;
  runs: number;
  /** Slowest run (a timed-out run counts as its timeout). */
  slowest_ms: number;
  /** Times the copy paused because the canary was over max_ms, and for how long in all. */
  pauses: number;
  paused_ms: number;
}

/** Latency of one canary run, ms; a run cut by its timeout counts as the timeout. */
export type CanaryProbe = () => Promise<number>;

/**
 * The application's own read, timed: backfill dispatches no new batch while it
 * is slower than `maxMs`. It runs exactly as written in a READ ONLY transaction
 * (a query that writes fails there, and is refused when the run starts), over
 * the extended protocol, which takes one statement only: `select 1; commit;
 * delete …` cannot end that transaction and write. A statement timeout of ten
 * times the bound (at least a second) makes a canary stuck behind a lock count
 * as slow instead of stalling the copy's dispatcher.
 */
export function canaryProbe(database: PartgovDatabase, query: string, maxMs: number): CanaryProbe {
  const timeoutMs = Math.max(1000, maxMs * 10);
  return async () => {
    const client = await database.pool.connect();
    let broken: unknown;
    try {
      await client.query('begin read only');
      try {
        await client.query({ text: 'select set_config($1, $2, true)', values: ['statement_timeout', `${timeoutMs}ms`] });
        // pg's queryMode (missing from @types/pg): the extended protocol even without parameters.
        const extended: pg.QueryConfig & { queryMode: 'extended' } = { text: query, queryMode: 'extended' };
        const t0 = performance.now();
        try {
          await client.query(extended); // the DBA's own query (--canary-sql)
        } catch (err) {
          if (sqlStateOf(err) === SqlState.queryCanceled) return timeoutMs;
          throw err;
        }
        return Math.round((performance.now() - t0) * 10) / 10;
      } finally {
        await client.query('rollback').catch((err: unknown) => (broken = err));
      }
    } finally {
      // A connection whose ROLLBACK failed is closed, not handed back mid-transaction.
      client.release(broken instanceof Error ? broken : undefined);
    }
  };
}

/** Runs the canary once before anything changes: a query that fails or writes is bad input (exit 2). */
export async function assertCanaryRuns(probe: CanaryProbe, query: string): Promise<number> {
  try {
    return await probe();
  } catch (err) {
    throw new InputInvalidError(`--canary-sql failed: ${(err as Error).message}`, {
      fix: `pass a read-only query of the application's that runs as partgov's role, e.g. --canary-sql 'select * from orders where customer_id = 42 limit 20' (got: ${query.slice(0, 200)})`,
      cause: err,
    });
  }
}

/**
 * Pacing on the canary: called before each batch is dispatched. Over the bound,
 * it waits (250 ms, doubling to 8 s) and runs the canary again until it is
 * under, or the run's deadline passes; `onSlow` fires once per episode (the
 * walk halves its batch size then).
 */
export async function waitForCanary(
  probe: CanaryProbe,
  figures: CanaryFigures,
  o: { deadline: number | undefined; onEvent: (m: string) => void; onSlow: () => void },
): Promise<void> {
  let ms = await probe();
  figures.runs++;
  figures.slowest_ms = Math.max(figures.slowest_ms, ms);
  if (ms <= figures.max_ms) return;
  o.onSlow();
  figures.pauses++;
  const started = performance.now();
  const pastDeadline = () => o.deadline !== undefined && performance.now() > o.deadline;
  for (let pause = 250; ms > figures.max_ms && !pastDeadline(); pause = Math.min(8000, pause * 2)) {
    o.onEvent(`canary took ${ms} ms > ${figures.max_ms} ms: no new batch for ${pause} ms`);
    await sleep(pause);
    ms = await probe();
    figures.runs++;
    figures.slowest_ms = Math.max(figures.slowest_ms, ms);
  }
  const paused = Math.round(performance.now() - started);
  figures.paused_ms += paused;
  o.onEvent(ms > figures.max_ms ? `canary still at ${ms} ms when --max-duration ran out (${paused} ms paused)` : `canary back to ${ms} ms: batches resume after ${paused} ms paused`);
}
