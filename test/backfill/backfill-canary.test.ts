import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { InputInvalidError } from '../../src/errors.js';
import { replayChanges } from '../../src/changelog/replay-changes.js';
import { resolveShadowPair } from '../../src/db/shadow-pair.js';
import { runSync } from '../../src/sync/run-sync.js';
import { createAppRole } from '../helpers/app-role.js';
import { startAppWriter } from '../helpers/app-writer.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const schema = 'Acct Data';
const table = 'Acct Events';
/** The application's read the DBA names as the canary; slow while the control row says so. */
const canarySql = `select pg_sleep(case when slow then 0.3 else 0 end) from canary_ctl`;
const checkpointOf = async () => (await sql<{ n: number }>`select count(*)::int as n from partgov.backfill_checkpoint`.execute(t.db)).rows[0]!.n;

beforeAll(async () => {
  t = await createTestDatabase('canary');
  config = await createEventsTable(t.db, 12_000);
  await prepareShadows(t, config);
  await sql`create table canary_ctl (slow boolean not null)`.execute(t.db);
  await sql`insert into canary_ctl values (false)`.execute(t.db);
});
afterAll(async () => t.drop());

describe('backfill paced by a canary query', () => {
  it('refuses a canary that fails, one that writes, and a bound without a canary, before anything changes', async () => {
    const bad = (input: Record<string, unknown>) => runBackfill(stageFor(t, config), { table, ...input }).catch((e: unknown) => e);
    const syntax = await bad({ canarySql: 'selec 1' });
    expect(syntax).toBeInstanceOf(InputInvalidError);
    expect((syntax as Error).message).toMatch(/^--canary-sql failed: syntax error/);
    const writes = await bad({ canarySql: `delete from "Acct Data"."Acct Events"` });
    expect((writes as Error).message).toMatch(/--canary-sql failed: cannot execute DELETE in a read-only transaction/);
    // Several statements cannot end the read-only transaction and write: the extended protocol takes one.
    const smuggled = await bad({ canarySql: `select 1; commit; delete from "Acct Data"."Acct Events"` });
    expect((smuggled as Error).message).toMatch(/--canary-sql failed: cannot insert multiple commands into a prepared statement/);
    expect(await bad({ canaryMaxMs: 50 })).toBeInstanceOf(InputInvalidError);
    expect((await sql<{ n: number }>`select count(*)::int as n from "Acct Data"."Acct Events"`.execute(t.db)).rows[0]!.n).toBe(12_000);
    expect((await sql<{ n: number }>`select count(*)::int as n from "Acct Data"."Acct Events_shadow"`.execute(t.db)).rows[0]!.n).toBe(0);
    expect(await checkpointOf()).toBe(0);
  });

  it('starts no batch while the canary is over its bound, resumes when it recovers, and copies exactly while the application writes', async () => {
    await runSync(stageFor(t, config), { table, action: 'enable' });
    const app = await createAppRole(t, [{ schema, name: table }]);
    const pool = app.open(2);
    const writer = startAppWriter(async (i) => {
      await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind", "Note") values (${`s${i % 7}`}::text, 'live', 'w')`.execute(pool.db);
      await sql`update "Acct Data"."Acct Events" set "Note" = 'u' || ${i}::text where "ID" = ${1 + ((i * 37) % 12_000)}::bigint`.execute(pool.db);
    });
    // The timeline, in the order things happened: batches committed, pauses, the recovery.
    const timeline: string[] = [];
    let slowSet: Promise<unknown> | undefined;
    let fastSet: Promise<unknown> | undefined;
    let pausesSeen = 0;
    try {
      const r = await runBackfill(
        stageFor(t, config, {
          onProgress: (p) => {
            timeline.push('batch');
            // A few batches in, the application's read turns slow.
            if (Number(p.figures?.batches) >= 3 && !slowSet) slowSet = sql`update canary_ctl set slow = true`.execute(t.db);
          },
          log: (m) => {
            if (m.startsWith('canary took')) {
              timeline.push('pause');
              // After two pauses the application recovers.
              if (++pausesSeen === 2) fastSet = sql`update canary_ctl set slow = false`.execute(t.db);
            } else if (m.startsWith('canary back')) timeline.push('resume');
          },
        }),
        { table, batchSize: 500, canarySql, canaryMaxMs: 100 },
      );
      await slowSet;
      await fastSet;
      expect(r.complete).toBe(true);
      expect(r.canary).toMatchObject({ sql: canarySql, max_ms: 100, pauses: 1 });
      expect(r.canary!.slowest_ms).toBeGreaterThan(100);
      expect(r.canary!.paused_ms).toBeGreaterThan(0);
      expect(r.canary!.runs).toBeGreaterThan(r.batches);
      // Between the first pause and the recovery at most the one batch already in flight (--jobs 1) committed.
      const first = timeline.indexOf('pause');
      const resumed = timeline.indexOf('resume');
      expect(first).toBeGreaterThan(0);
      expect(resumed).toBeGreaterThan(first);
      expect(timeline.slice(first, resumed).filter((x) => x === 'batch').length).toBeLessThanOrEqual(1);
      expect(timeline.slice(resumed).filter((x) => x === 'batch').length).toBeGreaterThan(0);
    } finally {
      await writer.stop();
      await app.drop();
    }
    expect(writer.failures).toEqual([]);
    expect(writer.rounds).toBeGreaterThan(0);
    const pair = await resolveShadowPair(t.db, config.tables[0]!);
    await replayChanges(t.db, pair, { lockTimeoutMs: 5000, statementTimeoutMs: 60_000 });
    expect(await differingRows(t.db, schema, table, `${table}_shadow`)).toBe(0);
  });
});
