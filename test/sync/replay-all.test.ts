import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runSync, runSyncReplayAll, type SyncReplayAllResult } from '../../src/sync/run-sync.js';
import { runCli } from '../helpers/cli.js';
import { differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({}, {}, undefined);
const tables = [
  { schema: 'Ops Data', name: 'Synced Rows', layout: { type: 'hash' as const, key: 'k', partitions: 2 } },
  { schema: 'Ops Data', name: 'Quiet Rows', layout: { type: 'hash' as const, key: 'k', partitions: 2 } },
];
const config = parseConfig({ tables });

beforeAll(async () => {
  t = await createTestDatabase('replayall');
  await sql`create schema "Ops Data"`.execute(t.db);
  for (const x of tables) {
    await sql`create table ${sql.id(x.schema, x.name)} (id int primary key, k text not null, v text)`.execute(t.db);
    await sql`insert into ${sql.id(x.schema, x.name)} select g, 'k' || (g % 3), 'v' || g from generate_series(1, 500) g`.execute(t.db);
  }
  await prepareShadows(t, config);
  await runSync(stageFor(t, config, { settings }), { table: 'Synced Rows', action: 'enable' });
  await runBackfill(stageFor(t, config, { settings }), { table: 'Synced Rows' });
});
afterAll(async () => t.drop());

describe('sync replay without --table (one cron line)', () => {
  it('replays every table that has a change log and names the ones skipped, with the reason', async () => {
    await sql`update "Ops Data"."Synced Rows" set v = 'changed' where id <= 20`.execute(t.db);
    await sql`delete from "Ops Data"."Synced Rows" where id between 21 and 30`.execute(t.db);
    const waiting = async () => (await sql<{ n: number }>`select count(*)::int as n from "Ops Data"."Synced Rows_shadow" where v = 'changed'`.execute(t.db)).rows[0]!.n;
    expect(await waiting()).toBe(0);
    const r = await runSyncReplayAll(stageFor(t, config, { settings }));
    expect(r.ok).toBe(true);
    expect(r.tables.map((x) => [x.table, x.replay!.waiting])).toEqual([['Ops Data.Synced Rows', 0]]);
    expect(r.tables[0]!.replay!.entries).toBeGreaterThanOrEqual(30);
    expect(r.skipped).toEqual([{ table: 'Ops Data.Quiet Rows', reason: expect.stringMatching(/sync is not enabled on Ops Data\.Quiet Rows/) }]);
    expect(await differingRows(t.db, 'Ops Data', 'Synced Rows', 'Synced Rows_shadow')).toBe(0);

    // The CLI: `partgov sync replay` (no --table) as cron runs it; enable and disable still need --table.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-replay-all-'));
    const file = path.join(dir, 'partgov.config.json');
    await writeFile(file, JSON.stringify({ tables }));
    await sql`update "Ops Data"."Synced Rows" set v = 'again' where id = 40`.execute(t.db);
    const cli = await runCli(['--config', file, '--database-url', t.url, '--json', 'sync', 'replay']);
    expect(cli.code, cli.stderr).toBe(0);
    const out = cli.json<SyncReplayAllResult>();
    expect(out.tables.map((x) => x.table)).toEqual(['Ops Data.Synced Rows']);
    expect(out.skipped.map((x) => x.table)).toEqual(['Ops Data.Quiet Rows']);
    expect((await sql<{ v: string }>`select v from "Ops Data"."Synced Rows_shadow" where id = 40`.execute(t.db)).rows[0]!.v).toBe('again');
    const enable = await runCli(['--config', file, '--database-url', t.url, 'sync', 'enable']);
    expect(enable.code).toBe(2);
    expect(enable.stderr).toMatch(/--table is required/);
  });
});
