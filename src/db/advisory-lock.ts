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

/** The pid of the session holding partgov's advisory lock on (operation, table) in this database, or null. */
export async function advisoryLockHolder<DB>(db: Kysely<DB>, operation: string, table: string): Promise<{ pid: number; application_name: string } | null> {
  const holder = await sql<{ pid: number; application_name: string }>`
    select l.pid, a.application_name
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted
      and l.database = (select oid from pg_database where datname = current_database())
      and l.classid::int = hashtext(${`partgov:${operation}`}) and l.objid::int = hashtext(${table})
      and l.objsubid = 2
    limit 1`.execute(db);
  return holder.rows[0] ?? null;
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
  return withAdvisoryLocks(db, operation, [table], work);
}

/**
 * withAdvisoryLock for several tables at once, on one connection: all or none
 * (the ones already taken are released when one is busy).
 */
export async function withAdvisoryLocks<DB, T>(
  db: Kysely<DB>,
  operation: string,
  tables: readonly string[],
  work: (lock: HeldAdvisoryLock) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    const taken: string[] = [];
    const release = async () => {
      for (const t of taken) await sql`select pg_advisory_unlock(${lockKeys(operation, t)})`.execute(conn).catch(() => undefined);
    };
    for (const table of tables) {
      const got = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${lockKeys(operation, table)}) as locked`.execute(conn);
      if (got.rows[0]?.locked) {
        taken.push(table);
        continue;
      }
      await release();
      const h = await advisoryLockHolder(conn, operation, table);
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
    const first = tables[0]!;
    const lock: HeldAdvisoryLock = {
      pid: me.pid,
      stillHeld: () => sql<{ held: boolean }>`
        select exists (select 1 from pg_locks l join pg_stat_activity a on a.pid = l.pid
                       where l.pid = ${me.pid} and a.backend_start::text = ${me.started}
                         and l.locktype = 'advisory' and l.granted and l.objsubid = 2
                         and l.database = (select oid from pg_database where datname = current_database())
                         and l.classid::int = hashtext(${`partgov:${operation}`}) and l.objid::int = hashtext(${first})) as held`,
    };
    try {
      return await work(lock);
    } finally {
      await release();
    }
  });
}
