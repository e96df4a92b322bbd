import { sql, type Kysely, type RawBuilder } from 'kysely';
import { RunInProgressError } from '../errors.js';

/**
 * The two int4 keys of partgov's advisory lock for (operation, table).
 * hashtext() runs in the server so every client computes the same keys; the
 * first key is namespaced with "partgov:" so it cannot collide with an
 * application's own int4 pair by accident more often than any hash would.
 */
function lockKeys(operation: string, table: string) {
  return sql`hashtext(${`partgov:${operation}`}), hashtext(${table})`;
}

/** The session holding an advisory lock, and a query that tells whether it still does. */
export interface HeldAdvisoryLock {
  pid: number;
  /**
   * `select … as held`: true while that very session (pid and start time, so a
   * reused pid after a server restart does not count) still holds the lock.
   * Run it inside a transaction that must not commit without the lock.
   */
  stillHeld(): RawBuilder<{ held: boolean }>;
}

/**
 * Holds a session-level advisory lock on (operation, table) on a dedicated
 * connection while `work` runs; a second run on the same pair fails at once
 * with RunInProgressError (exit 4) naming the holder's pid. The lock dies with
 * the session, so a killed run never leaves it behind.
 */
export async function withAdvisoryLock<DB, T>(
  db: Kysely<DB>,
  operation: string,
  table: string,
  work: (lock: HeldAdvisoryLock) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    const got = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${lockKeys(operation, table)}) as locked`.execute(conn);
    if (!got.rows[0]?.locked) {
      const holder = await sql<{ pid: number; application_name: string; started: Date | null }>`
        select l.pid, a.application_name, a.backend_start as started
        from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted
          and l.database = (select oid from pg_database where datname = current_database())
          and l.classid::int = hashtext(${`partgov:${operation}`}) and l.objid::int = hashtext(${table})
          and l.objsubid = 2
        limit 1`.execute(conn);
      const h = holder.rows[0];
      throw new RunInProgressError(
        `another partgov ${operation} run holds the lock for ${table}${h ? ` (pid ${h.pid}, ${h.application_name})` : ''}`,
        {
          fix: h
            ? `wait for it to finish, or stop it (select pg_terminate_backend(${h.pid})) and run again`
            : 'wait for the other run to finish and run again',
          details: { operation, table, holder_pid: h?.pid ?? null },
        },
      );
    }
    const me = (await sql<{ pid: number; started: string }>`select pg_backend_pid() as pid, backend_start::text as started from pg_stat_activity where pid = pg_backend_pid()`.execute(conn)).rows[0]!;
    const lock: HeldAdvisoryLock = {
      pid: me.pid,
      stillHeld: () => sql<{ held: boolean }>`
        select exists (select 1 from pg_locks l join pg_stat_activity a on a.pid = l.pid
                       where l.pid = ${me.pid} and a.backend_start::text = ${me.started}
                         and l.locktype = 'advisory' and l.granted and l.objsubid = 2
                         and l.database = (select oid from pg_database where datname = current_database())
                         and l.classid::int = hashtext(${`partgov:${operation}`}) and l.objid::int = hashtext(${table})) as held`,
    };
    try {
      return await work(lock);
    } finally {
      await sql`select pg_advisory_unlock(${lockKeys(operation, table)})`.execute(conn).catch(() => undefined);
    }
  });
}
