import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig, TableConfig } from '../../src/config/config-schema.js';
import type { PartgovDatabase } from '../../src/db/open-database.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { InputInvalidError, SafetyRefusedError } from '../../src/errors.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runSync } from '../../src/sync/run-sync.js';
import { replayChanges } from '../../src/changelog/replay-changes.js';
import { changeLogNames } from '../../src/changelog/change-log.js';
import { resolveShadowPair } from '../../src/db/shadow-pair.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { runCutover } from '../../src/cutover/run-cutover.js';
import { runPreflight } from '../../src/preflight/run-preflight.js';
import { createAppRole } from '../helpers/app-role.js';
import { differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('nobreak');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
});
afterAll(async () => t.drop());

async function userTriggers(table: string): Promise<string[]> {
  const r = await sql<{ n: string }>`select tgname as n from pg_trigger where tgrelid = ${table}::regclass and not tgisinternal order by 1`.execute(t.db);
  return r.rows.map((x) => x.n);
}

/**
 * The table's shadow prepared, sync enabled, and `work` given a pool of a
 * non-owner application role with DML rights on it; afterwards sync is
 * disabled (where it still can be) and the role dropped.
 */
async function withSyncedApp(config: PartgovConfig, work: (db: PartgovDatabase['db'], table: TableConfig) => Promise<void>): Promise<void> {
  const table = config.tables[0]!;
  await prepareShadows(t, config);
  const app = await createAppRole(t, [{ schema: table.schema, name: table.name }]);
  try {
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    await work(app.open().db, table);
  } finally {
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'disable' }).catch(() => undefined);
    await app.drop();
  }
}

/** The online copy while the application writes rounds 1..`rounds`, then a replay: the shadow must equal the table. */
async function copyWhileWriting(config: PartgovConfig, table: TableConfig, writes: (round: number) => Promise<void>, rounds: number, batchSize: number): Promise<void> {
  await writes(1);
  const backfill = runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize });
  for (let round = 2; round <= rounds; round++) await writes(round);
  expect((await backfill).complete).toBe(true);
  await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
  expect(await differingRows(t.db, table.schema, table.name, `${table.name}_shadow`)).toBe(0);
}

async function syncRefusal(config: PartgovConfig): Promise<SafetyRefusedError> {
  const err = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SafetyRefusedError);
  return err as SafetyRefusedError;
}

describe('the application keeps writing, as a non-owner role, once sync is on', () => {
  it('GENERATED ALWAYS identity key: inserts, updates, key moves, upserts, deletes and TRUNCATE all succeed; backfill and --restart copy exactly', async () => {
    await sql`create schema "App Data"`.execute(t.db);
    await sql`create table "App Data"."Ledger Lines" (
        id bigint generated always as identity (start with 1000 increment by 5) primary key,
        "Scope" text not null,
        amount numeric(12, 2),
        memo varchar(40))`.execute(t.db);
    await sql`insert into "App Data"."Ledger Lines" ("Scope", amount, memo) select 's' || (g % 7), g / 3.0, case when g % 4 = 0 then null else 'm' || g end from generate_series(1, 3000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ schema: 'App Data', name: 'Ledger Lines', layout: { type: 'hash', key: 'Scope', partitions: 4 } }] });
    await withSyncedApp(config, async (db, table) => {
      const lines = sql`${sql.id('App Data', 'Ledger Lines')}`;
      // The capture fires ALWAYS; one enabled by an older partgov (ORIGIN) is made so by enable.
      const modes = async () => (await sql<{ m: string }>`select tgenabled as m from pg_trigger where tgrelid = '"App Data"."Ledger Lines"'::regclass and tgname like 'partgov_capture%' order by tgname`.execute(t.db)).rows.map((r) => r.m);
      expect(await modes()).toEqual(['A', 'A', 'A', 'A']);
      await sql`alter table ${lines} enable trigger partgov_capture_insert`.execute(t.db);
      expect(await modes()).toContain('O');
      await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
      expect(await modes()).toEqual(['A', 'A', 'A', 'A']);
      const writes = async (round: number) => {
        await sql`insert into ${lines} ("Scope", amount, memo) values ('s1', ${round}, 'one'), ('s2', 2, null)`.execute(db);
        await sql`update ${lines} set amount = amount + 1 where id % 11 = ${round % 11}`.execute(db);
        await sql`update ${lines} set "Scope" = 'moved' where id % 13 = ${round % 13}`.execute(db);
        await sql`insert into ${lines} overriding system value values (${5_000_000 + round}, 's3', 1, 'x')
                  on conflict (id) do update set amount = excluded.amount`.execute(db);
        await sql`delete from ${lines} where id % 17 = ${round % 17}`.execute(db);
      };
      await copyWhileWriting(config, table, writes, 7, 400);
      await writes(9);
      const restarted = await runBackfill(stageFor(t, config, { settings }), { table: table.name, restart: true, batchSize: 700 });
      expect(restarted).toMatchObject({ complete: true, restarted: true, mode: 'online' });
      await writes(10);
      const verify = await runVerify(stageFor(t, config));
      expect(verify.tables[0]!.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(verify.tables[0]!.checks.find((c) => c.name === 'equality')!.status).toBe('pass');

      // TRUNCATE by the application empties the shadow too (its rights on partgov's objects are not needed).
      await sql`truncate ${lines}`.execute(db);
      await sql`insert into ${lines} ("Scope", amount) values ('after', 1)`.execute(db);
      await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
      expect(await differingRows(t.db, 'App Data', 'Ledger Lines', 'Ledger Lines_shadow')).toBe(0);
    });
  });

  it('columns named like the names replay itself uses (x, k, value, v0, consumed, h): forward and, after cutover, reverse replay stay exact', async () => {
    await sql`create table "Odd Cols" ("x" text, "k" text not null, "value" int, "v0" text, "consumed" text, "h" bigint, primary key ("x"))`.execute(t.db);
    await sql`insert into "Odd Cols" select 'x' || g, 'k' || (g % 5), g, 'v' || g, 'c', g * 7 from generate_series(1, 800) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Odd Cols', layout: { type: 'hash', key: 'k', partitions: 3 }, cutover: { acknowledge_key_change: ['k', 'x'] } }] });
    await withSyncedApp(config, async (db, table) => {
      const writes = async (round: number) => {
        await sql`insert into "Odd Cols" values (${`new${round}`}, 'k1', ${round}, 'n', 'c', 1)`.execute(db);
        await sql`update "Odd Cols" set "value" = "value" + 1, "v0" = 'u' where "value" % 7 = ${round % 7}`.execute(db);
        await sql`update "Odd Cols" set "k" = 'moved' where "value" % 11 = ${round % 11}`.execute(db);
        await sql`update "Odd Cols" set "x" = "x" || '+' where "value" % 13 = ${round % 13}`.execute(db);
        await sql`delete from "Odd Cols" where "value" % 17 = ${round % 17}`.execute(db);
      };
      await copyWhileWriting(config, table, writes, 5, 100);
      // A session in session_replication_role = replica (a subscriber's apply worker, a restore)
      // skips ordinary triggers: the capture is ALWAYS, so its writes reach the copy too.
      const asReplica = (suffix: string) => t.db.transaction().execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx);
        await sql`insert into "Odd Cols" values (${`replica ${suffix}`}, 'k2', 1, 'r', 'c', 1)`.execute(trx);
        await sql`update "Odd Cols" set "v0" = ${`from replica ${suffix}`} where "value" % 19 = 0`.execute(trx);
      });
      await asReplica('forward');
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);

      await runCutover(stageFor(t, config, { settings }), { table: table.name, confirm: 'Odd Cols' });
      await asReplica('reverse');
      for (let round = 6; round < 9; round++) await writes(round); // now into the partitioned table, logged for the archive
      const pair = await resolveShadowPair(t.db, table, { legacy: 'Odd Cols_legacy', shadow: 'Odd Cols' });
      await replayChanges(t.db, pair, { direction: 'reverse', lockTimeoutMs: 1000, statementTimeoutMs: 0 });
      expect(await differingRows(t.db, 'public', 'Odd Cols', 'Odd Cols_legacy')).toBe(0);
    });
  });

  it('a DEFERRABLE primary key: `update … set id = id + 1` over every row succeeds and the shadow ends exact', async () => {
    await sql`create table deferred_keys (id int primary key deferrable initially immediate, scope_key text not null, v text)`.execute(t.db);
    await sql`insert into deferred_keys select g, 'k' || (g % 3), 'v' || g from generate_series(1, 500) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'deferred_keys', layout: { type: 'hash', key: 'scope_key', partitions: 4 } }] });
    await withSyncedApp(config, async (db, table) => {
      await sql`update deferred_keys set id = id + 1`.execute(db);
      await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 100 });
      await db.transaction().execute(async (trx) => {
        await sql`set constraints all deferred`.execute(trx);
        await sql`update deferred_keys set id = id + 1`.execute(trx);
      });
      await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'replay' });
      expect(await differingRows(t.db, 'public', 'deferred_keys', 'deferred_keys_shadow')).toBe(0);
      const r = await sql<{ lo: number }>`select min(id)::int as lo from deferred_keys_shadow`.execute(t.db);
      expect(r.rows[0]!.lo).toBe(3);
    });
  });

  it('a schema change on the legacy table never fails the application: a wider varchar lands in sync_rejected, a renamed key column is refused by the DDL guard', async () => {
    await sql`create table drifting (id int primary key, scope_key text not null, code varchar(8), note text)`.execute(t.db);
    await sql`insert into drifting select g, 'k' || (g % 3), 'c' || g, 'n' from generate_series(1, 300) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'drifting', layout: { type: 'hash', key: 'scope_key', partitions: 4 } }] });
    await prepareShadows(t, config);
    const app = await createAppRole(t, [{ schema: 'public', name: 'drifting' }]);
    try {
      const enabled = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
      expect(enabled.checks.find((c) => c.name === 'ddl_guard:public.drifting')).toMatchObject({ status: 'pass', objects: ['id', 'scope_key'] });
      // Without partgov's event trigger (a non-superuser cannot create one) the stage says so, with the way out.
      await sql`alter event trigger partgov_guard_synced_ddl disable`.execute(t.db);
      try {
        const unguarded = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'replay' });
        expect(unguarded.checks.find((c) => c.name === 'ddl_guard:public.drifting')).toMatchObject({ status: 'warn', fix: expect.stringMatching(/superuser run `partgov sync enable --table public.drifting`.*freeze DDL/s) });
        expect(unguarded.ok).toBe(true);
      } finally {
        await sql`alter event trigger partgov_guard_synced_ddl enable`.execute(t.db);
      }
      await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name });
      await sql`alter table drifting alter column code type varchar(64)`.execute(t.db);
      const db = app.open().db;
      await sql`insert into drifting values (1001, 'k1', ${'a code far longer than eight'}, 'wide')`.execute(db);
      await sql`update drifting set note = 'fine' where id = 5`.execute(db);
      const replay = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'replay' });
      expect(replay.rejected_keys).toBe(1);
      // the stage decides: a rejected key fails the replay (exit 1 from the CLI), naming the check and its fix
      expect(replay.ok).toBe(false);
      expect(replay.checks.find((c) => c.name === 'rejected_keys')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/partgov verify/) });
      const verify = await runVerify(stageFor(t, config));
      const checks = Object.fromEntries(verify.tables[0]!.checks.map((c) => [c.name, c]));
      expect(checks.sync_rejections!.status).toBe('fail');
      expect(checks.sync_rejections!.objects![0]).toMatch(/\["1001"\]: 22001 value too long/);
      expect(checks.equality!.objects).toEqual(['missing_in_shadow ["1001"]']);

      // a renamed column: the application's writes still succeed; replay stops with the cause, nothing is lost from the log
      await sql`alter table drifting rename column note to remark`.execute(t.db);
      await sql`update drifting set remark = 'renamed' where id = 6`.execute(db);
      await sql`delete from drifting where id = 7`.execute(db);
      const stopped = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'replay' }).catch((e: unknown) => e);
      expect(String(stopped)).toMatch(/lacks column\(s\) remark/);

      // Renaming a column the change log reads would fail every application write: the DDL guard refuses it.
      const guarded = await sql`alter table drifting rename column scope_key to scope`.execute(t.db).catch((e: unknown) => e);
      expect(String(guarded)).toMatch(/partgov: sync is on for public.drifting, whose change log reads column\(s\) scope_key/);
      // An old-style child would take writes the capture never sees: refused too, created or attached.
      const child = await sql`create table drifting_child () inherits (drifting)`.execute(t.db).catch((e: unknown) => e);
      expect(String(child)).toMatch(/partgov: sync is on for public.drifting: its new inheritance child public\.drifting_child would take writes that its sync triggers never see/);
      await sql`create table drifting_loner (like drifting)`.execute(t.db);
      const attach = await sql`alter table drifting_loner inherit drifting`.execute(t.db).catch((e: unknown) => e);
      expect(String(attach)).toMatch(/its new inheritance child public\.drifting_loner would take writes/);
      await sql`insert into drifting values (2001, 'k2', 'c', 'still writing')`.execute(db);
      await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' });
      await sql`alter table drifting rename column scope_key to scope`.execute(t.db);
    } finally {
      await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' }).catch(() => undefined);
      await app.drop();
    }
  });

  it('keys moved again and again are replayed exactly in small rounds (every entry of a key leaves the log together)', async () => {
    await sql`create table hopping (id int primary key, scope_key text not null, n int)`.execute(t.db);
    await sql`insert into hopping select g, 'k0', 0 from generate_series(1, 200) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'hopping', layout: { type: 'hash', key: 'scope_key', partitions: 4 } }] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
    try {
      await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name });
      for (let hop = 1; hop <= 5; hop++) await sql`update hopping set scope_key = ${`k${hop}`}, n = ${hop} where id % 3 <> ${hop % 3}`.execute(t.db);
      const pair = await resolveShadowPair(t.db, config.tables[0]!);
      const r = await replayChanges(t.db, pair, { lockTimeoutMs: 2000, statementTimeoutMs: 0, chunk: 7 });
      expect(r.rejected).toBe(0);
      expect(r.keys).toBe(200);
      // Rounds, not one transaction per key: no round collided with a version left behind.
      expect(r.transactions).toBeLessThan(60);
      expect(await differingRows(t.db, 'public', 'hopping', 'hopping_shadow')).toBe(0);
    } finally {
      await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' });
    }
  });

  it('migrate down is refused (exit 3) while sync is on', async () => {
    await sql`create table guarded (id int primary key, scope_key text not null)`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'guarded', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
    try {
      const err = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 1000 }), { action: 'down' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetyRefusedError);
      expect((err as Error).message).toMatch(/sync is enabled on (.*, )?public\.guarded/);
      expect((err as SafetyRefusedError).exitCode).toBe(3);
    } finally {
      await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' });
    }
  });

  it("the capture functions run with sync enable's rights but call nothing the application's search_path can replace", async () => {
    await sql`create table hijack_target (id bigint primary key, scope_key text not null, v text)`.execute(t.db);
    await sql`insert into hijack_target select g, 'k' || (g % 3), 'v' || g from generate_series(1, 50) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'hijack_target', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }] });
    await prepareShadows(t, config);
    const app = await createAppRole(t, [{ schema: 'public', name: 'hijack_target' }]);
    try {
      await runSync(stageFor(t, config, { settings }), { table: 'hijack_target', action: 'enable' });
      await runBackfill(stageFor(t, config, { settings }), { table: 'hijack_target' });
      // The application role owns a schema of look-alikes of everything a trigger body could
      // resolve by name: equality operators on the key types, and a table named like the log.
      await sql`create schema ${sql.id(`evil_${app.name}`)} authorization ${sql.id(app.name)}`.execute(t.db);
      const db = app.open(1).db;
      const evil = `evil_${app.name}`;
      await db.connection().execute(async (c) => {
        await sql`create table ${sql.id(evil, 'hits')} (who text)`.execute(c);
        await sql`grant insert on ${sql.id(evil, 'hits')} to public`.execute(c);
        await sql`create table ${sql.id(evil, changeLogNames({ schema: 'public', name: 'hijack_target' }).table.name)} (id bigint, scope_key text)`.execute(c);
        for (const type of ['bigint', 'text']) {
          await sql`create function ${sql.id(evil, `grab_${type}`)}(a ${sql.raw(type)}, b ${sql.raw(type)}) returns boolean language plpgsql as $$
                    begin insert into ${sql.id(evil, 'hits')} values (current_user); return a operator(pg_catalog.=) b; end $$`.execute(c);
          await sql`create operator ${sql.id(evil)}.= (leftarg = ${sql.raw(type)}, rightarg = ${sql.raw(type)}, function = ${sql.id(evil, `grab_${type}`)})`.execute(c);
        }
        await sql`select set_config('search_path', ${`"${evil}", pg_catalog, pg_temp`}, false)`.execute(c);
        await sql`insert into public.hijack_target values (1000, 'k1', 'new')`.execute(c);
        await sql`update public.hijack_target set v = 'changed', scope_key = 'k2' where id operator(pg_catalog.=) 1000`.execute(c);
        await sql`delete from public.hijack_target where id operator(pg_catalog.=) 7`.execute(c);
        const hits = await sql<{ who: string }>`select who from ${sql.id(evil, 'hits')}`.execute(c);
        expect(hits.rows).toEqual([]); // not one call of the look-alikes, with anybody's rights
        expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.id(evil, changeLogNames({ schema: 'public', name: 'hijack_target' }).table.name)}`.execute(c)).rows[0]!.n).toBe(0);
      });
      const replayed = await runSync(stageFor(t, config, { settings }), { table: 'hijack_target', action: 'replay' });
      expect(replayed.replay!.entries).toBe(4); // insert 1, update old + new, delete 1: all in partgov's log
      expect(await differingRows(t.db, 'public', 'hijack_target', 'hijack_target_shadow')).toBe(0);
    } finally {
      await runSync(stageFor(t, config, { settings }), { table: 'hijack_target', action: 'disable' }).catch(() => undefined);
      await sql`drop schema if exists ${sql.id(`evil_${app.name}`)} cascade`.execute(t.db);
      await app.drop();
    }
  });
});

describe('row-level security', () => {
  it('plan carries policies, grants, owner and comments to the shadow; copy and verify refuse a role the policies filter, and see every row otherwise', async () => {
    await sql`create table tenant_notes (id int primary key, tenant text not null, body text)`.execute(t.db);
    await sql`insert into tenant_notes select g, 't' || (g % 3), 'b' || g from generate_series(1, 3000) g`.execute(t.db);
    await sql`comment on table tenant_notes is 'notes; one tenant''s rows per session'`.execute(t.db);
    await sql`comment on column tenant_notes.body is 'free text'`.execute(t.db);
    await sql`alter table tenant_notes enable row level security`.execute(t.db);
    await sql`alter table tenant_notes force row level security`.execute(t.db);
    await sql`create policy tenant_isolation on tenant_notes using (tenant = current_setting('app.tenant', true))`.execute(t.db);
    const app = await createAppRole(t, [{ schema: 'public', name: 'tenant_notes' }]);
    const operator = await createAppRole(t, []);
    try {
      await sql`alter table tenant_notes owner to ${sql.id(operator.name)}`.execute(t.db);
      const config = parseConfig({ tables: [{ name: 'tenant_notes', layout: { type: 'hash', key: 'tenant', partitions: 3 } }] });
      await prepareShadows(t, config);
      const shadow = await sql<{ policies: string[]; force: boolean; owner: string; app_insert: boolean; comment: string; body: string }>`
        select array(select polname::text from pg_policy where polrelid = c.oid) as policies, c.relforcerowsecurity as force,
               pg_get_userbyid(c.relowner)::text as owner, has_table_privilege(${app.name}, c.oid, 'INSERT') as app_insert,
               obj_description(c.oid, 'pg_class') as comment, col_description(c.oid, 3) as body
        from pg_class c where c.oid = 'tenant_notes_shadow'::regclass`.execute(t.db);
      expect(shadow.rows[0]).toEqual({ policies: ['tenant_isolation'], force: true, owner: operator.name, app_insert: true, comment: "notes; one tenant's rows per session", body: 'free text' });

      // The owner without BYPASSRLS sees no row under FORCE: refused, naming the policy.
      const asOperator = operator.open();
      const err = await runVerify(stageFor(asOperator, config)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetyRefusedError);
      expect((err as Error).message).toMatch(/row-level security on public.tenant_notes \(policies: tenant_isolation\) hides rows/);
      expect((err as SafetyRefusedError).fix).toMatch(/BYPASSRLS/);

      // A role that bypasses row-level security copies and verifies all 3000 rows.
      const copied = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name });
      expect(copied.total_rows_copied).toBe(3000);
      const verify = await runVerify(stageFor(t, config));
      expect(verify.tables[0]!.equality.rows_shadow).toBe(3000);
      expect(verify.tables[0]!.checks.find((c) => c.name === 'equality')!.status).toBe('pass');
    } finally {
      await sql`alter table tenant_notes owner to current_user`.execute(t.db);
      await sql`alter table tenant_notes_shadow owner to current_user`.execute(t.db).catch(() => undefined);
      await sql`reassign owned by ${sql.id(operator.name)} to current_user`.execute(t.db).catch(() => undefined);
      await app.drop();
      await operator.drop();
    }
  });
});

describe('sync enable refuses (exit 3, nothing changed) when the shadow would reject rows the legacy accepts', () => {
  it('a nullable scope key that the partitioned primary key makes NOT NULL: the fixes of sync enable and of backfill (a NULL row) run as printed, and the copy resumes', async () => {
    await sql`create table "Maybe Scoped" (id int primary key, "Scope Key" text, v int)`.execute(t.db);
    await sql`insert into "Maybe Scoped" select g, 'k' || g % 3, g from generate_series(1, 50) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Maybe Scoped', layout: { type: 'hash', key: 'Scope Key', partitions: 2 }, cutover: { acknowledge_key_change: ['Scope Key', 'id'] } }] });
    await prepareShadows(t, config);
    // A NULL key arrives after plan: sync enable refuses, and backfill stops at that row.
    await sql`insert into "Maybe Scoped" values (51, null, 51)`.execute(t.db);
    const err = await syncRefusal(config);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/column Scope Key: the legacy table accepts NULL in Scope Key and the shadow does not/);
    expect(await userTriggers('"Maybe Scoped"')).toEqual([]);
    const stopped = await runBackfill(stageFor(t, config, { settings }), { table: 'Maybe Scoped', batchSize: 20 }).catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(InputInvalidError);
    const fix = (stopped as InputInvalidError).fix;
    expect((stopped as Error).message).toMatch(/the shadow Maybe Scoped_shadow rejects a legacy row of the batch after key \["40"\]: null value in column "Scope Key"/);
    // The fixes are SQL that runs as printed (the mixed-case names quoted).
    const find = /find them \((select .*?)\), fill them/.exec(fix)![1]!;
    expect((await sql.raw<{ id: number }>(find).execute(t.db)).rows).toEqual([{ id: 51 }]);
    await sql`update "Maybe Scoped" set "Scope Key" = 'k0' where id = 51`.execute(t.db);
    const notNull = /without a long lock: (.*?); then run backfill again/.exec(fix)![1]!;
    expect(err.fix).toContain(notNull);
    for (const statement of notNull.split('; ')) await sql.raw(statement).execute(t.db);
    const resumed = await runBackfill(stageFor(t, config, { settings }), { table: 'Maybe Scoped', batchSize: 20 });
    expect(resumed.total_rows_copied).toBe(51);
    expect(resumed.rows_copied).toBe(11); // from the checkpoint, not from the start
    expect(await differingRows(t.db, 'public', 'Maybe Scoped', 'Maybe Scoped_shadow')).toBe(0);
    await runSync(stageFor(t, config, { settings }), { table: 'Maybe Scoped', action: 'enable' });
  });

  it('a range layout without a DEFAULT partition', async () => {
    await sql`create table dated (id int, at date not null default current_date, primary key (id, at))`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'dated', layout: { type: 'range', column: 'at', interval: 'month', premake: 1 } }] });
    await prepareShadows(t, config);
    const err = await syncRefusal(config);
    expect(err.message).toMatch(/layout of public\.dated: the range layout has no DEFAULT partition/);
    expect(err.fix).toMatch(/"default_partition": true/);
    expect(await userTriggers('dated')).toEqual([]);
  });

  it('a table with old-style INHERITS children (their writes never reach its triggers); preflight fails naming them', async () => {
    await sql`create table inherited (id bigint primary key, scope_key text not null, at date not null)`.execute(t.db);
    await sql`create table "inherited 2025" (check (at < '2026-01-01')) inherits (inherited)`.execute(t.db);
    await sql`insert into "inherited 2025" values (1, 'a', '2025-05-01')`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'inherited', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }] });
    await prepareShadows(t, config);
    const err = await syncRefusal(config);
    expect(err.message).toMatch(/inheritance of public\.inherited: public\.inherited has 1 inheritance child table\(s\) \(public\.inherited 2025\): the copy reads their rows/);
    expect(err.fix).toMatch(/alter table <child> no inherit "public"\."inherited"/);
    expect(await userTriggers('inherited')).toEqual([]);
    // preflight connects by the settings' URL, as the CLI does.
    const pre = await runPreflight(stageFor(t, config, { settings: resolveSettings({ databaseUrl: t.url }, {}, config) }), {});
    expect(pre.checks.find((c) => c.name === 'inheritance:public.inherited')).toMatchObject({ status: 'fail', detail: expect.stringContaining('public.inherited 2025') });
  });

  it('a NOT VALID foreign key that the shadow validates', async () => {
    await sql`create table owners (id int primary key)`.execute(t.db);
    await sql`create table owned (id int primary key, scope_key text not null, owner_id int)`.execute(t.db);
    await sql`insert into owned values (1, 'a', 999)`.execute(t.db);
    await sql`alter table owned add constraint owned_owner_fk foreign key (owner_id) references owners (id) not valid`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'owned', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }] });
    await prepareShadows(t, config);
    const err = await syncRefusal(config);
    expect(err.message).toMatch(/constraint owned_owner_fk: FOREIGN KEY owned_owner_fk is NOT VALID on the legacy table/);
    expect(err.fix).toMatch(/alter table "public"."owned" validate constraint "owned_owner_fk"/);
    expect(await userTriggers('owned')).toEqual([]);
  });
});
