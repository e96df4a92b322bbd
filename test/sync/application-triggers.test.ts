import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runCutover, runRollback } from '../../src/cutover/run-cutover.js';
import { mayWriteAsReplica } from '../../src/changelog/target-triggers.js';
import { SafetyRefusedError } from '../../src/errors.js';
import { runMaintain } from '../../src/maintain/run-maintain.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runPreflight } from '../../src/preflight/run-preflight.js';
import { runPlan } from '../../src/plan/run-plan.js';
import { runVerify } from '../../src/verify/run-verify.js';
import type { PartgovDatabase } from '../../src/db/open-database.js';
import { createAppRole } from '../helpers/app-role.js';
import { startAppWriter } from '../helpers/app-writer.js';
import { differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('apptriggers');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  await sql`create table audit_log (id bigserial primary key, what text not null)`.execute(t.db);
  // The application's own triggers: one rewrites the row, one has a side effect.
  await sql`create function touch() returns trigger language plpgsql as $$ begin new."Updated At" := clock_timestamp(); return new; end $$`.execute(t.db);
  await sql`create function audit() returns trigger language plpgsql as $$ begin insert into audit_log (what) values (tg_op || ' ' || tg_table_name || ' ' || new.id); return null; end $$`.execute(t.db);
});
afterAll(async () => t.drop());

const auditRows = async () => (await sql<{ n: number }>`select count(*)::int as n from audit_log`.execute(t.db)).rows[0]!.n;
const addAppTriggers = async (table: string) => {
  await sql`create trigger "Orders touch" before insert or update on ${sql.id(table)} for each row execute function touch()`.execute(t.db);
  await sql`create trigger "Orders audit" after insert on ${sql.id(table)} for each row execute function audit()`.execute(t.db);
};

describe("the application's triggers on the copy", () => {
  it("stay quiet for partgov's copy, replay (both ways) and maintain's moves, and fire for the application's writes", async () => {
    await sql`create table "Orders" (id bigserial primary key, tenant text not null, total int, "Updated At" timestamptz not null default '2024-01-01')`.execute(t.db);
    await sql`insert into "Orders" (tenant, total) select 't' || g % 4, g from generate_series(1, 2000) g`.execute(t.db);
    await addAppTriggers('Orders');
    const config = parseConfig({ tables: [{ name: 'Orders', layout: { type: 'hash', key: 'tenant', partitions: 4 }, cutover: { acknowledge_key_change: ['tenant', 'id'] } }] });
    await prepareShadows(t, config);
    // What plan's notes ask of the DBA before cutover: the triggers on the shadow too, with the DDL they print.
    const notes = (await runPlan(stageFor(t, config))).tables[0]!.notes.filter((n) => n.startsWith('trigger '));
    expect(notes).toHaveLength(2);
    for (const n of notes) await sql.raw(/: (CREATE TRIGGER .*)$/.exec(n)![1]!).execute(t.db);
    expect((await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = '"Orders_shadow"'::regclass and not tgisinternal`.execute(t.db)).rows[0]!.n).toBe(2);
    const app = await createAppRole(t, [{ schema: 'public', name: 'Orders' }, { schema: 'public', name: 'audit_log' }]);
    const pool = app.open(1);
    const writer = startAppWriter(async (i) => {
      await sql`insert into "Orders" (tenant, total) values (${`t${i % 4}`}, ${i})`.execute(pool.db);
      await sql`update "Orders" set total = total + 1 where id = ${1 + (i % 2000)}`.execute(pool.db);
    });
    try {
      await runSync(stageFor(t, config, { settings }), { table: 'Orders', action: 'enable' });
      await runBackfill(stageFor(t, config, { settings }), { table: 'Orders', batchSize: 300 });
      await writer.stop();
      const inserts = writer.rounds;
      await runSync(stageFor(t, config, { settings }), { table: 'Orders', action: 'replay' });
      // The copy is the table row for row ("Updated At" untouched by the shadow's trigger) ...
      expect(await differingRows(t.db, 'public', 'Orders', 'Orders_shadow')).toBe(0);
      // ... and every audit row is one of the application's inserts, none of partgov's 2000+ copies.
      expect(await auditRows()).toBe(inserts);
      expect(inserts).toBeGreaterThan(0);

      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      await runCutover(stageFor(t, config, { settings }), { table: 'Orders', confirm: 'Orders' });
      // The application's write after cutover runs the (partitioned) table's triggers.
      const row = await sql<{ recent: boolean }>`insert into "Orders" (tenant, total) values ('t1', 7) returning "Updated At" > now() - interval '1 hour' as recent`.execute(pool.db);
      expect(row.rows[0]!.recent).toBe(true);
      await sql`update "Orders" set total = -1 where id <= 50`.execute(pool.db);
      await runSync(stageFor(t, config, { settings }), { table: 'Orders', action: 'replay' }); // into the archive, which keeps the legacy's triggers
      expect(await auditRows()).toBe(inserts + 1);
      expect(await differingRows(t.db, 'public', 'Orders_legacy', 'Orders')).toBe(0);
      expect((await runVerify(stageFor(t, config))).ok).toBe(true);
      await runRollback(stageFor(t, config, { settings }), { table: 'Orders', confirm: 'Orders' });
      expect(await auditRows()).toBe(inserts + 1);
      expect(writer.failures).toEqual([]);
    } finally {
      await writer.stop();
      await app.drop();
    }
  });

  it("maintain moves rows out of the DEFAULT without firing the table's triggers", async () => {
    await sql`create table "Events" (id bigint generated always as identity, at date not null, note text, "Updated At" timestamptz not null default '2024-01-01', primary key (at, id)) partition by range (at)`.execute(t.db);
    await sql`create table "Events_2026_11" partition of "Events" for values from ('2026-11-01') to ('2026-12-01')`.execute(t.db);
    await sql`create table "Events_default" partition of "Events" default`.execute(t.db);
    await sql`insert into "Events" (at, note) select date '2026-12-01' + g % 20, 'early' from generate_series(1, 40) g`.execute(t.db);
    await sql`create trigger "Events touch" before insert or update on "Events" for each row execute function touch()`.execute(t.db);
    await sql`create trigger "Events audit" after insert or delete on "Events" for each row execute function audit()`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Events', layout: { type: 'range', column: 'at', interval: 'month', premake: 1, default_partition: true } }] });
    // A role that may not write as a replica leaves the rows where they are, saying why (a dry run, as that role).
    const operator = await createAppRole(t, [{ schema: 'public', name: 'Events' }, { schema: 'public', name: 'Events_default' }]);
    try {
      await sql`grant usage on schema partgov to ${sql.id(operator.name)}`.execute(t.db);
      await sql`grant select on all tables in schema partgov to ${sql.id(operator.name)}`.execute(t.db);
      const held = await runMaintain(stageFor(operator.open(3), config, { settings, now: new Date('2026-11-22T03:00:00Z') }), { dryRun: true });
      expect(held.tables[0]!.default_rows_moved).toBe(0);
      expect(held.tables[0]!.notes.join('\n')).toMatch(/40 row\(s\) of 2026_12 in the DEFAULT stay: moving them would fire the application's trigger\(s\) Events audit on "Events", Events touch on "Events" for rows that only change partition/);
    } finally {
      await operator.drop();
    }
    const audit = await auditRows();
    const digest = async () => (await sql<{ d: string }>`select md5(string_agg(e::text, '|' order by id)) as d from "Events" e`.execute(t.db)).rows[0]!.d;
    const before = await digest();
    const r = await runMaintain(stageFor(t, config, { settings, now: new Date('2026-11-22T03:00:00Z') }));
    expect(r.tables[0]!.default_rows_moved).toBe(40);
    expect(await digest()).toBe(before); // "Updated At" as it was
    expect(await auditRows()).toBe(audit);
  });

  it('are refused when partgov would fire them: a trigger set to fire ALWAYS, or any trigger when the role may not write as a replica', async () => {
    await sql`create table "Refunds" (id bigint primary key, tenant text not null, "Updated At" timestamptz not null default '2024-01-01')`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Refunds', layout: { type: 'hash', key: 'tenant', partitions: 2 } }] });
    await prepareShadows(t, config);
    await sql`create trigger "Refunds touch" before insert on "Refunds_shadow" for each row execute function touch()`.execute(t.db);
    await sql`alter table "Refunds_shadow" enable always trigger "Refunds touch"`.execute(t.db);
    const err = await runSync(stageFor(t, config, { settings }), { table: 'Refunds', action: 'enable' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetyRefusedError);
    expect((err as SafetyRefusedError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/\[sync-target-triggers\] partgov's writes into public\.Refunds_shadow would fire the application's trigger\(s\) Refunds touch on "Refunds_shadow" \(ENABLE ALWAYS\)/);
    expect((err as SafetyRefusedError).fix).toContain('alter table "Refunds_shadow" enable trigger "Refunds touch"');
    const unchanged = await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = '"Refunds"'::regclass and not tgisinternal`.execute(t.db);
    expect(unchanged.rows[0]!.n).toBe(0); // nothing installed
    await sql`alter table "Refunds_shadow" enable trigger "Refunds touch"`.execute(t.db);

    // A role that may not set session_replication_role: refused the same way, until it is granted.
    const operator = await createAppRole(t, [{ schema: 'public', name: 'Refunds' }]);
    try {
      await sql`grant usage on schema partgov to ${sql.id(operator.name)}`.execute(t.db);
      await sql`grant select on all tables in schema partgov to ${sql.id(operator.name)}`.execute(t.db);
      const asOperator = operator.open(1);
      expect(await mayWriteAsReplica(asOperator.db)).toBe(false);
      // preflight says so up front, for the legacy table's triggers the shadow will need.
      await sql`create trigger "Refunds touch" before insert on "Refunds" for each row execute function touch()`.execute(t.db);
      const preflightAs = async (db: PartgovDatabase) => (await runPreflight(stageFor(db, config, { settings: resolveSettings({ databaseUrl: t.url }, {}, config) }), {})).checks.find((c) => c.name === 'app_triggers:public.Refunds');
      expect(await preflightAs(t)).toMatchObject({ status: 'pass' });
      expect(await preflightAs(asOperator)).toMatchObject({ status: 'warn', fix: expect.stringContaining('GRANT SET ON PARAMETER session_replication_role') });
      const refused = await runBackfill(stageFor(asOperator, config, { settings }), { table: 'Refunds' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SafetyRefusedError);
      expect((refused as Error).message).toMatch(/\[backfill-target-triggers\] .* Refunds touch on "Refunds_shadow": each copied or replayed row would run them again/);
      expect((refused as SafetyRefusedError).fix).toMatch(/GRANT SET ON PARAMETER session_replication_role TO <partgov role>/);
      // GRANT SET ON PARAMETER: PostgreSQL 15+ (before, only a superuser may write as a replica).
      if (Number((await sql<{ v: string }>`select current_setting('server_version_num') as v`.execute(t.db)).rows[0]!.v) >= 150000) {
        await sql`grant set on parameter session_replication_role to ${sql.id(operator.name)}`.execute(t.db);
        expect(await mayWriteAsReplica(asOperator.db)).toBe(true);
        expect(await preflightAs(asOperator)).toMatchObject({ status: 'pass' });
      }
    } finally {
      await sql`revoke set on parameter session_replication_role from ${sql.id(operator.name)}`.execute(t.db).catch(() => undefined);
      await operator.drop();
    }
  });
});
