import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { runStatus } from '../../src/status/run-status.js';
import { runSync } from '../../src/sync/run-sync.js';
import { createAppRole } from '../helpers/app-role.js';
import { createEventsTable, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const table = 'Acct Events';

beforeAll(async () => {
  t = await createTestDatabase('status');
  config = await createEventsTable(t.db, 20_000);
  await prepareShadows(t, config);
  await runSync(stageFor(t, config), { table, action: 'enable' });
});
afterAll(async () => t.drop());

/** The application's writes, as a non-owner role: each row logs one change-log entry that nothing replays yet. */
async function applicationInserts(rows: number): Promise<void> {
  const app = await createAppRole(t, [{ schema: 'Acct Data', name: table }]);
  try {
    const pool = app.open(1);
    await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind") select 's' || (g % 9), 'app' from generate_series(1, ${rows}::int) g`.execute(pool.db);
  } finally {
    await app.drop();
  }
}

describe('status and a change log nothing drains', () => {
  it('warns when over 100,000 entries wait, saying what drains them: the unfinished copy that holds replay back, then a scheduled sync replay', async () => {
    // A fresh copy stopped early: its primary key is deferred, so replay waits.
    const stopped = await runBackfill(stageFor(t, config), { table, batchSize: 100, maxDuration: 0.01 });
    expect(stopped.complete).toBe(false);
    await applicationInserts(100_001);
    const held = (await runStatus(stageFor(t, config))).checks[0]!;
    expect(held).toMatchObject({ status: 'warn', detail: 'backfilling, 100001 change-log entries waiting' });
    expect(held.fix).toMatch(/^the copy is not complete, and while its primary key is deferred replay waits: run `partgov backfill --table Acct Data.Acct Events`/);
    // The copy completes and drains the log: nothing to say.
    await runBackfill(stageFor(t, config), { table });
    expect((await runStatus(stageFor(t, config))).checks[0]).toMatchObject({ status: 'pass', detail: 'backfilled' });
    // Copy done, nothing replaying: the log grows with the application's writes.
    await applicationInserts(100_001);
    const idle = (await runStatus(stageFor(t, config))).checks[0]!;
    expect(idle).toMatchObject({ status: 'warn', detail: 'backfilled, 100001 change-log entries waiting' });
    expect(idle.fix).toMatch(/^schedule `partgov sync replay` \(cron, every minute\)/);
    await runSync(stageFor(t, config), { table, action: 'replay' });
    expect((await runStatus(stageFor(t, config))).checks[0]!.status).toBe('pass');
  });
});
