import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runMaintain } from '../../src/maintain/run-maintain.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { runCutover, runRetire } from '../../src/cutover/run-cutover.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { SafetyRefusedError } from '../../src/errors.js';
import { prepareShadows } from '../helpers/fixtures.js';
import { createAppRole } from '../helpers/app-role.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { createScopedTables, schema } from './scope-fixture.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const now = new Date('2026-11-22T03:00:00Z');

beforeAll(async () => {
  t = await createTestDatabase('maintain');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  const input = await createScopedTables(t.db);
  const outbox = input.tables.find((x) => x.name === 'Outbox')!;
  outbox.layout = { type: 'range', column: 'Updated At', interval: 'month', premake: 3, default_partition: true, retention: { keep: 2, action: 'archive' } };
  config = parseConfig(input);
});
afterAll(async () => t.drop());

const partitions = async () =>
  (await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = '"Tenant Data"."Outbox"'::regclass order by 1`.execute(t.db)).rows.map((r) => r.name);

describe('maintain', () => {
  it('premakes exactly the missing partitions, moves DEFAULT rows to theirs, applies retention, while the application writes; a second run does nothing', async () => {
    const outbox = sql.id(schema, 'Outbox');
    // Rows with nowhere to go but the DEFAULT: far ahead, long ago, and a month just past retention.
    await sql`insert into ${outbox} ("Tenant", "Scope", "Scope Key", "Updated At") select 'acme', 'main', 'acme:main', timestamptz '2027-05-10 12:00+00' + g * interval '1 minute' from generate_series(1, 30) g`.execute(t.db);
    await sql`insert into ${outbox} ("Tenant", "Scope", "Scope Key", "Updated At") values ('acme', 'main', 'acme:main', '2026-08-31 23:59:59+00')`.execute(t.db);
    const rowsBefore = (await sql<{ n: number }>`select count(*)::int as n from ${outbox}`.execute(t.db)).rows[0]!.n;
    expect(await partitions()).toEqual(['Outbox_2026_10', 'Outbox_2026_11', 'Outbox_default']);

    // 30 rows of May 2027 wait in the DEFAULT: above the limit, they stay (the move would hold the table's lock), and the run says how to move them.
    const held = (await runMaintain(stageFor(t, config, { settings, now }), { dryRun: true, maxLockedMoveRows: 20 })).tables[0]!;
    expect(held.created.map((x) => x.split('.')[1])).not.toContain('Outbox_2027_05');
    expect(held.notes).toContain("30 row(s) of 2027_05 in the DEFAULT stay: more than 20 to move under the table's exclusive lock (every write waits meanwhile); move them in a quiet moment: partgov maintain --max-locked-move-rows 30");
    const dry = await runMaintain(stageFor(t, config, { settings, now }), { dryRun: true });
    expect(dry.changed).toBe(true);
    expect(dry.tables[0]!.default_rows_moved).toBe(31); // what it would move
    // May 2027 is past what premake makes (through February): a partition of its own, and a note to check those rows.
    expect(dry.tables[0]!.notes).toEqual(['1 partition(s) past the premake horizon (2027-03-01) are made for 30 row(s) found in the DEFAULT (2027_05): check their Updated At, a sentinel or mistyped value makes a partition of its own']);
    expect(await partitions()).toEqual(['Outbox_2026_10', 'Outbox_2026_11', 'Outbox_default']);

    const app = await createAppRole(t, [{ schema, name: 'Outbox' }]);
    const pool = app.open(1);
    let running = true;
    const failures: string[] = [];
    let writes = 0;
    const writer = (async () => {
      while (running) {
        try {
          await sql`insert into ${outbox} ("Tenant", "Scope", "Scope Key", "Updated At") values ('initech', 'ops', 'initech:ops', '2026-11-22 02:00+00')`.execute(pool.db);
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    try {
      const r = await runMaintain(stageFor(t, config, { settings, now }));
      running = false;
      await writer;
      const table = r.tables[0]!;
      expect(table.created.map((x) => x.split('.')[1])).toEqual(['Outbox_2026_08', 'Outbox_2026_12', 'Outbox_2027_01', 'Outbox_2027_02', 'Outbox_2027_05']);
      expect(table.default_rows_moved).toBe(31);
      expect(table.kept_as_archive.map((x) => x.split('.')[1])).toEqual(['Outbox_2026_08']);
      expect(await partitions()).toEqual(['Outbox_2026_10', 'Outbox_2026_11', 'Outbox_2026_12', 'Outbox_2027_01', 'Outbox_2027_02', 'Outbox_2027_05', 'Outbox_default']);
      expect((await sql<{ n: number }>`select count(*)::int as n from "Tenant Data"."Outbox_default"`.execute(t.db)).rows[0]!.n).toBe(0);
      expect((await sql<{ n: number }>`select count(*)::int as n from "Tenant Data"."Outbox_2027_05"`.execute(t.db)).rows[0]!.n).toBe(30);
      // Retention kept the detached month as a standalone table with its row.
      expect((await sql<{ n: number }>`select count(*)::int as n from "Tenant Data"."Outbox_2026_08"`.execute(t.db)).rows[0]!.n).toBe(1);
      const rowsAfter = (await sql<{ n: number }>`select count(*)::int as n from ${outbox}`.execute(t.db)).rows[0]!.n;
      expect(rowsAfter).toBe(rowsBefore - 1 + writes);
      expect(failures).toEqual([]);

      const again = await runMaintain(stageFor(t, config, { settings, now }));
      expect(again.changed).toBe(false);
      expect(again.audit_id).toBeNull();
    } finally {
      running = false;
      await writer;
      await app.drop();
    }
  });
});

describe('maintain and a table that still has a twin', () => {
  it('holds retention while the shadow or the archive must stay equal, applies it after retire, leaves rows of a retired range in the DEFAULT, and refuses a partition name taken by another table', async () => {
    await sql`create table "Ledger Months" (id bigint generated by default as identity primary key, at timestamptz not null, v text)`.execute(t.db);
    await sql`insert into "Ledger Months" (at, v) select timestamptz '2026-05-15 00:00+00' + g * interval '1 hour', 'v' || g from generate_series(1, 3000) g`.execute(t.db);
    // Kept 3 months before November: May, June and July are past retention.
    const months = parseConfig({
      tables: [{
        name: 'Ledger Months',
        layout: { type: 'range', column: 'at', interval: 'month', premake: 2, default_partition: true, retention: { keep: 3, action: 'archive' } },
        cutover: { acknowledge_key_change: ['at', 'id'] },
      }],
    });
    const stage = (at = now) => stageFor(t, months, { settings, now: at });
    const leaves = async (parent: string) =>
      (await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = ${`"${parent}"`}::regclass order by 1`.execute(t.db)).rows.map((r) => r.name);
    await prepareShadows(t, months);
    await runSync(stage(), { table: 'Ledger Months', action: 'enable' });
    await runBackfill(stage(), { table: 'Ledger Months' });
    const shadowLeaves = await leaves('Ledger Months_shadow');
    expect(shadowLeaves).toContain('Ledger Months_2026_05');

    const beforeCutover = (await runMaintain(stage())).tables[0]!;
    expect(beforeCutover.retention_held).toMatch(/^retention waits for cutover: until then public\.Ledger Months_shadow must equal public\.Ledger Months row for row$/);
    expect(beforeCutover.detached).toEqual([]);
    expect(await leaves('Ledger Months_shadow')).toEqual(shadowLeaves);
    expect((await runVerify(stage())).ok).toBe(true);

    await runCutover(stage(), { table: 'Ledger Months', confirm: 'Ledger Months' });
    const afterCutover = (await runMaintain(stage())).tables[0]!;
    expect(afterCutover.retention_held).toMatch(/^retention waits for `partgov retire`: the archive public\.Ledger Months_legacy stays equal/);
    expect(afterCutover.detached).toEqual([]);
    expect((await runVerify(stage())).ok).toBe(true); // the archive is still the table, row for row

    await runRetire(stage(), { table: 'Ledger Months', confirm: 'Ledger Months' });
    const app = await createAppRole(t, [{ schema: 'public', name: 'Ledger Months' }]);
    let running = true;
    const failures: string[] = [];
    const pool = app.open(1);
    const writer = (async () => {
      while (running) {
        await sql`insert into "Ledger Months" (at, v) values ('2026-11-20 10:00+00', 'app')`.execute(pool.db).catch((err: unknown) => failures.push((err as Error).message));
      }
    })();
    try {
      const retired = (await runMaintain(stage())).tables[0]!;
      expect(retired.retention_held).toBeNull();
      expect(retired.kept_as_archive).toEqual(['public.Ledger Months_2026_05', 'public.Ledger Months_2026_06', 'public.Ledger Months_2026_07']);
    } finally {
      running = false;
      await writer;
      await app.drop();
    }
    expect(failures).toEqual([]);

    // A row of June arrives after June was retired: it stays in the DEFAULT, named, on every run.
    await sql`insert into "Ledger Months" (at, v) values ('2026-06-10 00:00+00', 'late')`.execute(t.db);
    for (let run = 0; run < 2; run++) {
      const late = await runMaintain(stage());
      expect(late.changed).toBe(false);
      expect(late.tables[0]).toMatchObject({ default_rows_left: 1, notes: ['1 row(s) in the DEFAULT belong to a range retired earlier, kept as public.Ledger Months_2026_06: they stay (move them into it, or delete them)'] });
    }
    expect((await sql<{ n: number }>`select count(*)::int as n from "Ledger Months_default"`.execute(t.db)).rows[0]!.n).toBe(1);

    // In January, premake wants February and March; a table of the application already holds March's name.
    await sql`create table "Ledger Months_2027_03" (note text)`.execute(t.db);
    const attached = await leaves('Ledger Months');
    const refused = await runMaintain(stage(new Date('2027-01-10T03:00:00Z'))).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SafetyRefusedError);
    expect((refused as SafetyRefusedError).message).toMatch(/maintain would create public\.Ledger Months_2027_03 for \[2027-03-01T00:00:00\.000Z, 2027-04-01T00:00:00\.000Z\) of public\.Ledger Months, and a table of that name exists already/);
    expect(await leaves('Ledger Months')).toEqual(attached); // nothing created, nothing detached
  });
  it('a DEFAULT partitioned itself: sessions that used its leaves learn each new bound (PostgreSQL invalidates the DEFAULT, not its partitions), and a dropped range is detached, then dropped after the COMMIT', async () => {
    const o3 = sql.id(schema, 'Outbox3');
    const id = (n: string) => sql.id(schema, n);
    await sql`create table ${o3} (id bigint generated always as identity, "Scope Key" text not null, "Updated At" timestamptz not null, "Body" text, primary key ("Updated At", "Scope Key", id)) partition by range ("Updated At")`.execute(t.db);
    await sql`create table ${id('Outbox3_2026_11')} partition of ${o3} for values from ('2026-11-01 00:00+00') to ('2026-12-01 00:00+00') partition by list ("Scope Key")`.execute(t.db);
    await sql`create table ${id('Outbox3_2026_11_acme_perf')} partition of ${id('Outbox3_2026_11')} for values in ('acme:perf')`.execute(t.db);
    await sql`create table ${id('Outbox3_2026_11_default')} partition of ${id('Outbox3_2026_11')} default`.execute(t.db);
    await sql`create table ${id('Outbox3_default')} partition of ${o3} default partition by list ("Scope Key")`.execute(t.db);
    await sql`create table ${id('Outbox3_default_acme_perf')} partition of ${id('Outbox3_default')} for values in ('acme:perf')`.execute(t.db);
    await sql`create table ${id('Outbox3_default_default')} partition of ${id('Outbox3_default')} default`.execute(t.db);
    await sql`insert into ${o3} ("Scope Key", "Updated At") values ('acme:main', '2026-11-10 00:00+00'), ('acme:main', '2027-06-15 00:00+00')`.execute(t.db);
    // What a crashed run left: detached and renamed, never dropped.
    await sql`create table ${id('partgov_purged_0badf00d')} (x int)`.execute(t.db);
    const layout = { type: 'range', column: 'Updated At', interval: 'month', premake: 1, default_partition: true, subpartition: { type: 'list', key: 'Scope Key', values: ['acme:perf'] } } as const;
    const only3 = (retention?: { keep: number; action: 'drop' }) => parseConfig({ tables: [{ schema, name: 'Outbox3', layout: { ...layout, ...(retention ? { retention } : {}) } }] });
    const session = await t.pool.connect();
    try {
      // The application's session has updated the June 2027 row in the DEFAULT's leaf: it holds that leaf's constraint.
      await session.query(`update "Tenant Data"."Outbox3" set "Body" = 'seen' where "Updated At" = '2027-06-15 00:00+00'`);
      // December is premade; June's row stays in the DEFAULT (none may move under the lock here).
      const made = (await runMaintain(stageFor(t, only3(), { settings, now }), { maxLockedMoveRows: 0 })).tables[0]!;
      expect(made.created).toEqual([`${schema}.Outbox3_2026_12`]);
      expect(await sql`select 1 from pg_class where relname = 'partgov_purged_0badf00d'`.execute(t.db).then((r) => r.rows.length)).toBe(0);
      // The session moves June's row into December: it lands in December's partition, not left in the DEFAULT.
      const moved = await session.query<{ leaf: string }>(`update "Tenant Data"."Outbox3" set "Updated At" = '2026-12-10 00:00+00' where "Updated At" = '2027-06-15 00:00+00' returning tableoid::regclass::text as leaf`);
      expect(moved.rows).toEqual([{ leaf: '"Tenant Data"."Outbox3_2026_12_default"' }]);
    } finally {
      session.release();
    }
    // In February, November is past a retention of two months: detached, renamed, and dropped once that COMMIT is done.
    const later = (await runMaintain(stageFor(t, only3({ keep: 2, action: 'drop' }), { settings, now: new Date('2027-02-10T03:00:00Z') }))).tables[0]!;
    expect(later.dropped).toEqual([`${schema}.Outbox3_2026_11`]);
    const retiredStep = later.steps.find((x) => x.id === 'retire Outbox3_2026_11')!;
    expect(retiredStep.sql).toMatch(/detach partition "Tenant Data"\."Outbox3_2026_11";\nalter table "Tenant Data"\."Outbox3_2026_11" rename to "partgov_purged_[0-9a-f]{8}"/);
    expect(retiredStep.sql).not.toContain('drop table');
    expect(later.steps[later.steps.indexOf(retiredStep) + 1]!.sql).toMatch(/^drop table if exists "Tenant Data"\."partgov_purged_[0-9a-f]{8}"$/);
    const left = await sql<{ name: string }>`select relname as name from pg_class where relname like 'Outbox3_2026_11%' or relname like 'partgov_purged%'`.execute(t.db);
    expect(left.rows).toEqual([]);
  });
  it('takes the table before its DEFAULT when it moves rows out of it: no deadlock with a writer that holds another partition', async () => {
    const o4 = sql.id(schema, 'Outbox4');
    await sql`create table ${o4} (id bigint generated always as identity, "Updated At" timestamptz not null, "Body" text, primary key ("Updated At", id)) partition by range ("Updated At")`.execute(t.db);
    for (const [m, from, to] of [['11', '2026-11-01', '2026-12-01'], ['12', '2026-12-01', '2027-01-01']] as const) {
      await sql`create table ${sql.id(schema, `Outbox4_2026_${m}`)} partition of ${o4} for values from (${sql.lit(`${from} 00:00+00`)}) to (${sql.lit(`${to} 00:00+00`)})`.execute(t.db);
    }
    await sql`create table ${sql.id(schema, 'Outbox4_default')} partition of ${o4} default`.execute(t.db);
    await sql`insert into ${o4} ("Updated At", "Body") values ('2026-11-10 00:00+00', 'nov'), ('2027-03-05 00:00+00', 'march')`.execute(t.db);
    const oids = (await sql<{ oid: string }>`select relid::int8::text as oid from pg_partition_tree('"Tenant Data"."Outbox4"'::regclass)`.execute(t.db)).rows.map((r) => r.oid);
    const tree = sql`(select unnest(${oids}::oid[]))`;
    const cfg = parseConfig({ tables: [{ schema, name: 'Outbox4', layout: { type: 'range', column: 'Updated At', interval: 'month', premake: 1, default_partition: true } }] });
    const writer = await t.pool.connect();
    try {
      // The application's transaction has written November's partition.
      await writer.query('begin');
      await writer.query(`update "Tenant Data"."Outbox4" set "Body" = 'nov+' where "Updated At" = '2026-11-10 00:00+00'`);
      const maintaining = runMaintain(stageFor(t, cfg, { settings, now }));
      for (let i = 0; i < 2000; i++) {
        const w = await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation in ${tree}`.execute(t.db);
        if (w.rows[0]!.n > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      // maintain waits for the table itself, holding none of its partitions, so the writer's next statement is not stuck behind it.
      const held = await sql<{ rel: string }>`select l.relation::regclass::text as rel from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.granted and l.mode = 'AccessExclusiveLock' and a.pid <> ${(await writer.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid}::int and l.relation in ${tree}`.execute(t.db);
      expect(held.rows).toEqual([]);
      await writer.query('commit');
      const r = (await maintaining).tables[0]!;
      expect(r).toMatchObject({ created: [`${schema}.Outbox4_2027_03`], default_rows_moved: 1 });
    } finally {
      await writer.query('rollback').catch(() => undefined);
      writer.release();
    }
  });
});
