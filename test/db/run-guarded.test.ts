import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdvisoryLock } from '../../src/db/advisory-lock.js';
import { openDatabase } from '../../src/db/open-database.js';
import { runGuarded, type GuardRetryEvent } from '../../src/db/run-guarded.js';
import { LockUnavailableError, RunInProgressError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase('guard');
  await sql`create table "Locked Table" (id int)`.execute(t.db);
});
afterAll(async () => t.drop());

describe('runGuarded', () => {
  it('gives up within lock_timeout per attempt, retries as configured, then throws LockUnavailableError and changes nothing', async () => {
    const blocker = openDatabase({ url: t.url, maxConnections: 1 });
    await blocker.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`lock table "Locked Table" in access exclusive mode`.execute(conn);
      const retries: GuardRetryEvent[] = [];
      const t0 = performance.now();
      const attempt = runGuarded(
        t.db,
        (trx) => sql`alter table ${sql.table('Locked Table')} add column added int`.execute(trx),
        { label: 'add column', lockTimeoutMs: 300, statementTimeoutMs: 0, retries: 2, minBackoffMs: 50, onRetry: (e) => retries.push(e) },
      );
      await expect(attempt).rejects.toBeInstanceOf(LockUnavailableError);
      // 3 attempts, each ended by its own 300 ms lock_timeout (55P03), not by one long wait.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
      expect(retries.map((r) => r.sqlstate)).toEqual(['55P03', '55P03']);
      await sql`rollback`.execute(conn);
    });
    await blocker.close();
    const cols = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_name = 'Locked Table' and column_name = 'added'`.execute(t.db);
    expect(cols.rows[0]!.n).toBe(0);
  });

  it('does not retry errors that are not about locks', async () => {
    let calls = 0;
    await expect(
      runGuarded(t.db, async (trx) => { calls++; await sql`select * from no_such_table`.execute(trx); }, { label: 'x', lockTimeoutMs: 100, statementTimeoutMs: 0, retries: 3 }),
    ).rejects.toMatchObject({ code: '42P01' });
    expect(calls).toBe(1);
  });
});

describe('withAdvisoryLock', () => {
  it('a second holder of the same (operation, table) fails at once naming the holder; another table is free', async () => {
    const other = openDatabase({ url: t.url, maxConnections: 2 });
    await withAdvisoryLock(t.db, 'backfill', 'public.t', async () => {
      // Were it to wait for the lock, this would never return: the holder releases only after it.
      const err = await withAdvisoryLock(other.db, 'backfill', 'public.t', async () => 'ran').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunInProgressError);
      expect((err as RunInProgressError).exitCode).toBe(4);
      expect((err as RunInProgressError).message).toMatch(/pid \d+/);
      expect(await withAdvisoryLock(other.db, 'backfill', 'public.u', async () => 'ran')).toBe('ran');
      expect(await withAdvisoryLock(other.db, 'verify', 'public.t', async () => 'ran')).toBe('ran');
    });
    expect(await withAdvisoryLock(other.db, 'backfill', 'public.t', async () => 'ran')).toBe('ran');
    await other.close();
  });
});
