import { sql, type Kysely, type QueryExecutorProvider, type Transaction } from 'kysely';
import pRetry from 'p-retry';
import { LockUnavailableError, sqlStateOf } from '../errors.js';
import { isRetryableLockError } from './sqlstate.js';

export interface GuardOptions {
  /** Names the step in messages and retry events, e.g. "create shadow parent". */
  label: string;
  lockTimeoutMs: number;
  /** 0 means no statement timeout. */
  statementTimeoutMs: number;
  /** Retries after the first attempt, on lock timeout, deadlock or serialization failure. */
  retries: number;
  /** More SET LOCAL settings, set in the same round trip as the timeouts. */
  settings?: Readonly<Record<string, string>>;
  /** First backoff delay; doubles each retry with jitter. */
  minBackoffMs?: number;
  onRetry?: (event: GuardRetryEvent) => void;
}

export interface GuardRetryEvent {
  label: string;
  attempt: number;
  retriesLeft: number;
  sqlstate: string | undefined;
  message: string;
}

/**
 * Sets lock_timeout and statement_timeout (and any `extra` settings) for the
 * current transaction only, in one round trip. set_config(..., true) is SET
 * LOCAL with name and value as parameters, so nothing is spliced into SQL text.
 */
export async function setLocalTimeouts(
  trx: QueryExecutorProvider,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
  extra: Readonly<Record<string, string>> = {},
): Promise<void> {
  const settings: [string, string][] = [['lock_timeout', `${lockTimeoutMs}ms`], ['statement_timeout', `${statementTimeoutMs}ms`], ...Object.entries(extra)];
  await sql`select ${sql.join(settings.map(([name, value]) => sql`set_config(${name}, ${value}, true)`))}`.execute(trx);
}

/**
 * Runs `work` in one transaction under lock_timeout/statement_timeout, retrying
 * the whole transaction on lock timeout (55P03), deadlock (40P01) and
 * serialization failure (40001) with jittered exponential backoff. Any other
 * error is thrown at once. When retries run out it throws LockUnavailableError
 * (exit 4): the transaction rolled back, so nothing changed.
 *
 * @example
 * await runGuarded(db, (trx) => sql`alter table ${sql.table('t')} rename to ${sql.id('t_legacy')}`.execute(trx),
 *   { label: 'rename', lockTimeoutMs: 2000, statementTimeoutMs: 0, retries: 5 });
 */
export async function runGuarded<DB, T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>) => Promise<T>,
  options: GuardOptions,
): Promise<T> {
  try {
    return await pRetry(
      () =>
        db.transaction().execute(async (trx) => {
          await setLocalTimeouts(trx, options.lockTimeoutMs, options.statementTimeoutMs, options.settings);
          return work(trx);
        }),
      {
        retries: options.retries,
        minTimeout: options.minBackoffMs ?? 200,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
        shouldRetry: ({ error }) => isRetryableLockError(error),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (!isRetryableLockError(error) || retriesLeft === 0) return;
          options.onRetry?.({
            label: options.label,
            attempt: attemptNumber,
            retriesLeft,
            sqlstate: sqlStateOf(error),
            message: error.message,
          });
        },
      },
    );
  } catch (err) {
    if (isRetryableLockError(err)) {
      throw new LockUnavailableError(
        `${options.label}: could not get its lock within lock_timeout ${options.lockTimeoutMs} ms after ${options.retries + 1} attempts (${(err as Error).message})`,
        {
          fix: 'another session holds a conflicting lock (see pg_locks / pg_stat_activity); run again when it is gone, or raise --lock-timeout',
          cause: err,
          details: { sqlstate: sqlStateOf(err), attempts: options.retries + 1 },
        },
      );
    }
    throw err;
  }
}

/**
 * Lets this transaction's COMMIT release its locks without waiting for the
 * WAL flush (synchronous_commit off, for this transaction only). For a short
 * switch under exclusive locks that is the flush's milliseconds off the lock;
 * it stays durable as long as a synchronous commit follows before success is
 * reported (the audit row's: WAL is flushed in order, so that flush covers it).
 */
export async function releaseLocksBeforeFlush(trx: QueryExecutorProvider): Promise<void> {
  await sql`select set_config('synchronous_commit', 'off', true)`.execute(trx);
}
