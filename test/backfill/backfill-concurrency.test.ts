import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { openDatabase } from '../../src/db/open-database.js';
import { runSync } from '../../src/sync/run-sync.js';
import { RunInProgressError } from '../../src/errors.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const rows = 20_000;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('concur');
  config = await createEventsTable(t.db, rows);
  await prepareShadows(t, config);
});
afterAll(async () => t.drop());

/** Inserts, updates (including the partition key) and deletes on the legacy table until stopped. */
function startWriter(url: string): { stop: () => Promise<number> } {
  const conn = openDatabase({ url, maxConnections: 3, applicationName: 'test writer' });
  let running = true;
  let ops = 0;
  const worker = async (seed: number) => {
    let i = seed;
    while (running) {
      i++;
      const id = 1 + ((i * 7919) % (rows + 2000));
      const op = i % 5;
      if (op === 0) {
        await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind", "Note") values (${`w:${i % 9}`}, 'w', ${`written ${i}`})`.execute(conn.db);
      } else if (op === 1 || op === 2) {
        await sql`update "Acct Data"."Acct Events" set "Note" = ${`updated ${i}`}, "Payload" = ${JSON.stringify({ u: i })}::jsonb where "ID" = ${id}`.execute(conn.db);
      } else if (op === 3) {
        await sql`update "Acct Data"."Acct Events" set "Scope Key" = ${`moved:${i % 11}`} where "ID" = ${id}`.execute(conn.db);
      } else {
        await sql`delete from "Acct Data"."Acct Events" where "ID" = ${id}`.execute(conn.db);
      }
      ops++;
    }
  };
  const workers = [worker(0), worker(100_000), worker(200_000)];
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      await conn.close();
      return ops;
    },
  };
}

describe('backfill with sync and a concurrent writer', () => {
  it('inserts, updates (also of the partition key) and deletes during the whole backfill: the two tables end exactly equal', async () => {
    const table = config.tables[0]!;
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    const writer = startWriter(t.url);
    await sleep(200);
    const result = await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 500, sleepMs: 5 });
    await sleep(200);
    const ops = await writer.stop();
    // Writes after the copy's final drain wait in the change log until replayed.
    const replay = await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
    expect(replay.rejected_keys).toBe(0);
    expect(replay.replay!.waiting).toBe(0);
    expect(result.complete).toBe(true);
    expect(result.sync_enabled).toBe(true);
    expect(result.replay.entries).toBeGreaterThan(0);
    expect(ops).toBeGreaterThan(200);
    const diff = await sql`(select 'legacy' as side, "ID", "Scope Key", "Note", "Payload" from "Acct Data"."Acct Events" except select 'legacy', "ID", "Scope Key", "Note", "Payload" from "Acct Data"."Acct Events_shadow")
      union all (select 'shadow', "ID", "Scope Key", "Note", "Payload" from "Acct Data"."Acct Events_shadow" except select 'shadow', "ID", "Scope Key", "Note", "Payload" from "Acct Data"."Acct Events") order by 2, 1`.execute(t.db);
    if (diff.rows.length) console.log(JSON.stringify(diff.rows, null, 0));
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);

    // disable removes exactly what enable added: later writes no longer reach the shadow
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
    const triggers = await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = '"Acct Data"."Acct Events"'::regclass and not tgisinternal`.execute(t.db);
    expect(triggers.rows[0]!.n).toBe(0);
    await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind") values ('after:1', 'x')`.execute(t.db);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(1);
  });

  it('with 3 batches in flight (--jobs 3) under the same writer: the two tables end exactly equal', async () => {
    const table = config.tables[0]!;
    await sql`truncate "Acct Data"."Acct Events_shadow"`.execute(t.db);
    await sql`delete from partgov.backfill_batch`.execute(t.db);
    await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    const pool = openDatabase({ url: t.url, maxConnections: 6, applicationName: 'partgov jobs' });
    const writer = startWriter(t.url);
    await sleep(200);
    const result = await runBackfill(stageFor(pool, config, { settings }), { table: table.name, batchSize: 300, sleepMs: 2, jobs: 3 });
    await sleep(200);
    const ops = await writer.stop();
    await pool.close();
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
    expect(result).toMatchObject({ complete: true, sync_enabled: true, mode: 'online' });
    expect(ops).toBeGreaterThan(200);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    const batches = await sql<{ n: number; max: number }>`select count(*)::int as n, max(batch_no)::int as max from partgov.backfill_batch`.execute(t.db);
    expect(batches.rows[0]!.n).toBe(result.batches);
    expect(batches.rows[0]!.max).toBe(result.batches);
  });

  it('a batch whose backend is terminated is retried and the run completes exactly (2 jobs: the batch after it rolls back too)', async () => {
    const table = config.tables[0]!;
    await sql`truncate "Acct Data"."Acct Events_shadow"`.execute(t.db);
    const victim = openDatabase({ url: t.url, maxConnections: 4, applicationName: 'partgov victim' });
    let terminated = 0;
    const killer = (async () => {
      for (let i = 0; i < 400 && terminated === 0; i++) {
        const r = await sql<{ ok: boolean }>`
          select pg_terminate_backend(pid) as ok from pg_stat_activity
          where application_name = 'partgov victim' and datname = current_database() and state = 'active' and query like '%with ins as%'`.execute(t.db);
        terminated += r.rows.filter((x) => x.ok).length;
        await sleep(5);
      }
    })();
    const result = await runBackfill(stageFor(victim, config, { settings }), { table: table.name, batchSize: 200, sleepMs: 2, restart: true, jobs: 2 });
    await killer;
    await victim.close();
    expect(terminated).toBeGreaterThanOrEqual(1);
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(result.complete).toBe(true);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });

  it('a run whose advisory-lock session dies stops before its next commit instead of copying unguarded beside a second run', async () => {
    const table = config.tables[0]!;
    await sql`truncate "Acct Data"."Acct Events_shadow"`.execute(t.db);
    await sql`delete from partgov.backfill_batch`.execute(t.db);
    await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
    const pool = openDatabase({ url: t.url, maxConnections: 4, applicationName: 'partgov lockloss' });
    let killed = 0;
    try {
      const run = runBackfill(stageFor(pool, config, { settings, onProgress: (p) => {
          if (p.figures.batches === 3 && killed === 0) {
            killed = -1;
            void sql<{ n: number }>`
              select count(pg_terminate_backend(pid))::int as n from pg_locks
              where locktype = 'advisory' and classid::int = hashtext('partgov:backfill') and objid::int = hashtext('Acct Data.Acct Events')
                and database = (select oid from pg_database where datname = current_database())`
              .execute(t.db).then((r) => (killed = r.rows[0]!.n));
          }
        } }), { table: table.name, batchSize: 200, sleepMs: 20 });
      const err = await run.then(() => null, (e: unknown) => e);
      expect(killed).toBe(1);
      expect(err).toBeInstanceOf(RunInProgressError);
      expect((err as Error).message).toMatch(/lost its advisory lock/);
      const cp = await sql<{ batches: number }>`select batches::int from partgov.backfill_checkpoint`.execute(t.db);
      expect(cp.rows[0]!.batches).toBeLessThan(rows / 200);
    } finally {
      await pool.close();
    }
    // The next run resumes and finishes exactly.
    const rest = await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 2000 });
    expect(rest).toMatchObject({ complete: true, resumed: true });
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });
});
