import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { changeLogNames } from '../../src/changelog/change-log.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runCutover, runRetire, runRollback } from '../../src/cutover/run-cutover.js';
import { objectNames } from '../../src/db/object-names.js';
import { openDatabase } from '../../src/db/open-database.js';
import { LockUnavailableError, SafetyRefusedError } from '../../src/errors.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runStatus } from '../../src/status/run-status.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { createAppRole, type AppRole } from '../helpers/app-role.js';
import { differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';
import { runPlan } from '../../src/plan/run-plan.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '1000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('cutover');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
});
afterAll(async () => t.drop());

/** A mixed-case table with an identity key, a view, a grant, a comment and a publication pointing at it. */
async function createOrders(name: string, rows: number): Promise<PartgovConfig> {
  await sql`create schema if not exists "Shop"`.execute(t.db);
  const table = sql.id('Shop', name);
  await sql`create table ${table} (id bigint generated always as identity primary key, "Tenant Scope" text not null, total numeric(12, 2), note text)`.execute(t.db);
  await sql`insert into ${table} ("Tenant Scope", total, note) select 't' || (g % 6), g / 10.0, case when g % 3 = 0 then null else 'n' || g end from generate_series(1, ${rows}::int) g`.execute(t.db);
  await sql`comment on table ${table} is 'orders of the shop'`.execute(t.db);
  await sql`create index on ${table} (total)`.execute(t.db);
  await sql`create statistics ${sql.id('Shop', `${name} scope totals`)} (ndistinct, dependencies) on "Tenant Scope", total from ${table}`.execute(t.db);
  await sql`alter table ${table} alter column total set statistics 500`.execute(t.db);
  await sql`create view ${sql.id('Shop', `${name} totals`)} as select "Tenant Scope", sum(total) as total, count(*) as n from ${table} group by 1`.execute(t.db);
  await sql`create publication ${sql.id(`pub_${name.toLowerCase()}`)} for table ${table} with (publish_via_partition_root = true)`.execute(t.db);
  return parseConfig({
    tables: [{ schema: 'Shop', name, layout: { type: 'hash', key: 'Tenant Scope', partitions: 4 }, cutover: { acknowledge_key_change: ['Tenant Scope', 'id'] } }],
  });
}

/** Shadow planned, sync on, copied and verified: what cutover asks for. */
async function readyForCutover(config: PartgovConfig): Promise<void> {
  const table = config.tables[0]!;
  await prepareShadows(t, config);
  await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
  await runBackfill(stageFor(t, config, { settings }), { table: table.name });
  await runVerify(stageFor(t, config));
}

/** The application: inserts, updates (also of the partition key) and deletes on several connections, counting failures. */
function startWriter(app: AppRole, name: string): { stop: () => Promise<{ ops: number; failures: string[] }> } {
  const pool = app.open(3);
  const table = sql.id('Shop', name);
  let running = true;
  let ops = 0;
  const failures: string[] = [];
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      try {
        const k = i % 4;
        if (k === 0) await sql`insert into ${table} ("Tenant Scope", total, note) values (${`t${(w + i) % 6}`}::text, ${i}::numeric, 'live')`.execute(pool.db);
        else if (k === 1) await sql`update ${table} set total = total + 1 where id = (select max(id) - ${w}::int from ${table})`.execute(pool.db);
        // Each worker moves and deletes only its own ids (id ≡ w + 1 mod 3): on a partitioned table, two sessions
        // racing on one row that one of them moves to another partition is the application's own conflict
        // (40001, "already moved to another partition"; runbooks/cutover-and-rollback.md), not partgov's.
        else if (k === 2) await sql`update ${table} set "Tenant Scope" = ${`t${i % 6}`}::text where id = ${1 + w + 3 * ((i * 37) % 133)}::bigint`.execute(pool.db);
        else await sql`delete from ${table} where id = ${1 + w + 3 * ((i * 53) % 133)}::bigint`.execute(pool.db);
        ops++;
      } catch (err) {
        failures.push((err as Error).message);
      }
      await sleep(2);
    }
  };
  const workers = [0, 1, 2].map(worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return { ops, failures };
    },
  };
}

async function catalogOf(name: string): Promise<Record<string, unknown>> {
  const r = await sql<Record<string, unknown>>`
    select c.relkind::text as kind,
           obj_description(c.oid, 'pg_class') as comment,
           has_table_privilege(${'pg_read_all_data'}, c.oid, 'SELECT') as readable,
           (select array_agg(p.pubname::text order by p.pubname) from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid where pr.prrelid = c.oid) as publications,
           (select array_agg(distinct v.relname::text) from pg_depend d join pg_rewrite rw on rw.oid = d.objid join pg_class v on v.oid = rw.ev_class
             where d.refobjid = c.oid and d.classid = 'pg_rewrite'::regclass and v.oid <> c.oid) as views
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'Shop' and c.relname = ${name}`.execute(t.db);
  return r.rows[0] ?? {};
}

describe('cutover, rollback and cutover again while the application writes', () => {
  it('loses no write, fails none, carries view, grants, comment and publication, and identity continues', async () => {
    const config = await createOrders('Orders', 3000);
    const table = config.tables[0]!;
    // A role that holds column privileges only (GRANT UPDATE (total) …): plan and the swap carry them.
    const clerk = `clerk_${Date.now().toString(36)}`;
    await sql`create role ${sql.id(clerk)}`.execute(t.db);
    await sql`grant usage on schema "Shop" to ${sql.id(clerk)}`.execute(t.db);
    await sql`grant select (id, total), update (total) on "Shop"."Orders" to ${sql.id(clerk)}`.execute(t.db);
    const asClerk = () => t.db.transaction().execute(async (trx) => {
      await sql`set local role ${sql.id(clerk)}`.execute(trx);
      return (await sql<{ n: number }>`with u as (update "Shop"."Orders" set total = total where id = (select min(id) from "Shop"."Orders") returning 1) select count(*)::int as n from u`.execute(trx)).rows[0]!.n;
    });
    // A procedure with a SQL-standard body binds the table by OID: the swap must rebind it.
    await sql`create procedure "Shop".add_order(scope text) language sql begin atomic insert into "Shop"."Orders" ("Tenant Scope") values (scope); end`.execute(t.db);
    const addedLandIn = async (scope: string) => {
      await sql`call "Shop".add_order(${scope})`.execute(t.db);
      return (await sql<{ t: string }>`select distinct tableoid::regclass::text as t from "Shop"."Orders" where "Tenant Scope" = ${scope}`.execute(t.db)).rows.map((r) => r.t);
    };
    // Another table's policy reads Orders (bound by OID): the swap must point it at the table under the name.
    await sql`create table "Shop"."Order Notes" (order_id bigint, note text)`.execute(t.db);
    await sql`alter table "Shop"."Order Notes" enable row level security`.execute(t.db);
    await sql`create policy notes_of_t1 on "Shop"."Order Notes" using (order_id in (select id from "Shop"."Orders" where "Tenant Scope" = 't1'))`.execute(t.db);
    const policyReads = async () =>
      (await sql<{ t: string }>`select d.refobjid::regclass::text as t from pg_depend d join pg_policy p on p.oid = d.objid
        where p.polname = 'notes_of_t1' and d.classid = 'pg_policy'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid <> p.polrelid group by 1`.execute(t.db)).rows.map((r) => r.t);
    // A view that checks writes and reads as its caller (security_invoker: PostgreSQL 15+): the swap keeps its options.
    const invoker = Number((await sql<{ v: string }>`select current_setting('server_version_num') as v`.execute(t.db)).rows[0]!.v) >= 150000;
    const viewOptions = invoker ? sql`check_option = cascaded, security_barrier = true, security_invoker = true` : sql`check_option = cascaded, security_barrier = true`;
    await sql`create view "Shop"."Orders of t1" with (${viewOptions}) as select id, "Tenant Scope", total from "Shop"."Orders" where "Tenant Scope" = 't1'`.execute(t.db);
    const optionsOf = async () => (await sql<{ o: string[] }>`select reloptions as o from pg_class where oid = '"Shop"."Orders of t1"'::regclass`.execute(t.db)).rows[0]!.o;
    const viewOptionsBefore = await optionsOf();
    expect(viewOptionsBefore).toContain('check_option=cascaded');
    // A publication with a column list and a row filter (CDC that leaves columns and rows out; PostgreSQL 15+) keeps both.
    await (invoker
      ? sql`create publication pub_orders_t1 for table "Shop"."Orders" (id, "Tenant Scope") where ("Tenant Scope" = 't1') with (publish = 'insert', publish_via_partition_root = true)`
      : sql`create publication pub_orders_t1 for table "Shop"."Orders" with (publish = 'insert', publish_via_partition_root = true)`).execute(t.db);
    const membership = async () => !invoker ? [] :
      (await sql<{ columns: string[]; filter: string }>`select (select array_agg(a.attname::text order by a.attnum) from pg_attribute a where a.attrelid = pr.prrelid and a.attnum = any(pr.prattrs::int2[])) as columns,
          pg_get_expr(pr.prqual, pr.prrelid) as filter from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
        where p.pubname = 'pub_orders_t1' and pr.prrelid = '"Shop"."Orders"'::regclass`.execute(t.db)).rows;
    const published = await membership();
    if (invoker) expect(published).toEqual([{ columns: ['id', 'Tenant Scope'], filter: `("Tenant Scope" = 't1'::text)` }]);
    await prepareShadows(t, config);
    const shadowGrant = await sql<{ ok: boolean }>`select has_column_privilege(${clerk}, '"Shop"."Orders_shadow"', 'total', 'UPDATE') as ok`.execute(t.db);
    expect(shadowGrant.rows[0]!.ok).toBe(true);
    const app = await createAppRole(t, [{ schema: 'Shop', name: 'Orders' }]);
    await sql`grant select on ${sql.id('Shop', 'Orders totals')} to ${sql.id(app.name)}`.execute(t.db);
    await sql`grant select, insert on ${sql.id('Shop', 'Orders of t1')} to ${sql.id(app.name)}`.execute(t.db);
    // Through the view, the application may insert t1's rows only (the check option), before and after every swap.
    const viewChecks = async () => {
      const db = app.open(1).db;
      await sql`insert into "Shop"."Orders of t1" ("Tenant Scope", total) values ('t1', 1)`.execute(db);
      const refused = await sql`insert into "Shop"."Orders of t1" ("Tenant Scope", total) values ('t2', 1)`.execute(db).then(() => 'inserted', (e: Error) => e.message);
      expect(refused).toMatch(/violates check option for view "Orders of t1"/);
      expect(await optionsOf()).toEqual(viewOptionsBefore);
    };
    await viewChecks();
    try {
      await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
      const writer = startWriter(app, 'Orders');
      await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 500 });
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      const maxBefore = (await sql<{ m: string }>`select max(id)::text as m from "Shop"."Orders"`.execute(t.db)).rows[0]!.m;

      const indexNames = async (name: string) => (await sql<{ i: string }>`select indexrelid::regclass::text as i from pg_index where indrelid = ${sql.lit(`"Shop"."${name}"`)}::regclass order by 1`.execute(t.db)).rows.map((r) => r.i);
      expect(await indexNames('Orders')).toEqual(['"Shop"."Orders_pkey"', '"Shop"."Orders_total_idx"']);
      const first = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' });
      // The table keeps its index and constraint names; the archive's take _legacy. Plan's index on the old key (id) keeps its own.
      expect(await indexNames('Orders')).toEqual(['"Shop"."Orders_id_idx"', '"Shop"."Orders_pkey"', '"Shop"."Orders_total_idx"']);
      expect(await indexNames('Orders_legacy')).toEqual(['"Shop"."Orders_pkey_legacy"', '"Shop"."Orders_total_idx_legacy"']);
      // Its extended statistics too (plan made them on the shadow).
      const statisticsOf = async () => (await sql<{ t: string; s: string }>`select stxrelid::regclass::text as t, stxname as s from pg_statistic_ext where stxname like 'Orders scope totals%' order by 2`.execute(t.db)).rows;
      expect(await statisticsOf()).toEqual([{ t: '"Shop"."Orders"', s: 'Orders scope totals' }, { t: '"Shop"."Orders_legacy"', s: 'Orders scope totals_legacy' }]);
      await sql`insert into "Shop"."Orders" ("Tenant Scope", total) values ('t3', 1) on conflict on constraint "Orders_pkey" do nothing`.execute(app.open(1).db);
      expect(first).toMatchObject({ already: false, archive: 'Shop.Orders_legacy' });
      expect(first.objects.map((o) => `${o.kind}:${o.action}`)).toEqual(expect.arrayContaining(['identity:carried', 'view:carried', 'publication:carried', 'statistics:carried']));
      const stats = await sql<{ s: number }>`select attstattarget::int as s from pg_attribute where attrelid = '"Shop"."Orders"'::regclass and attname = 'total'`.execute(t.db);
      expect(stats.rows[0]!.s).toBe(500);
      const after = await catalogOf('Orders');
      expect(after).toMatchObject({ kind: 'p', comment: 'orders of the shop', publications: ['pub_orders', 'pub_orders_t1'], views: ['Orders of t1', 'Orders totals'] });
      expect((await catalogOf('Orders_legacy')).views).toBeNull();
      // The application's role reads the view and writes the new table; the clerk updates its one column.
      await sql`select * from "Shop"."Orders totals"`.execute(app.open(1).db);
      expect(await asClerk()).toBe(1);
      expect(first.objects.find((o) => o.kind === 'grant')!.name).toContain(`UPDATE (total) to ${clerk}`);
      expect(first.objects).toContainEqual(expect.objectContaining({ kind: 'function', name: '"Shop".add_order(text)', action: 'carried' }));
      expect(await policyReads()).toEqual(['"Shop"."Orders"']);
      expect(await membership()).toEqual(published);
      await viewChecks();
      const landed = await addedLandIn('via procedure');
      expect(landed).toHaveLength(1);
      expect(landed[0]).toMatch(/^"Shop"\."Orders_p\d+"$/); // a leaf of the partitioned table, not the archive
      await sleep(150);

      const back = await runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' });
      expect(back.already).toBe(false);
      expect(await indexNames('Orders')).toEqual(['"Shop"."Orders_pkey"', '"Shop"."Orders_total_idx"']);
      expect(await indexNames('Orders_shadow')).toEqual(['"Shop"."Orders_id_idx"', '"Shop"."Orders_shadow_pkey"', '"Shop"."Orders_total_idx_shadow"']);
      expect(await statisticsOf()).toEqual([{ t: '"Shop"."Orders"', s: 'Orders scope totals' }, { t: '"Shop"."Orders_shadow"', s: 'Orders scope totals_shadow' }]);
      expect(await catalogOf('Orders')).toMatchObject({ kind: 'r', publications: ['pub_orders', 'pub_orders_t1'], views: ['Orders of t1', 'Orders totals'] });
      expect(await addedLandIn('after rollback')).toEqual(['"Shop"."Orders"']);
      await viewChecks();
      expect(await policyReads()).toEqual(['"Shop"."Orders"']);
      expect(await membership()).toEqual(published);
      await sleep(150);
      const again = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' });
      expect(again.already).toBe(false);
      await sleep(150);
      const w = await writer.stop();

      expect(w.failures).toEqual([]);
      expect(w.ops).toBeGreaterThan(50);
      // The archive followed every write made since the last cutover: equal row for row.
      // After cutover, `sync replay` applies the reverse log to the archive; `sync enable` has nothing to do.
      const reverse = await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
      expect(reverse).toMatchObject({ ok: true, shadow: 'Shop.Orders_legacy', action: 'replay', rejected_keys: 0 });
      expect(reverse.replay!.entries).toBeGreaterThan(0);
      expect(await differingRows(t.db, 'Shop', 'Orders', 'Orders_legacy')).toBe(0);
      await expect(runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' })).rejects.toThrow(/\[sync-enable-after-cutover\] Shop\.Orders is cut over: the archive Shop\.Orders_legacy already follows it/);
      // Identity continues past every value handed out before.
      const next = await sql<{ id: string }>`insert into "Shop"."Orders" ("Tenant Scope") values ('t1') returning id::text as id`.execute(app.open(1).db);
      expect(BigInt(next.rows[0]!.id)).toBeGreaterThan(BigInt(maxBefore));

      const status = await runStatus(stageFor(t, config));
      expect(status.tables[0]).toMatchObject({ stage: 'cut_over', sync: 'reverse', archive_exists: true });
      // Every swap is in the audit log with its lock hold.
      const audit = await sql<{ command: string; ms: number }>`select command, (details->>'lock_held_ms')::float8 as ms from partgov.audit_log where command in ('cutover', 'rollback') order by id`.execute(t.db);
      expect(audit.rows.map((a) => a.command)).toEqual(['cutover', 'rollback', 'cutover']);

      // prod keeps the archive retire_after_days (7) after the cutover
      await expect(runRetire(stageFor(t, config, { settings: { ...settings, appEnv: 'prod' } }), { table: table.name, confirm: 'Orders' })).rejects.toThrow(/prod-retire-too-early/);
      // A reader of the archive makes retire wait, but before it holds any lock the application's writes need.
      const reader = await t.pool.connect();
      let retired: Awaited<ReturnType<typeof runRetire>>;
      try {
        await reader.query('begin');
        await reader.query('select count(*) from "Shop"."Orders_legacy"');
        const retiring = runRetire(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' });
        for (let i = 0; i < 2000; i++) {
          const w = await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation = '"Shop"."Orders_legacy"'::regclass`.execute(t.db);
          if (w.rows[0]!.n > 0) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        await app.open(1).db.transaction().execute(async (trx) => {
          await sql`set local lock_timeout = '100ms'`.execute(trx);
          await sql`insert into "Shop"."Orders" ("Tenant Scope") values ('t3')`.execute(trx);
        });
        await reader.query('rollback');
        retired = await retiring;
      } finally {
        await reader.query('rollback').catch(() => undefined);
        reader.release();
      }
      expect(retired.archive_dropped).toBe(true);
      expect(retired.lock_held_ms).toBeGreaterThan(0);
      // The archive's files go after the COMMIT that released the live table's locks.
      expect(retired.steps.map((s) => s.id)).toEqual(['retire-archive', 'lock', ...retired.steps.filter((s) => s.id.startsWith('drop-capture')).map((s) => s.id), 'guard-off', 'drop-archive']);
      expect(retired.steps.at(-1)!.sql).toContain(objectNames.retiredArchive(config.tables[0]!));
      expect(await sql`select 1 from pg_class where relname = ${objectNames.retiredArchive(config.tables[0]!)}`.execute(t.db).then((r) => r.rows.length)).toBe(0);
      // A retire that died between its COMMIT and that drop left the renamed archive: the next run drops it.
      await sql`create table ${sql.id('Shop', objectNames.retiredArchive(config.tables[0]!))} (x int)`.execute(t.db);
      const finished = await runRetire(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' });
      expect(finished).toMatchObject({ archive_dropped: true, steps: [{ id: 'drop-archive', status: 'succeeded' }] });
      await expect(runRetire(stageFor(t, config, { settings }), { table: table.name, confirm: 'Orders' })).rejects.toThrow(/is not cut over/);
      expect((await runStatus(stageFor(t, config))).tables[0]).toMatchObject({ stage: 'retired', sync: 'off', archive_exists: false });
      await expect(runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' })).rejects.toThrow(/\[sync-table-partitioned\] Shop\.Orders is partitioned itself \(cut over and retired/);
      await sql`insert into "Shop"."Orders" ("Tenant Scope") values ('t2')`.execute(app.open(1).db);
      expect(await asClerk()).toBe(1); // after rollback, cutover and retire too
    } finally {
      await app.drop();
      await sql`drop owned by ${sql.id(clerk)}`.execute(t.db).catch(() => undefined);
      await sql`drop role if exists ${sql.id(clerk)}`.execute(t.db);
    }
  });
});

/** A copied and verified table whose application then migrates it: `work` runs with its config and a non-owner writer. */
async function copiedTable(name: string, rows: number, work: (config: PartgovConfig, table: PartgovConfig['tables'][number], app: AppRole) => Promise<void>): Promise<void> {
  const config = await createOrders(name, rows);
  const table = config.tables[0]!;
  await prepareShadows(t, config);
  const app = await createAppRole(t, [{ schema: 'Shop', name }]);
  try {
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: table.name });
    expect((await runVerify(stageFor(t, config))).ok).toBe(true);
    await work(config, table, app);
  } finally {
    await app.drop();
  }
}

describe("the application's own migration after cutover", () => {
  it('a column added to the table stops replay and rollback until the archive has it; with it, the rows written since keep their values through a rollback', async () => {
    await copiedTable('Migrated', 300, async (config, table, app) => {
      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Migrated' });
      // The application's migration, then its writes of the new column.
      await sql`alter table "Shop"."Migrated" add column "Currency" text not null default 'EUR'`.execute(t.db);
      await sql`drop view "Shop"."Migrated totals"`.execute(t.db);
      await sql`alter table "Shop"."Migrated" alter column total type numeric(16, 2)`.execute(t.db);
      const db = app.open(1).db;
      await sql`insert into "Shop"."Migrated" ("Tenant Scope", total, "Currency") values ('t1', 12345678901234.5, 'USD')`.execute(db);
      await sql`update "Shop"."Migrated" set "Currency" = 'CHF' where id = 7`.execute(db);

      const replay = await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' }).catch((e: unknown) => e);
      expect(replay).toBeInstanceOf(SafetyRefusedError);
      expect((replay as Error).message).toMatch(/\[archive-columns-differ\] Shop\.Migrated has column\(s\) Currency that the archive lacks and changed the type of total to numeric\(16,2\) \(changed since cutover\)/);
      await expect(runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Migrated' })).rejects.toThrow(/archive-columns-differ/);
      expect((await catalogOf('Migrated')).kind).toBe('p'); // nothing swapped

      // The fix as printed: the same column on the archive; then the rows written since replay whole.
      const fix = (replay as SafetyRefusedError).fix;
      const ddl = /make the archive match \((.*)\), then run/.exec(fix)![1]!;
      expect(ddl).toBe(`alter table "Shop"."Migrated_legacy" add column "Currency" text not null default 'EUR'::text; alter table "Shop"."Migrated_legacy" alter column "total" type numeric(16,2)`);
      for (const statement of ddl.split('; ')) await sql.raw(statement).execute(t.db);
      await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      await runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Migrated' });
      const currencies = await sql<{ c: string; n: number }>`select "Currency" as c, count(*)::int as n from "Shop"."Migrated" group by 1 order by 1`.execute(db);
      expect(currencies.rows).toEqual([{ c: 'CHF', n: 1 }, { c: 'EUR', n: 299 }, { c: 'USD', n: 1 }]);
    });
  });
});

describe("the application's own migration before cutover", () => {
  it('a column dropped from the legacy table during sync fails verify (column_parity) and cutover until the shadow drops it too; then the application inserts as before', async () => {
    await copiedTable('Dropping', 200, async (config, table, app) => {
      await sql`update "Shop"."Dropping_shadow" set note = 'n' where note is null`.execute(t.db);
      await sql`alter table "Shop"."Dropping_shadow" alter column note set not null`.execute(t.db);
      await sql`alter table "Shop"."Dropping" drop column note`.execute(t.db); // the application's migration, after the verify
      const refused = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Dropping' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SafetyRefusedError);
      expect((refused as Error).message).toMatch(/\[cutover-shadow-only-columns\] Dropping_shadow has column\(s\) Shop\.Dropping lacks: note; .*\(a NOT NULL one without a default: every insert would fail\)/);
      const verify = await runVerify(stageFor(t, config));
      expect(verify.ok).toBe(false);
      const parity = verify.tables[0]!.checks.find((c) => c.name === 'column_parity')!;
      expect(parity).toMatchObject({ status: 'fail', objects: ['note'] });
      const err = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Dropping' }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/\[cutover-needs-verify\]/);
      expect((await catalogOf('Dropping')).kind).toBe('r');
      const drop = /drop them from the shadow too \((.*?)\);/.exec(parity.fix!)![1]!;
      expect(drop).toBe('alter table "Shop"."Dropping_shadow" drop column "note"');
      await sql.raw(drop).execute(t.db);
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Dropping' });
      await sql`insert into "Shop"."Dropping" ("Tenant Scope", total) values ('t1', 1)`.execute(app.open(1).db);
      expect((await catalogOf('Dropping')).kind).toBe('p');
    });
  });
});

describe("the application's migration widens a column during sync", () => {
  it('verify fails shadow_accepts_legacy_rows and cutover refuses until the shadow has the new type; then the application writes values only the new type holds', async () => {
    await copiedTable('Widening', 200, async (config, table, app) => {
      await sql`drop view "Shop"."Widening totals"`.execute(t.db); // the application's migration, after the verify
      await sql`alter table "Shop"."Widening" alter column total type numeric(16, 2)`.execute(t.db);
      const refused = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Widening' }).catch((e: unknown) => e);
      expect((refused as Error).message).toMatch(/\[cutover-shadow-rejects-rows\] .*column total: column total is numeric\(16,2\) on the legacy table and numeric\(12,2\) on the shadow/s);
      const verify = await runVerify(stageFor(t, config));
      const accepts = verify.tables[0]!.checks.find((c) => c.name === 'shadow_accepts_legacy_rows')!;
      expect(accepts.status).toBe('fail');
      const alter = /give the shadow the legacy type \((.*?)\), or plan again/.exec(accepts.fix!)![1]!;
      expect(alter).toBe('alter table "Shop"."Widening_shadow" alter column "total" type numeric(16,2)');
      await sql.raw(alter).execute(t.db);
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Widening' });
      await sql`insert into "Shop"."Widening" ("Tenant Scope", total) values ('t1', 12345678901234.5)`.execute(app.open(1).db);
    });
  });
});

describe("the application's statements, as pg_stat_statements saw them", () => {
  it("an INSERT … ON CONFLICT (id) the widened key would fail refuses cutover, acknowledged or not; forgotten once changed, the swap goes on", async () => {
    await sql`create extension if not exists pg_stat_statements`.execute(t.db);
    await copiedTable('Upserted', 100, async (config, table, app) => {
      const db = app.open(1).db;
      for (let i = 0; i < 3; i++) await sql`insert into "Shop"."Upserted" (id, "Tenant Scope", total) overriding system value values (${i + 1}, 't1', 1) on conflict (id) do update set total = excluded.total`.execute(db);
      await sql`insert into "Shop"."Upserted" ("Tenant Scope", total) values ('t1', 1) on conflict do nothing`.execute(db); // works on both keys
      await sql`update only "Shop"."Upserted" set total = 2 where id = 1`.execute(db); // on the partitioned table: the parent alone, no row
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      // The suite's embedded server preloads pg_stat_statements; a server of yours (DATABASE_URL) may not: then
      // there is nothing to read, and cutover goes on saying so (source null), as it does on any such server.
      const preloaded = (await sql<{ on: boolean }>`select current_setting('shared_preload_libraries') ~ 'pg_stat_statements' as on`.execute(t.db)).rows[0]!.on;
      if (!preloaded) {
        const unread = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Upserted' });
        expect(unread.statement_evidence).toEqual({ source: null, examined: 0, hidden: 0 });
        return;
      }
      const refused = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Upserted' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SafetyRefusedError);
      expect((refused as Error).message).toMatch(/\[cutover-statements-would-fail\] public\.pg_stat_statements shows 2 statement\(s\) of the application on Shop\.Upserted that would fail .*\n  - .*ON CONFLICT \(id\): no unique index of the partitioned table has exactly these columns; it has \(Tenant Scope, id\) \(3 call\(s\)\): insert into "Shop"\."Upserted"/s);
      expect((refused as Error).message).toMatch(/UPDATE ONLY: on the partitioned table it reaches the parent alone, which holds no row \(no error, no row\) \(1 call\(s\)\): update only "Shop"\."Upserted"/);
      expect((await catalogOf('Upserted')).kind).toBe('r');
      // The application changed the statement and deployed; the old entry is forgotten as the fix prints it.
      const reset = /forget the old entries \((.*)\) and cut over/.exec((refused as SafetyRefusedError).fix)![1]!;
      await sql.raw(reset).execute(t.db);
      const done = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Upserted' });
      expect(done.statement_evidence).toMatchObject({ source: 'public.pg_stat_statements', hidden: 0 });
      expect(done.statement_evidence!.examined).toBeGreaterThan(0); // the ON CONFLICT DO NOTHING insert, judged fine
      expect((await catalogOf('Upserted')).kind).toBe('p');
    });
  });
});

describe('cutover refuses before any lock (exit 3, nothing changed)', () => {
  it('sync off, backfill incomplete, no or stale verify, an unacknowledged key change, a foreign key into the table, a wrong confirm', async () => {
    const config = await createOrders('Refusals', 200);
    const table = config.tables[0]!;
    await prepareShadows(t, config);
    const catalogBefore = await catalogOf('Refusals');
    const expectRefusal = async (rule: RegExp) => {
      const err = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetyRefusedError);
      expect((err as Error).message).toMatch(rule);
      expect(await catalogOf('Refusals')).toEqual(catalogBefore);
      return err as SafetyRefusedError;
    };
    await expect(runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'refusals' })).rejects.toThrow(/--confirm must name it/);
    await expectRefusal(/cutover-needs-sync/);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    await expectRefusal(/cutover-needs-backfill/);
    await runBackfill(stageFor(t, config, { settings }), { table: table.name });
    await expectRefusal(/cutover-needs-verify/);
    await runVerify(stageFor(t, config));
    await runBackfill(stageFor(t, config, { settings }), { table: table.name }); // a later backfill makes that verify stale
    await expectRefusal(/cutover-verify-stale/);
    await runVerify(stageFor(t, config));
    const unacknowledged = parseConfig({ tables: [{ ...table, cutover: { retire_after_days: 7 } }] });
    const err = await runCutover(stageFor(t, unacknowledged, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/primary key changes from \("id"\) to \("Tenant Scope", "id"\).*ON CONFLICT \("id"\)/s);
    expect((err as SafetyRefusedError).fix).toMatch(/ON CONFLICT \("Tenant Scope", "id"\), then acknowledge/);
    // The columns in any order acknowledge it (ON CONFLICT's list is a set): the next refusal is another rule.
    const reversed = parseConfig({ tables: [{ ...table, cutover: { retire_after_days: 7, acknowledge_key_change: ['id', 'Tenant Scope'] } }] });
    await sql`create table "Shop"."Refusal Lines" (id int primary key, order_id bigint references "Shop"."Refusals" (id))`.execute(t.db);
    const next = await runCutover(stageFor(t, reversed, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    expect((next as SafetyRefusedError).ruleId).not.toBe('cutover-key-change-unacknowledged');
    await sql`drop table "Shop"."Refusal Lines"`.execute(t.db);
    await sql`create table "Shop"."Refusal Lines" (id int primary key, order_id bigint references "Shop"."Refusals" (id))`.execute(t.db);
    await expectRefusal(/foreign key Refusal Lines_order_id_fkey on "Shop"."Refusal Lines"/);
    // The refusal prints the DDL that drops it, which runs as printed.
    const fkRefusal = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    const dropFk = /drop it before cutover \((alter table .*?); the application enforces it meanwhile\)/.exec((fkRefusal as SafetyRefusedError).fix)![1]!;
    expect(dropFk).toBe('alter table "Shop"."Refusal Lines" drop constraint "Refusal Lines_order_id_fkey"');
    await sql.raw(dropFk).execute(t.db);
    expect((await sql<{ n: number }>`select count(*)::int as n from pg_constraint where conname = 'Refusal Lines_order_id_fkey'`.execute(t.db)).rows[0]!.n).toBe(0);
    await sql`drop table "Shop"."Refusal Lines"`.execute(t.db);
    // Without publish_via_partition_root, subscribers would get the partitions' changes, not the table's (and a row filter is refused there).
    const filters = Number((await sql<{ v: string }>`select current_setting('server_version_num') as v`.execute(t.db)).rows[0]!.v) >= 150000;
    await (filters
      ? sql`create publication pub_refusals_leaves for table "Shop"."Refusals" where (total > 0) with (publish = 'insert')`
      : sql`create publication pub_refusals_leaves for table "Shop"."Refusals" with (publish = 'insert')`).execute(t.db);
    const leaves = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    expect((leaves as SafetyRefusedError).ruleId).toBe('cutover-dependent-objects');
    expect((leaves as Error).message).toMatch(/publication pub_refusals_leaves publishes Refusals without publish_via_partition_root: after the swap its subscribers would receive the changes as those of Refusals's partitions, not of Refusals/);
    if (filters) expect((leaves as Error).message).toMatch(/not of Refusals \(and PostgreSQL refuses its row filter, where \(total > \(0\)::numeric\), on a partitioned table\)/);
    expect((leaves as SafetyRefusedError).fix).toContain('alter publication "pub_refusals_leaves" set (publish_via_partition_root = true)');
    await sql`drop publication pub_refusals_leaves`.execute(t.db);
    // An application trigger the shadow lacks: the refusal prints its DDL for the shadow, which runs as printed.
    await sql`create function "Shop".refusals_touch() returns trigger language plpgsql as $$ begin return new; end $$`.execute(t.db);
    await sql`create trigger "Refusals touch" before update on "Shop"."Refusals" for each row execute function "Shop".refusals_touch()`.execute(t.db);
    const lacking = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    const ddl = /create it there first \((CREATE TRIGGER .*?)\); then `partgov cutover/.exec((lacking as SafetyRefusedError).fix)![1]!;
    expect(ddl).toBe('CREATE TRIGGER "Refusals touch" BEFORE UPDATE ON "Shop"."Refusals_shadow" FOR EACH ROW EXECUTE FUNCTION "Shop".refusals_touch()');
    await sql.raw(ddl).execute(t.db);
    // A rule on the table would stay with the archive.
    await sql`create rule refusals_audit as on delete to "Shop"."Refusals" do also notify refusals_deleted`.execute(t.db);
    const rule = await expectRefusal(/rule refusals_audit \(CREATE RULE refusals_audit AS[\s\S]*would stay on Refusals_legacy/);
    expect(rule.fix).toMatch(/^rule refusals_audit: drop it, swap, and create it on Refusals; then `partgov cutover --table Refusals --confirm Refusals --dry-run` shows whether any is left$/);
    await sql`drop rule refusals_audit on "Shop"."Refusals"`.execute(t.db);
    // A capture trigger someone disabled let writes by unlogged: refused until sync enable turns it on again.
    await sql`alter table "Shop"."Refusals" disable trigger partgov_capture_update`.execute(t.db);
    const off = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals' }).catch((e: unknown) => e);
    expect((off as SafetyRefusedError).ruleId).toBe('cutover-capture-disabled');
    expect((off as Error).message).toMatch(/change-log trigger\(s\) partgov_capture_update on Shop\.Refusals are disabled/);
    expect(await sql<{ n: number }>`select count(*)::int as n from pg_class where relname = 'Refusals_legacy'`.execute(t.db).then((r) => r.rows[0]!.n)).toBe(0);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    const modes = await sql<{ m: string }>`select distinct tgenabled as m from pg_trigger where tgrelid = '"Shop"."Refusals"'::regclass and tgname like 'partgov_capture%'`.execute(t.db);
    expect(modes.rows).toEqual([{ m: 'A' }]);
    const dry = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Refusals', dryRun: true });
    expect(dry.script).toMatch(/alter table "Shop"."Refusals" rename to "Refusals_legacy"/);
    expect(await catalogOf('Refusals')).toEqual(catalogBefore);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
  });

  it('a query through a view that arrives while the swap waits for the table waits behind the swap: no deadlock, one attempt', async () => {
    const config = await createOrders('Viewed', 100);
    const table = config.tables[0]!;
    await readyForCutover(config);
    const app = await createAppRole(t, [{ schema: 'Shop', name: 'Viewed' }, { schema: 'Shop', name: 'Viewed totals' }]);
    const pool = app.open(2).pool;
    const [writer, reader] = [await pool.connect(), await pool.connect()];
    const waiting = async (pid: number) => {
      for (let i = 0; i < 4000; i++) {
        const w = await sql<{ n: number }>`select count(*)::int as n from pg_locks where pid = ${pid} and not granted`.execute(t.db);
        if (w.rows[0]!.n > 0) return;
        await sleep(5);
      }
      throw new Error(`backend ${pid} never waited for a lock`);
    };
    try {
      const readerPid = (await reader.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      // An open write: the swap's exclusive lock on the table queues behind it.
      await writer.query('begin');
      await writer.query(`insert into "Shop"."Viewed" ("Tenant Scope", total) values ('t1', 1)`);
      const cut = runCutover(stageFor(t, config, { settings: { ...settings, lockTimeoutMs: 30_000 } }), { table: table.name, confirm: 'Viewed' });
      const swapPid = async () => (await sql<{ pid: number }>`select pid from pg_locks where relation = '"Shop"."Viewed"'::regclass and mode = 'AccessExclusiveLock' and not granted`.execute(t.db)).rows[0]?.pid;
      let pid: number | undefined;
      for (let i = 0; i < 4000 && pid === undefined; i++) {
        pid = await swapPid();
        if (pid === undefined) await sleep(5);
      }
      expect(pid).toBeDefined();
      // The application reads through the view meanwhile: it must wait for the swap, not hold the view against it.
      const read = reader.query(`select sum(n)::int as n from "Shop"."Viewed totals"`).then((r) => r.rows[0] as { n: number }, (e: Error) => e.message);
      await waiting(readerPid);
      await writer.query('commit');
      const result = await cut;
      expect(result.attempts).toBe(1);
      expect(await read).toEqual({ n: 101 });
    } finally {
      await writer.query('rollback').catch(() => undefined);
      writer.release();
      reader.release();
      await app.drop();
    }
  });

  it('rollback names a foreign key of a partitioned table into the cut-over one once, with the DDL that drops it (not its copy on every partition)', async () => {
    const config = await createOrders('Keyed', 60);
    const table = config.tables[0]!;
    await readyForCutover(config);
    await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Keyed' });
    // The application's key, added after cutover against the new key, from a partitioned table of 3 partitions.
    await sql`create table "Shop"."Keyed Lines" (id int, "Tenant Scope" text not null, order_id bigint, primary key ("Tenant Scope", id)) partition by hash ("Tenant Scope")`.execute(t.db);
    for (const r of [0, 1, 2]) await sql`create table ${sql.id('Shop', `Keyed Lines ${r}`)} partition of "Shop"."Keyed Lines" for values with (modulus 3, remainder ${sql.lit(r)})`.execute(t.db);
    await sql`alter table "Shop"."Keyed Lines" add constraint keyed_lines_order foreign key ("Tenant Scope", order_id) references "Shop"."Keyed" ("Tenant Scope", id)`.execute(t.db);
    const refused = await runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Keyed' }).catch((e: unknown) => e);
    expect((refused as SafetyRefusedError).ruleId).toBe('rollback-dependent-objects');
    expect((refused as Error).message.match(/fk_in /g)).toHaveLength(1);
    const dropFk = /drop it first \((alter table .*?); the application enforces it meanwhile\)/.exec((refused as SafetyRefusedError).fix)![1]!;
    expect(dropFk).toBe('alter table "Shop"."Keyed Lines" drop constraint keyed_lines_order');
    await sql.raw(dropFk).execute(t.db);
    const back = await runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Keyed' });
    expect(back.already).toBe(false);
    await sql`drop table "Shop"."Keyed Lines"`.execute(t.db);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
  });

  it('a foreign key into the table: plan names it first, cutover prints what to run, and the key comes back against the new key as they say', async () => {
    const config = await createOrders('Referenced', 60);
    const table = config.tables[0]!;
    await sql`create table "Shop"."Referenced Lines" (id int primary key, order_id bigint not null references "Shop"."Referenced" (id) on delete cascade)`.execute(t.db);
    await sql`insert into "Shop"."Referenced Lines" select g, g from generate_series(1, 60) g`.execute(t.db);
    try {
      // Plan says it before any copy: cutover refuses while the key exists, and the referencing table lacks the partition key.
      const planned = await runPlan(stageFor(t, config), { table: table.name });
      const note = planned.tables[0]!.notes.find((n) => n.startsWith('foreign key Referenced Lines_order_id_fkey'))!;
      expect(note).toContain('references Referenced: cutover refuses while it exists');
      expect(note).toContain('add it again referencing Referenced (Tenant Scope, id)');
      expect(note).toContain('"Shop"."Referenced Lines" has no column Tenant Scope: add one');
      await readyForCutover(config);
      const refused = (await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Referenced' }).catch((e: unknown) => e)) as SafetyRefusedError;
      expect(refused.ruleId).toBe('cutover-dependent-objects');
      expect(refused.message).toContain('foreign key Referenced Lines_order_id_fkey on "Shop"."Referenced Lines" (FOREIGN KEY (order_id) REFERENCES "Shop"."Referenced"(id) ON DELETE CASCADE) would keep referencing Referenced_legacy');
      // What the fix says, run as it says: the key goes, the swap happens, the column comes, the key comes back.
      const dropFk = /drop it before cutover \((alter table .*?); the application enforces it meanwhile\)/.exec(refused.fix)![1]!;
      await sql.raw(dropFk).execute(t.db);
      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Referenced' });
      expect(refused.fix).toMatch(/add it again referencing Referenced \(Tenant Scope, id\), which holds the partition key Tenant Scope/);
      await sql`alter table "Shop"."Referenced Lines" add column "Tenant Scope" text`.execute(t.db);
      await sql`update "Shop"."Referenced Lines" l set "Tenant Scope" = o."Tenant Scope" from "Shop"."Referenced" o where o.id = l.order_id`.execute(t.db);
      await sql`alter table "Shop"."Referenced Lines" alter column "Tenant Scope" set not null`.execute(t.db);
      await sql`alter table "Shop"."Referenced Lines" add foreign key ("Tenant Scope", order_id) references "Shop"."Referenced" ("Tenant Scope", id) on delete cascade`.execute(t.db);
      // The key holds against the partitioned table: a line of no order is refused, an order's delete cascades.
      await expect(sql`insert into "Shop"."Referenced Lines" values (1000, 999999, 't1')`.execute(t.db)).rejects.toThrow(/violates foreign key constraint/);
      await sql`delete from "Shop"."Referenced" where id = 1`.execute(t.db);
      expect((await sql<{ n: number }>`select count(*)::int as n from "Shop"."Referenced Lines" where order_id = 1`.execute(t.db)).rows[0]!.n).toBe(0);
    } finally {
      await sql`drop table if exists "Shop"."Referenced Lines"`.execute(t.db);
    }
  });

  it('exit 4 when a session holds a conflicting lock, without parking the application behind the swap', async () => {
    const config = await createOrders('Busy', 100);
    const table = config.tables[0]!;
    await readyForCutover(config);
    const holder = openDatabase({ url: t.url, maxConnections: 1 });
    const reader = openDatabase({ url: t.url, maxConnections: 1 });
    try {
      await holder.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        try {
          await sql`select count(*) from "Shop"."Busy"`.execute(conn); // ACCESS SHARE, held to the end of the transaction
          const cut = runCutover(stageFor(t, config, { settings: { ...settings, lockRetries: 1 } }), { table: table.name, confirm: 'Busy' }).catch((e: unknown) => e);
          await sleep(300); // the swap is now queued for its ACCESS EXCLUSIVE lock
          const read = await reader.db.transaction().execute(async (trx) => (await sql<{ n: number }>`select count(*)::int as n from "Shop"."Busy"`.execute(trx)).rows[0]!.n);
          // The read finished while the holder still holds its lock: the swap gave up its place in the queue.
          expect(read).toBe(100);
          const err = await cut;
          expect(err).toBeInstanceOf(LockUnavailableError);
          expect((err as LockUnavailableError).exitCode).toBe(4);
        } finally {
          await sql`rollback`.execute(conn);
        }
      });
    } finally {
      await holder.close();
      await reader.close();
    }
    expect(await catalogOf('Busy')).toMatchObject({ kind: 'r' });
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
  });
});

describe('retire while the application holds a partition', () => {
  it('takes the table before its partitions, as writers do: no deadlock with a transaction that holds one partition and then writes them all', async () => {
    await copiedTable('Retired', 400, async (config, table, app) => {
      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Retired' });
      // The partition whose capture trigger DROP TRIGGER reaches last (it takes the clones newest first), and a scope that lives there.
      const last = (await sql<{ leaf: string }>`select c.relname as leaf from pg_trigger k join pg_class c on c.oid = k.tgrelid
        where k.tgparentid = (select oid from pg_trigger where tgrelid = '"Shop"."Retired"'::regclass and tgname = 'partgov_capture_back_insert') order by k.oid limit 1`.execute(t.db)).rows[0]!.leaf;
      const scope = (await sql<{ s: string }>`select "Tenant Scope" as s from ${sql.id('Shop', last)} limit 1`.execute(t.db)).rows[0]!.s;
      const writer = await app.open(1).pool.connect();
      try {
        await writer.query('begin');
        await writer.query(`update "Shop"."Retired" set note = note where "Tenant Scope" = $1`, [scope]);
        // Read before retire starts: pg_partition_tree itself takes a lock on every partition.
        const oids = (await sql<{ oid: string }>`select relid::int8::text as oid from pg_partition_tree('"Shop"."Retired"'::regclass)`.execute(t.db)).rows.map((r) => r.oid);
        const tree = sql`(select unnest(${oids}::oid[]))`;
        const retiring = runRetire(stageFor(t, config, { settings }), { table: table.name, confirm: 'Retired' });
        // retire waits for the table or one of its partitions, which the transaction holds.
        for (let i = 0; i < 2000; i++) {
          const w = await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation in ${tree}`.execute(t.db);
          if (w.rows[0]!.n > 0) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        // While it waits, retire holds no partition: it waits for the table itself, before any of them.
        const held = await sql<{ rel: string }>`select l.relation::regclass::text as rel from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.granted and l.mode = 'AccessExclusiveLock' and a.application_name like 'partgov%' and a.datname = current_database() and l.relation in ${tree}`.execute(t.db);
        expect(held.rows).toEqual([]);
        // The same transaction now writes every partition: retire holds none of them, so nothing waits in a circle.
        const all = await writer.query(`update "Shop"."Retired" set note = note where total < 0`).then(() => 'ok', (e: Error) => e.message);
        await writer.query('commit');
        expect(all).toBe('ok');
        expect((await retiring).archive_dropped).toBe(true);
      } finally {
        await writer.query('rollback').catch(() => undefined);
        writer.release();
      }
    });
  });
});

describe('capture triggers on the partitioned table', () => {
  it('are attached before the lock, inert until the swap gives their functions bodies, and dropped after a rollback commits: no per-leaf trigger DDL under the lock; a failed attempt leaves them inert and the next one succeeds', async () => {
    const config = await createOrders('Retry', 100);
    const table = config.tables[0]!;
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: table.name });
    await runVerify(stageFor(t, config));
    const backLog = sql.id('partgov', changeLogNames({ schema: 'Shop', name: 'Retry' }, 'reverse').table.name);
    const logged = async () => (await sql<{ n: number }>`select count(*)::int as n from ${backLog}`.execute(t.db)).rows[0]!.n;
    const partgovTriggers = async (name: string) => (await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = ${`"Shop"."${name}"`}::regclass and tgname like 'partgov%'`.execute(t.db)).rows[0]!.n;

    // Creating or dropping a row trigger on a partitioned table touches every leaf: never inside the lock.
    const dry = await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Retry', dryRun: true });
    const locked = dry.script.split('-- the swap: one transaction')[1]!.split('-- after the commit')[0]!;
    expect(locked).not.toMatch(/create trigger/i);
    expect(locked).not.toMatch(/trigger [^;]* on "Shop"\."Retry_shadow"/i);
    expect(locked).toMatch(/create or replace function "partgov"\."Retry_[0-9a-f]+_back_capture_insert"/);

    // A failed attempt (a session holds the table): the prepared triggers stay, inert.
    const holder = openDatabase({ url: t.url, maxConnections: 1 });
    try {
      await holder.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        try {
          await sql`select count(*) from "Shop"."Retry"`.execute(conn);
          const err = await runCutover(stageFor(t, config, { settings: { ...settings, lockTimeoutMs: 200, lockRetries: 0 } }), { table: table.name, confirm: 'Retry' }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(LockUnavailableError);
        } finally {
          await sql`rollback`.execute(conn);
        }
      });
    } finally {
      await holder.close();
    }
    expect(await partgovTriggers('Retry_shadow')).toBe(4);
    await sql`insert into "Shop"."Retry" ("Tenant Scope", total) values ('t1', 1)`.execute(t.db);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
    expect(await logged()).toBe(0);

    await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Retry' });
    await sql`insert into "Shop"."Retry" ("Tenant Scope", total) values ('t2', 2)`.execute(t.db);
    expect(await logged()).toBe(1);
    expect((await runVerify(stageFor(t, config))).ok).toBe(true);
    await runRollback(stageFor(t, config, { settings }), { table: table.name, confirm: 'Retry' });
    expect(await partgovTriggers('Retry_shadow')).toBe(0);
    expect(await partgovTriggers('Retry')).toBe(4);
    expect((await runVerify(stageFor(t, config))).ok).toBe(true);
  });
});

describe('kill -9 of cutover and rollback', () => {
  it('leaves the catalog wholly before or wholly after at any instant, and the next run proceeds', async () => {
    const { spawn } = await import('node:child_process');
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const os = await import('node:os');
    const { cliPath, runCli } = await import('../helpers/cli.js');
    const config = await createOrders('Killed', 2000);
    const table = config.tables[0]!;
    await prepareShadows(t, config);
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'partgov-kill-')), 'partgov.config.json');
    await writeFile(file, JSON.stringify({ tables: config.tables }));
    const args = ['--config', file, '--database-url', t.url, '--lock-timeout', '2000'];
    expect((await runCli([...args, 'sync', 'enable', '--table', 'Killed'])).code).toBe(0);
    expect((await runCli([...args, 'backfill', '--table', 'Killed'])).code).toBe(0);
    expect((await runCli([...args, 'verify', '--table', 'Killed'])).code).toBe(0);

    /** 'before' or 'after', or throws when the catalog is a mix of both. */
    const state = async (): Promise<'before' | 'after'> => {
      const r = await sql<{ kind: string; shadow: boolean; archive: boolean; forward: number; reverse: number }>`
        select (select relkind::text from pg_class where oid = '"Shop"."Killed"'::regclass) as kind,
               to_regclass('"Shop"."Killed_shadow"') is not null as shadow,
               to_regclass('"Shop"."Killed_legacy"') is not null as archive,
               (select count(*)::int from pg_trigger where tgname like 'partgov\\_capture\\_%' and tgname not like 'partgov\\_capture\\_back\\_%' and tgrelid = '"Shop"."Killed"'::regclass) as forward,
               (select count(*)::int from pg_trigger where tgname like 'partgov\\_capture\\_back\\_%' and tgrelid = '"Shop"."Killed"'::regclass) as reverse`.execute(t.db);
      const s = r.rows[0]!;
      if (s.kind === 'r' && s.shadow && !s.archive && s.forward === 4 && s.reverse === 0) return 'before';
      if (s.kind === 'p' && !s.shadow && s.archive && s.forward === 0 && s.reverse === 4) return 'after';
      throw new Error(`half-swapped catalog: ${JSON.stringify(s)}`);
    };
    const gone = async () => {
      for (let i = 0; i < 100; i++) {
        const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name in ('partgov cutover', 'partgov rollback') and datname = current_database()`.execute(t.db);
        if (r.rows[0]!.n === 0) return;
        await sleep(50);
      }
      throw new Error('the killed run left its session behind');
    };
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const verb = (await state()) === 'before' ? 'cutover' : 'rollback';
      const child = spawn(process.execPath, [cliPath, ...args, verb, '--table', 'Killed', '--confirm', 'Killed'], { stdio: 'ignore' });
      const closed = new Promise((resolve) => child.on('close', resolve));
      await sleep(250 + Math.floor(Math.random() * 500));
      child.kill('SIGKILL');
      await closed;
      await gone();
      seen.add(`${verb}:${await state()}`);
    }
    // Whatever the kills left, the next runs proceed: to the end of a cutover, and back.
    const finish = await runCli([...args, 'cutover', '--table', 'Killed', '--confirm', 'Killed']);
    expect(finish.code, finish.stderr).toBe(0);
    expect(await state()).toBe('after');
    const back = await runCli([...args, 'rollback', '--table', 'Killed', '--confirm', 'Killed']);
    expect(back.code, back.stderr).toBe(0);
    expect(await state()).toBe('before');
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
    expect(await differingRows(t.db, 'Shop', 'Killed', 'Killed_shadow')).toBe(0);
    expect(seen.size).toBeGreaterThan(0);
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' });
  });
});
