import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-database.js';
import type { PartgovKysely } from '../../src/db/state-tables.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let configFile: string;
const rows = 30_000;

beforeAll(async () => {
  t = await createTestDatabase('crash');
  const config = await createEventsTable(t.db, rows);
  await prepareShadows(t, config);
  configFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'partgov-crash-')), 'partgov.config.json');
  await writeFile(configFile, JSON.stringify({ tables: config.tables }));
});
afterAll(async () => t.drop());

async function checkpoint(): Promise<{ rows_copied: number; batches: number; last_id: string | null } | undefined> {
  const r = await sql<{ rows_copied: number; batches: number; last_id: string | null }>`
    select rows_copied::int, batches::int, last_key->>0 as last_id from partgov.backfill_checkpoint where table_name = 'Acct Data.Acct Events'`.execute(t.db);
  return r.rows[0];
}

/** What the shadow holds: its row count and highest legacy key. */
async function shadowExtent(): Promise<{ n: number; max_id: string | null }> {
  const r = await sql<{ n: number; max_id: string | null }>`
    select count(*)::int as n, max("ID")::text as max_id from "Acct Data"."Acct Events_shadow"`.execute(t.db);
  return r.rows[0]!;
}

/** The shadow tree's index definitions, names left out (a rebuilt leaf index is named `<leaf>_<index>`), with validity. */
async function shadowIndexDefinitions(): Promise<string[]> {
  const r = await sql<{ d: string }>`
    select regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX ("([^"]|"")+"|\S+) ON', 'INDEX ON') || ' valid=' || i.indisvalid as d
    from pg_partition_tree('"Acct Data"."Acct Events_shadow"'::regclass) t join pg_index i on i.indrelid = t.relid order by 1`.execute(t.db);
  return r.rows.map((x) => x.d);
}

/** Opens a transaction on `conn` holding one shadow leaf: no partgov statement but an index build waits for it. */
async function holdLeaf(conn: PartgovKysely, leaf: string): Promise<void> {
  await sql`begin`.execute(conn);
  await sql`lock table ${sql.raw(leaf)} in row exclusive mode`.execute(conn); // sql.raw: regclass text from pg_partition_tree
}

/** Waits until a partgov backfill's index build (the primary key's comes first) waits on a held leaf. */
async function buildWaiting(): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = 'partgov backfill' and wait_event_type = 'Lock' and (query ilike 'create index%' or query ilike 'alter table%add constraint%')`.execute(t.db);
    if (r.rows[0]!.n === 1) return;
    await sleep(10);
  }
  throw new Error('the index build never waited on the held leaf');
}

/** Waits until no backend of a killed partgov process is left (its advisory lock goes with it). */
async function waitForBackendsGone(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = 'partgov backfill' and datname = current_database()`.execute(t.db);
    if (r.rows[0]!.n === 0) return;
    await sleep(50);
  }
  throw new Error('backends of the killed backfill did not go away');
}

describe('backfill survives kill -9', () => {
  it('killed with SIGKILL at 6 random moments (1, 2 and 3 jobs) and resumed each time, the shadow equals the legacy table row for row', async () => {
    const args = ['--config', configFile, '--database-url', t.url, 'backfill', '--table', 'Acct Data.Acct Events', '--batch-size', '300', '--sleep-ms', '10'];
    const progress: number[] = [];
    for (let kill = 0; kill < 6; kill++) {
      const before = (await checkpoint())?.rows_copied ?? 0;
      const jobs = String(1 + (kill % 3));
      const child = spawn(process.execPath, [cliPath, ...args, '--jobs', jobs], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      // Wait until this run has committed a batch, then kill it at a random instant after.
      for (let i = 0; i < 400 && ((await checkpoint())?.rows_copied ?? 0) <= before; i++) await sleep(10);
      await sleep(Math.floor(Math.random() * 150));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await waitForBackendsGone();
      // With several batches in flight, commits still land in key order: what the
      // shadow holds is exactly the prefix the checkpoint names, nothing beyond it.
      const cp = (await checkpoint())!;
      expect(await shadowExtent(), `after kill ${kill + 1} (--jobs ${jobs})`).toEqual({ n: cp.rows_copied, max_id: cp.last_id });
      progress.push(cp.rows_copied);
    }
    // Every kill landed mid-copy, and each run moved the copy forward.
    expect(progress.at(-1)!).toBeLessThan(rows);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThan(progress[i - 1]!);
    const final = await runCli(['--json', ...args, '--jobs', '2']);
    expect(final.code, final.stderr).toBe(0);
    const result = final.json<{ resumed: boolean; complete: boolean; total_rows_copied: number }>();
    expect(result).toMatchObject({ resumed: true, complete: true, total_rows_copied: rows });

    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    const counts = await sql<{ legacy: number; shadow: number }>`
      select (select count(*)::int from "Acct Data"."Acct Events") as legacy, (select count(*)::int from "Acct Data"."Acct Events_shadow") as shadow`.execute(t.db);
    expect(counts.rows[0]).toEqual({ legacy: rows, shadow: rows });
    // The bookkeeping is as exact as the data: batches numbered 1..N without gaps, summing to the row count.
    const batches = await sql<{ n: number; max: number; total: number }>`
      select count(*)::int as n, max(batch_no)::int as max, sum(row_count)::int as total from partgov.backfill_batch where table_name = 'Acct Data.Acct Events'`.execute(t.db);
    expect(batches.rows[0]!.n).toBe(batches.rows[0]!.max);
    expect(batches.rows[0]!.total).toBe(rows);
    expect((await checkpoint())!.rows_copied).toBe(rows);
  });

  it('killed while building the indexes it dropped for the copy: cutover refuses (exit 3, naming them) until a backfill run builds them, copying nothing again and replaying what the application wrote during the build', async () => {
    const base = ['--config', configFile, '--database-url', t.url];
    const indexesBefore = await shadowIndexDefinitions();
    expect(indexesBefore.filter((d) => d.includes('gin'))).not.toHaveLength(0);
    expect((await runCli([...base, 'sync', 'enable', '--table', 'Acct Data.Acct Events'])).code).toBe(0);
    const leaf = (await sql<{ leaf: string }>`select relid::text as leaf from pg_partition_tree('"Acct Data"."Acct Events_shadow"'::regclass) where isleaf order by relid::text desc limit 1`.execute(t.db)).rows[0]!.leaf;
    const blocker = openDatabase({ url: t.url, maxConnections: 1 });
    let child: ReturnType<typeof spawn> | undefined;
    try {
      await blocker.db.connection().execute(async (conn) => {
        child = spawn(process.execPath, [cliPath, ...base, 'backfill', '--table', 'Acct Data.Acct Events', '--restart', '--batch-size', '2000', '--lock-timeout', '60000'], { stdio: 'ignore' });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child!.on('exit', (_code, signal) => resolve(signal)));
        // Once the run has dropped the indexes, a transaction on one leaf (what no
        // partgov statement but an index build waits for) holds the rebuild.
        const dropped = async () => (await sql<{ n: number }>`select coalesce(max(jsonb_array_length(deferred_indexes)), 0)::int as n from partgov.backfill_checkpoint`.execute(t.db)).rows[0]!.n;
        for (let i = 0; i < 1000 && (await dropped()) === 0; i++) await sleep(10);
        await holdLeaf(conn, leaf);
        await buildWaiting();
        child.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');
        await sql`rollback`.execute(conn);
      });
    } finally {
      child?.kill('SIGKILL');
      await blocker.close();
    }
    await waitForBackendsGone();
    const state = await sql<{ done: boolean; pending: string[] }>`
      select done, array(select x->>'name' from jsonb_array_elements(deferred_indexes) x order by 1) as pending from partgov.backfill_checkpoint where table_name = 'Acct Data.Acct Events'`.execute(t.db);
    // The primary key too: the copy went without it, and its leaf-by-leaf build waits on the held leaf first.
    expect(state.rows[0]).toEqual({ done: true, pending: ['Acct Events_ID_idx', 'Acct Events_shadow_pkey', 'Events By Kind_shadow', 'Events Payload_shadow'] });

    const status = await runCli([...base, 'status', '--table', 'Acct Data.Acct Events']);
    expect(status.stdout).toMatch(/: backfilling \| backfill 100% \(30000 rows, 4 index\(es\) to build: run backfill\)/);
    // verify fails on them, and its index checks point at the run that builds them, not at plan or hand-made DDL.
    const verify = await runCli(['--json', ...base, 'verify', '--table', 'Acct Data.Acct Events']);
    expect(verify.code, verify.stderr).toBe(1);
    const checks = verify.json<{ checks: { name: string; status: string; fix?: string }[] }>().checks.filter((c) => c.status === 'fail');
    expect(checks.map((c) => c.name.split(':')[0])).toContain('deferred_indexes');
    for (const c of checks) expect(c.fix, c.name).toMatch(/^run `partgov backfill --table .*it builds the indexes it dropped for the copy/);
    const cutover = await runCli([...base, 'cutover', '--table', 'Acct Data.Acct Events', '--confirm', 'Acct Data.Acct Events']);
    expect(cutover.code, cutover.stderr).toBe(3);
    expect(cutover.stderr).toMatch(/4 index\(es\) of Acct Data\.Acct Events's shadow, dropped for the copy, are not built yet: Acct Events_shadow_pkey, Acct Events_ID_idx, Events By Kind_shadow, Events Payload_shadow/);
    expect(cutover.stderr).toMatch(/fix: run `partgov backfill --table/);

    // Run again while the application writes during the build: the run drains what it wrote before it ends.
    const again = openDatabase({ url: t.url, maxConnections: 1 });
    const resumed = await again.db.connection().execute(async (conn) => {
      await holdLeaf(conn, leaf);
      const run = runCli(['--json', ...base, 'backfill', '--table', 'Acct Data.Acct Events']);
      try {
        await buildWaiting();
        await sql`update "Acct Data"."Acct Events" set "Note" = 'written during the build' where "ID" % 1000 = 0`.execute(t.db);
        await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind") values ('during:build', 'b')`.execute(t.db);
      } finally {
        await sql`rollback`.execute(conn);
      }
      return run;
    }).finally(() => again.close());
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json<{ rows_copied: number; deferred_indexes: { dropped: string[] } }>()).toMatchObject({ rows_copied: 0, deferred_indexes: { dropped: ['Acct Events_shadow_pkey', 'Acct Events_ID_idx', 'Events By Kind_shadow', 'Events Payload_shadow'] } });
    expect(await shadowIndexDefinitions()).toEqual(indexesBefore);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    expect((await runCli([...base, 'sync', 'disable', '--table', 'Acct Data.Acct Events'])).code).toBe(0);
  });

  it('a second backfill on the same table exits 4 while the first holds it', async () => {
    const holder = await t.db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(hashtext('partgov:backfill'), hashtext('Acct Data.Acct Events'))`.execute(conn);
      const r = await runCli(['--config', configFile, '--database-url', t.url, 'backfill', '--table', 'Acct Data.Acct Events']);
      await sql`select pg_advisory_unlock_all()`.execute(conn);
      return r;
    });
    expect(holder.code).toBe(4);
    expect(holder.stderr).toMatch(/another partgov backfill run holds the lock for Acct Data.Acct Events/);
  });

  it('kill -9 of a CLI waiting in a lock queue frees its place at once, not after its lock_timeout', async () => {
    const blocker = openDatabase({ url: t.url, maxConnections: 1 });
    try {
      await blocker.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        try {
          await sql`lock table "Acct Data"."Acct Events" in access exclusive mode`.execute(conn);
          // sync enable needs SHARE ROW EXCLUSIVE on the table: it queues behind the blocker for up to 60 s.
          const child = spawn(process.execPath, [cliPath, '--config', configFile, '--database-url', t.url, '--lock-timeout', '60000', 'sync', 'enable', '--table', 'Acct Events'], { stdio: 'ignore' });
          const waiting = async () =>
            (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = 'partgov sync' and wait_event_type = 'Lock' and datname = current_database()`.execute(t.db)).rows[0]!.n;
          for (let i = 0; i < 200 && (await waiting()) === 0; i++) await sleep(50);
          expect(await waiting()).toBe(1);
          child.kill('SIGKILL');
          // The blocker still holds its lock: only the server's check of the dead socket can end the wait.
          let gone = false;
          for (let i = 0; i < 100 && !gone; i++) {
            gone = (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = 'partgov sync' and datname = current_database()`.execute(t.db)).rows[0]!.n === 0;
            if (!gone) await sleep(100);
          }
          expect(gone).toBe(true);
        } finally {
          await sql`rollback`.execute(conn);
        }
      });
    } finally {
      await blocker.close();
    }
  });
});
