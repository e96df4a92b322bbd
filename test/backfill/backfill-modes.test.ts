import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { parseConfig } from '../../src/config/load-config.js';
import { requireTable } from '../../src/db/catalog.js';
import { rowChecksum } from '../../src/db/row-checksum.js';
import { openDatabase } from '../../src/db/open-database.js';
import { runSync } from '../../src/sync/run-sync.js';
import { InputInvalidError, RunInProgressError } from '../../src/errors.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const settings = resolveSettings({}, {}, undefined);
const events = sql`"Acct Data"."Acct Events"`;
const shadow = sql`"Acct Data"."Acct Events_shadow"`;

beforeAll(async () => {
  t = await createTestDatabase('modes');
  config = await createEventsTable(t.db, 6000);
  await prepareShadows(t, config);
});
afterAll(async () => t.drop());

/** The shadow's indexes (name, valid) and whether a checkpoint exists: what a dry run must leave as it was. */
async function shadowState() {
  const idx = await sql<{ i: string }>`select c.relname || ':' || x.indisvalid as i from pg_index x join pg_class c on c.oid = x.indexrelid
    join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace where n.nspname = 'Acct Data' and t.relname like 'Acct Events_shadow%' order by 1`.execute(t.db);
  const cp = await sql<{ n: number }>`select count(*)::int as n from partgov.backfill_checkpoint`.execute(t.db);
  const rows = await sql<{ n: number }>`select count(*)::int as n from ${shadow}`.execute(t.db);
  return { indexes: idx.rows.map((r) => r.i), checkpoints: cp.rows[0]!.n, rows: rows.rows[0]!.n };
}

describe('backfill modes', () => {
  it('--dry-run lists the index and primary-key drops, the copy statement and the leaf-by-leaf rebuilds, and changes nothing', async () => {
    const before = await shadowState();
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, dryRun: true, batchSize: 700 });
    expect(r.dry_run).toBe(true);
    const ids = r.steps.map((x) => x.id);
    expect(ids.filter((x) => x.startsWith('drop-index'))).toHaveLength(3);
    expect(ids).toContain('copy');
    expect(ids.filter((x) => x.startsWith('attach'))).toHaveLength(3 * 8); // three indexes (two copied, plan's on the old key) on eight hash leaves
    // The primary key: dropped before the copy, each leaf's built after it, then the parent's, which adopts them.
    const key = r.steps.filter((x) => x.id.includes('pkey'));
    expect(key.map((x) => x.id)).toEqual(['drop-primary-key Acct Events_shadow_pkey', ...Array.from({ length: 8 }, (_, i) => `build Acct Events_p0${i}_pkey`), 'primary-key Acct Events_shadow_pkey']);
    expect(key.at(-1)!.sql).toBe('alter table "Acct Data"."Acct Events_shadow" add constraint "Acct Events_shadow_pkey" PRIMARY KEY ("Scope Key", "ID")');
    expect(ids.indexOf('copy')).toBeLessThan(ids.indexOf('primary-key Acct Events_shadow_pkey'));
    expect(r.steps.every((x) => x.status === 'not_executed')).toBe(true);
    expect(r.steps.find((x) => x.id === 'copy')!.sql).toMatch(/^-- sent with \$1 = [\s\S]*insert into "Acct Data"\."Acct Events_shadow"/);
    // Into a shadow without indexes the rows go unsorted; with its key kept they go in its order.
    expect(r.steps.find((x) => x.id === 'copy')!.sql).not.toMatch(/order by "Scope Key", "ID"/);
    const kept = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, dryRun: true, keepIndexes: true });
    expect(kept.steps.map((x) => x.id)).toEqual(['copy']);
    expect(kept.steps[0]!.sql).toMatch(/order by "Scope Key", "ID"/);
    expect(await shadowState()).toEqual(before);
  });

  it('offline (no sync): plain inserts; the batch checksums add up to the checksum of the whole table; deferred indexes come back, and the audit row lists their steps', async () => {
    const before = (await shadowState()).indexes;
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 700 });
    expect(r.deferred_indexes.dropped).toHaveLength(4); // the primary key and three secondary indexes
    expect((await shadowState()).indexes).toEqual(before);
    const audit = await sql<{ ids: string[] }>`select array(select s->>'id' from jsonb_array_elements(steps) s) as ids from partgov.audit_log where command = 'backfill' order by id desc limit 1`.execute(t.db);
    expect(audit.rows[0]!.ids.filter((x) => x.startsWith('drop-index') || x.startsWith('attach'))).toHaveLength(3 + 3 * 8);
    expect(audit.rows[0]!.ids.filter((x) => x.startsWith('drop-primary-key') || x.startsWith('primary-key') || (x.startsWith('build ') && x.endsWith('_pkey')))).toHaveLength(1 + 1 + 8);
    expect(r).toMatchObject({ mode: 'offline', sync_enabled: false, complete: true, conflict_fallbacks: 0, total_rows_copied: 6000 });
    expect(r.offline_batches).toBe(9);
    const legacy = await requireTable(t.db, { schema: 'Acct Data', name: 'Acct Events' });
    const whole = await sql<{ sum: string }>`select ${rowChecksum(legacy.columns, 'x')} as sum from ${events} x`.execute(t.db);
    const batches = await sql<{ sum: string; n: number }>`
      select sum(checksum::numeric)::text as sum, count(*)::int as n from partgov.backfill_batch where table_name = 'Acct Data.Acct Events'`.execute(t.db);
    expect(batches.rows[0]!.n).toBe(9);
    expect(batches.rows[0]!.sum).toBe(whole.rows[0]!.sum);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });

  it('offline rows already in the shadow: the batch is redone yielding to them', async () => {
    await sql`insert into ${events} ("Scope Key", "Kind") select 'late:' || g, 'l' from generate_series(1, 50) g`.execute(t.db);
    // one of the new rows reaches the shadow by hand before the copy does
    await sql`insert into ${shadow} select * from ${events} where "Scope Key" = 'late:7'`.execute(t.db);
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name });
    expect(r).toMatchObject({ mode: 'offline', conflict_fallbacks: 1, rows_copied: 50, rows_skipped_existing: 1, complete: true });
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });

  it('--restart empties the shadow and copies every key again, so rows that went stale while sync was off are exact', async () => {
    await sql`update ${events} set "Note" = 'changed while sync was off' where "ID" % 100 = 0`.execute(t.db);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(120);
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, restart: true });
    expect(r).toMatchObject({ mode: 'offline', restarted: true, total_rows_copied: 6050, complete: true });
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });

  it('sync enable is refused (exit 4) while a backfill runs, and warns about offline batches afterwards', async () => {
    const other = openDatabase({ url: t.url, maxConnections: 2 });
    await other.db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(hashtext('partgov:backfill'), hashtext('Acct Data.Acct Events'))`.execute(conn);
      const err = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunInProgressError);
      expect((err as RunInProgressError).message).toMatch(/a backfill of Acct Data.Acct Events is running/);
      await sql`select pg_advisory_unlock_all()`.execute(conn);
    });
    await other.close();
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
    const events: string[] = [];
    const r = await runBackfill(stageFor(t, config, { settings, log: (m) => events.push(m) }), { table: config.tables[0]!.name });
    expect(r).toMatchObject({ mode: 'online', sync_enabled: true, rows_copied: 0 });
    expect(events.join('\n')).toMatch(/batch\(es\) were copied while sync was off/);
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' });
  });
});

describe('backfill --max-duration', () => {
  it('stops at a batch boundary with the checkpoint naming exactly what is in the shadow (2 jobs), and the next run finishes the copy', async () => {
    await sql`truncate ${shadow}`.execute(t.db);
    await sql`delete from partgov.backfill_batch`.execute(t.db);
    await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
    const total = await sql<{ n: number }>`select count(*)::int as n from ${events}`.execute(t.db);
    const first = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 300, sleepMs: 40, jobs: 2, maxDuration: 0.3 });
    expect(first).toMatchObject({ complete: false, stopped_reason: 'max_duration', resumed: false });
    expect(first.rows_copied).toBeGreaterThan(0);
    expect(first.rows_copied).toBeLessThan(total.rows[0]!.n);
    const inShadow = await sql<{ n: number }>`select count(*)::int as n from ${shadow}`.execute(t.db);
    expect(inShadow.rows[0]!.n).toBe(first.final_checkpoint.rows_copied);

    const second = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 300, jobs: 2 });
    expect(second).toMatchObject({ complete: true, resumed: true, total_rows_copied: total.rows[0]!.n });
    expect(second.final_checkpoint.batches).toBe(first.batches + second.batches);
    const batches = await sql<{ n: number; max: number }>`select count(*)::int as n, max(batch_no)::int as max from partgov.backfill_batch`.execute(t.db);
    expect(batches.rows[0]).toEqual({ n: second.final_checkpoint.batches, max: second.final_checkpoint.batches });
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });

  it('more than one job without a lock_timeout is refused before anything changes', async () => {
    const before = await sql<{ updated_at: Date }>`select updated_at from partgov.backfill_checkpoint`.execute(t.db);
    await expect(runBackfill(stageFor(t, config, { settings: { ...settings, lockTimeoutMs: 0 } }), { table: config.tables[0]!.name, jobs: 2, restart: true })).rejects.toThrow(InputInvalidError);
    await expect(runBackfill(stageFor(t, config, { settings: { ...settings, lockTimeoutMs: 0 } }), { table: config.tables[0]!.name, jobs: 2 })).rejects.toThrow(/--jobs 2 needs a lock_timeout/);
    expect((await sql<{ updated_at: Date }>`select updated_at from partgov.backfill_checkpoint`.execute(t.db)).rows).toEqual(before.rows);
  });

  it('a row outside every range partition (no DEFAULT) stops the copy with exit 2 naming the row and the layout fix', async () => {
    await sql`create table dated_rows (id int primary key, at date not null)`.execute(t.db);
    await sql`insert into dated_rows select g, date '2026-11-01' + (g % 20) from generate_series(1, 500) g`.execute(t.db);
    await sql`insert into dated_rows values (501, date '1999-01-05')`.execute(t.db);
    const cfg = parseConfig({ tables: [{ name: 'dated_rows', layout: { type: 'range', column: 'at', interval: 'month', start: '2026-11-01', premake: 1 } }] });
    await prepareShadows(t, cfg);
    const err = await runBackfill(stageFor(t, cfg, { settings }), { table: cfg.tables[0]!.name, batchSize: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputInvalidError);
    expect((err as InputInvalidError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/has no partition in dated_rows_shadow.*1999-01-05/s);
    expect((err as InputInvalidError).fix).toMatch(/"default_partition": true/);
  });
});
