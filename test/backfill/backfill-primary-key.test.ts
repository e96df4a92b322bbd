import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { deferrablePrimaryKey } from '../../src/backfill/deferred-indexes.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { resolveShadowPair } from '../../src/db/shadow-pair.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runCutover } from '../../src/cutover/run-cutover.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { createAppRole } from '../helpers/app-role.js';
import { cliPath } from '../helpers/cli.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({}, {}, undefined);
const shadow = '"Acct Data"."Acct Events_shadow"';

beforeAll(async () => {
  t = await createTestDatabase('pkey');
});
afterAll(async () => t.drop());

/** A new events table of `rows` rows and its fresh shadow, with no checkpoint of an earlier test. */
async function freshEventsTable(rows: number) {
  await sql`drop table if exists "Acct Data"."Acct Events_shadow", "Acct Data"."Acct Events"`.execute(t.db);
  const config = await createEventsTable(t.db, rows);
  await prepareShadows(t, config);
  await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
  return { config, table: config.tables[0]!.name };
}

const rowsCopied = async () => (await sql<{ n: number }>`select coalesce(max(rows_copied), 0)::int as n from partgov.backfill_checkpoint`.execute(t.db)).rows[0]!.n;

/** The config as a file, for the CLI. */
function configFile(config: PartgovConfig): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'partgov-pkey-')), 'partgov.config.json');
  writeFileSync(file, JSON.stringify({ tables: config.tables }));
  return file;
}

const primaryKeyCount = async () =>
  (await sql<{ n: number }>`select count(*)::int as n from pg_constraint c join pg_partition_tree(${shadow}::regclass) p on p.relid = c.conrelid where c.contype = 'p'`.execute(t.db)).rows[0]!.n;

describe('backfill copies without the shadow primary key and builds it after', () => {
  it('while a copy killed with kill -9 has the key dropped, replay waits (the application writes as a non-owner role), and the run that completes builds it and replays them', async () => {
    const { config, table } = await freshEventsTable(4000);
    const stage = () => stageFor(t, config, { settings });
    await runSync(stage(), { table, action: 'enable' });
    const app = await createAppRole(t, [{ schema: 'Acct Data', name: 'Acct Events' }]);
    const appDb = app.open(1);
    try {
      // A run killed mid-copy (kill -9), with batches committed and the key dropped.
      const child = spawn(process.execPath, [cliPath, '--config', configFile(config), '--database-url', t.url, 'backfill', '--table', table, '--batch-size', '200', '--sleep-ms', '20'], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      for (let i = 0; i < 1000 && (await rowsCopied()) < 600; i++) await sleep(10);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const copied = await rowsCopied();
      expect(copied).toBeGreaterThanOrEqual(600);
      expect(copied).toBeLessThan(4000);
      expect(await primaryKeyCount()).toBe(0);
      // Commands still resolve the pair, from the key the checkpoint keeps.
      expect((await resolveShadowPair(t.db, config.tables[0]!)).shadowKey).toEqual(['Scope Key', 'ID']);

      // The application writes rows the copy has already passed and rows it has not.
      await sql`update "Acct Data"."Acct Events" set "Note" = 'changed while the key was dropped' where "ID" in (1, 2, 3999)`.execute(appDb.db);
      await sql`delete from "Acct Data"."Acct Events" where "ID" in (4, 3998)`.execute(appDb.db);
      await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind") values ('written:meanwhile', 'k')`.execute(appDb.db);
      // A replay (say from cron) finds nothing replayable and changes nothing: it would look rows up by the missing key.
      const before = (await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(shadow)}`.execute(t.db)).rows[0]!.n;
      const replay = await runSync(stage(), { table, action: 'replay' });
      expect(replay.replay!.entries).toBe(0);
      expect(replay.replay!.waiting).toBeGreaterThan(0);
      expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(shadow)}`.execute(t.db)).rows[0]!.n).toBe(before);
      // Cutover refuses while the key is not there.
      await expect(runCutover(stage(), { table, confirm: table })).rejects.toThrow(/not complete|index\(es\)/);

      const done = await runBackfill(stage(), { table, batchSize: 500, jobs: 2 });
      // The rest of the keys: less 3998 (deleted), plus the row inserted meanwhile.
      expect(done).toMatchObject({ complete: true, resumed: true, rows_copied: 4000 - copied - 1 + 1 });
      expect(done.replay.entries).toBeGreaterThan(0);
      expect(await primaryKeyCount()).toBeGreaterThan(1);
      expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
      const checkpoint = await sql<{ d: unknown[] }>`select deferred_indexes as d from partgov.backfill_checkpoint`.execute(t.db);
      expect(checkpoint.rows[0]!.d).toEqual([]);
    } finally {
      await appDb.close();
      await app.drop();
      await runSync(stage(), { table, action: 'disable' });
    }
  });

  it('says so when it drops the key, and when it stops (--max-duration) with the key still to build while sync is on', async () => {
    const { config, table } = await freshEventsTable(1000);
    const events: string[] = [];
    const stage = () => stageFor(t, config, { settings, log: (m: string) => events.push(m) });
    await runSync(stage(), { table, action: 'enable' });
    try {
      const stopped = await runBackfill(stage(), { table, batchSize: 200, maxDuration: 0.01 });
      expect(stopped.complete).toBe(false);
      expect(events.filter((m) => /dropped \d+ index/.test(m))).toEqual([
        expect.stringMatching(/^dropped 4 index\(es\) of Acct Events_shadow for the copy: Acct Events_shadow_pkey, .*\(replay of the change log waits for the primary key, built when the copy completes\)$/),
      ]);
      expect(events).toContainEqual(expect.stringMatching(/^stopped before the copy completed: its primary key Acct Events_shadow_pkey is built when it does, and until then replay waits/));
      const done = await runBackfill(stage(), { table, batchSize: 200 });
      expect(done.complete).toBe(true);
      expect(await primaryKeyCount()).toBeGreaterThan(1);
    } finally {
      await runSync(stage(), { table, action: 'disable' });
    }
  });

  it('keeps the key through the copy when the shadow holds a row, or a foreign key references it', async () => {
    const { config, table } = await freshEventsTable(500);
    const pair = await resolveShadowPair(t.db, config.tables[0]!);
    expect(await deferrablePrimaryKey(t.db, pair)).toMatchObject({ name: 'Acct Events_shadow_pkey', primary_key: { columns: ['Scope Key', 'ID'] } });

    await sql`insert into ${sql.raw(shadow)} select * from "Acct Data"."Acct Events" where "ID" = 7`.execute(t.db);
    expect(await deferrablePrimaryKey(t.db, pair)).toBeNull();
    const r = await runBackfill(stageFor(t, config, { settings }), { table, batchSize: 200 });
    expect(r.deferred_indexes.dropped).not.toContain('Acct Events_shadow_pkey');
    expect(r.conflict_fallbacks).toBe(1); // the row there collided on the key, and the batches yielded to it
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);

    await sql`truncate ${sql.raw(shadow)}`.execute(t.db);
    await sql`create table "Acct Data"."Event Refs" ("Scope Key" text, "ID" bigint, foreign key ("Scope Key", "ID") references ${sql.raw(shadow)} ("Scope Key", "ID"))`.execute(t.db);
    try {
      expect(await deferrablePrimaryKey(t.db, pair)).toBeNull();
    } finally {
      await sql`drop table "Acct Data"."Event Refs"`.execute(t.db);
    }
  });
});
