import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPlan } from '../../src/plan/run-plan.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runPreflight } from '../../src/preflight/run-preflight.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';
import { InputInvalidError } from '../../src/errors.js';

let t: TestDatabase;
/** One plan folder per database, as in production (migrate checks every applied file is there). */
let dir: string;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const migrate = (planFolder?: string) => runMigrate(stageFor(t, undefined), { action: 'up', ...(planFolder ? { planFolder } : {}) });

beforeAll(async () => {
  t = await createTestDatabase('hidden');
  dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-hidden-'));
  await migrate();
});
afterAll(async () => t.drop());

describe('plan on tables nobody here wrote', () => {
  it('a name holding any control byte 0x01-0x1f cannot smuggle a statement through a comment of plan --out', async () => {
    await sql`create table ctl (id int primary key, scope_key text not null)`.execute(t.db);
    for (let b = 1; b < 32; b++) {
      const hex = b.toString(16).padStart(2, '0');
      const name = `i${String.fromCharCode(b)};create table pwned_${hex} (x int);--`;
      await sql`create index ${sql.id(name)} on ctl (scope_key)`.execute(t.db);
    }
    const config = parseConfig({ tables: [{ name: 'ctl', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }], migrations_dir: dir });
    await runPlan(stageFor(t, config), { out: dir });
    await migrate(dir);
    const pwned = await sql<{ n: number }>`select count(*)::int as n from pg_class where relname like 'pwned%'`.execute(t.db);
    expect(pwned.rows[0]!.n).toBe(0);
    const copied = await sql<{ n: number }>`select count(*)::int as n from pg_indexes where tablename = 'ctl_shadow' and indexname like 'i%'`.execute(t.db);
    expect(copied.rows[0]!.n).toBe(31);
  });

  it('a widened key keeps lookups by the legacy key on an index: one is added (or an index leading with the key serves), and key_lookup_index false leaves it off', async () => {
    await sql`create table "Msg Log" ("Msg ID" numeric(30,0) primary key, "Scope" text not null, body text)`.execute(t.db);
    await sql`insert into "Msg Log" select 1e20 + g, 's' || (g % 64), 'b' || g from generate_series(1, 20000) g`.execute(t.db);
    await sql`create table "Msg Served" (id bigint primary key, "Scope" text not null)`.execute(t.db);
    await sql`create index "Msg Served by id" on "Msg Served" (id, "Scope")`.execute(t.db);
    // A partial index on the key serves only some lookups: plan adds its own.
    await sql`create table "Msg Partial" (id bigint primary key, "Scope" text not null)`.execute(t.db);
    await sql`create index "Msg Partial open" on "Msg Partial" (id) where id > 100`.execute(t.db);
    // A hash index on a one-column key serves its equality lookups (and holds the name plan would give its own).
    await sql`create table "Msg Hashed" (id bigint primary key, "Scope" text not null)`.execute(t.db);
    await sql`create index on "Msg Hashed" using hash (id)`.execute(t.db);
    const table = (name: string, extra: object = {}) => ({ name, layout: { type: 'hash' as const, key: 'Scope', partitions: 4 }, ...extra });
    const plan = await runPlan(stageFor(t, parseConfig({ tables: [table('Msg Log'), table('Msg Served'), table('Msg Partial'), table('Msg Hashed')] })));
    const [log, served, partial, hashed] = plan.tables;
    expect(hashed!.notes).toContain('lookups by (id) alone use Msg Hashed_id_idx_shadow (the copy of Msg Hashed_id_idx), one probe per partition');
    expect(partial!.statements.some((x) => /^create index "Msg Partial_id_idx" on "public"\."Msg Partial_shadow" \("id"\)$/.test(x.sql))).toBe(true);
    expect(log!.changes).toContain('index Msg Log_Msg ID_idx on (Msg ID) is added: a lookup by the legacy key alone probes it in each of the 4 partitions instead of reading them all (tables[].key_lookup_index: false leaves it off)');
    expect(served!.statements.some((x) => /^create index "Msg Served_id_idx"/.test(x.sql))).toBe(false);
    expect(served!.notes).toContain('lookups by (id) alone use Msg Served by id_shadow (the copy of Msg Served by id), one probe per partition');
    const off = await runPlan(stageFor(t, parseConfig({ tables: [table('Msg Log', { key_lookup_index: false })] })));
    expect(off.tables[0]!.statements.some((x) => x.sql.includes('Msg Log_Msg ID_idx'))).toBe(false);

    const config = parseConfig({ tables: [table('Msg Log')] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: 'Msg Log', action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: 'Msg Log' });
    await sql`analyze "Msg Log_shadow"`.execute(t.db);
    const explain = await sql<{ 'QUERY PLAN': string }>`explain (costs off) select * from "Msg Log_shadow" where "Msg ID" = 100000000000000001234`.execute(t.db);
    const lines = explain.rows.map((r) => r['QUERY PLAN']);
    expect(lines.filter((l) => /Index Scan using .*Msg ID_idx|Bitmap Index Scan on .*Msg ID_idx/.test(l))).toHaveLength(4);
    expect(lines.some((l) => /Seq Scan/.test(l))).toBe(false);
  });

  it('a foreign key between two configured tables: refused with the way through cutover (allow_drop, then add it again), not a legacy-side change that cannot help', async () => {
    await sql`create table "FK Orders" (id bigint primary key, tenant text not null)`.execute(t.db);
    await sql`create table "FK Lines" (id bigint primary key, order_id bigint not null references "FK Orders" (id), tenant text not null)`.execute(t.db);
    const tables = [
      { name: 'FK Orders', layout: { type: 'hash' as const, key: 'tenant', partitions: 2 } },
      { name: 'FK Lines', layout: { type: 'hash' as const, key: 'tenant', partitions: 2 } },
    ];
    const refused = await runPlan(stageFor(t, parseConfig({ tables }))).catch((e: unknown) => e);
    expect((refused as { exitCode?: number }).exitCode).toBe(2);
    expect((refused as Error).message).toMatch(/FOREIGN KEY FK Lines_order_id_fkey on public\.FK Lines cannot be kept .* which is being partitioned too/);
    const fix = (refused as { fix: string }).fix;
    expect(fix).toMatch(/^list "FK Lines_order_id_fkey" in tables\[\]\.allow_drop: .*once both are cut over add it again/);
    expect(fix).not.toMatch(/add the partition key/);
    // With it listed, the plan goes through and says the key is not kept.
    const planned = await runPlan(stageFor(t, parseConfig({ tables: [tables[0]!, { ...tables[1]!, allow_drop: ['FK Lines_order_id_fkey'] }] })));
    expect(planned.tables[1]!.changes.join('\n')).toMatch(/FOREIGN KEY FK Lines_order_id_fkey is not kept \(listed in allow_drop\)/);
  });

  it('a table without a primary key: refused before any shadow, with the statements that make its unique index the key, which run as printed', async () => {
    // A unique index on nullable columns (one of them the partition key), and one PostgreSQL could not take as a key (DESC).
    await sql`create table "No Key" ("Tenant" int, "Ref" text, n int)`.execute(t.db);
    await sql`create unique index "No Key by n" on "No Key" (n desc)`.execute(t.db);
    await sql`create unique index "No Key ref" on "No Key" ("Ref", "Tenant")`.execute(t.db);
    await sql`insert into "No Key" select g % 3, 'r' || g, g from generate_series(1, 100) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'No Key', layout: { type: 'hash', key: 'Tenant', partitions: 2 }, allow_drop: ['No Key by n'] }], migrations_dir: dir });
    const refused = await runPlan(stageFor(t, config), {}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InputInvalidError);
    expect((refused as Error).message).toBe('public.No Key has no primary key: sync, backfill and verify find and walk rows by it');
    const fix = (refused as InputInvalidError).fix!;
    expect(fix).toMatch(/^make its unique index No Key ref the primary key \(no index build, a brief exclusive lock\): Ref: make it NOT NULL without a long lock: /);
    const statements = fix.replace(/^[^)]*\): /, '').replace(/; then plan again$/, '').replace(/(Ref|Tenant): make it NOT NULL without a long lock: /g, '');
    expect(statements).toMatch(/alter table "public"\."No Key" add constraint "No Key ref" primary key using index "No Key ref"$/);
    await sql.raw(statements).execute(t.db);
    const planned = await runPlan(stageFor(t, config), {});
    // The key already holds the partition key: nothing widens.
    expect(planned.tables[0]!.key_changes).toEqual([]);
    const pk = await sql<{ name: string }>`select conname as name from pg_constraint where conrelid = '"No Key"'::regclass and contype = 'p'`.execute(t.db);
    expect(pk.rows).toEqual([{ name: 'No Key ref' }]);
  });

  it('column names holding a dot: the range start comes from the legacy minimum, the hash key\'s NULL check reads the right column', async () => {
    await sql`create table dotted_cols (id int, "event.at" timestamptz not null, "scope.key" text not null, primary key (id, "event.at"))`.execute(t.db);
    await sql`insert into dotted_cols select g, timestamptz '2026-03-15' + g * interval '1 day', 's' || (g % 3) from generate_series(1, 40) g`.execute(t.db);
    await sql`create table dotted_keys (id int primary key, "scope.key" text not null)`.execute(t.db);
    const config = parseConfig({ tables: [
      { name: 'dotted_cols', layout: { type: 'range', column: 'event.at', interval: 'month', premake: 1, default_partition: true } },
      { name: 'dotted_keys', layout: { type: 'hash', key: 'scope.key', partitions: 2 } },
    ], migrations_dir: dir });
    const plan = await runPlan(stageFor(t, config), { out: dir });
    const text = plan.tables.flatMap((x) => x.statements.map((st) => st.sql)).join('\n');
    expect(text).toMatch(/partition by range \("event\.at"\)/);
    expect(text).toMatch(/for values from \('2026-03-01 00:00:00\+00'\) to \('2026-04-01 00:00:00\+00'\)/); // the legacy minimum's month
    expect(text).toMatch(/partition by hash \("scope\.key"\)/);
    // and the rest of the pipeline on those names: sync, an online copy while rows change, verify.
    await migrate(dir);
    const one = parseConfig({ tables: [config.tables[0]!], migrations_dir: dir });
    await runSync(stageFor(t, one, { settings }), { table: 'dotted_cols', action: 'enable' });
    await sql`update dotted_cols set "scope.key" = 'moved' where id % 4 = 0`.execute(t.db);
    expect((await runBackfill(stageFor(t, one, { settings }), { table: 'dotted_cols', batchSize: 7 })).complete).toBe(true);
    await sql`delete from dotted_cols where id % 5 = 0`.execute(t.db);
    const v = await runVerify(stageFor(t, one));
    expect(v.tables[0]!.equality).toMatchObject({ rows_legacy: 32, rows_shadow: 32, differing_rows: 0 });
    await runSync(stageFor(t, one, { settings }), { table: 'dotted_cols', action: 'disable' });
  });

  it('a range column with a sentinel date: plan warns that most partitions would be empty and names the start to set; with it, no warning', async () => {
    await sql`create table "Sentinel Events" (id int primary key, "Happened At" date not null)`.execute(t.db);
    // 3% of the rows carry 2000-01-01 (an application's "unknown"), the rest span 2025-2026.
    await sql`insert into "Sentinel Events" select g, case when g % 33 = 0 then date '2000-01-01' else date '2025-01-01' + (g % 600) end from generate_series(1, 20000) g`.execute(t.db);
    await sql`analyze "Sentinel Events"`.execute(t.db);
    const layout = { type: 'range', column: 'Happened At', interval: 'month', premake: 1, default_partition: true } as const;
    const plan = await runPlan(stageFor(t, parseConfig({ tables: [{ name: 'Sentinel Events', layout }] })), {});
    const warn = plan.checks.find((c) => c.name === 'plan:public.Sentinel Events:sparse_range');
    expect(warn).toMatchObject({ status: 'warn', fix: expect.stringContaining('set tables[].layout.start to "2025-01-01"') });
    expect(warn!.detail).toMatch(/^\d+ of the \d+ month partitions lie before the first 1% of "Happened At": its minimum is 2000-01-01, its 1st percentile 2025-01-/);
    expect(plan.tables[0]!.leaf_count).toBeGreaterThan(300);
    const started = await runPlan(stageFor(t, parseConfig({ tables: [{ name: 'Sentinel Events', layout: { ...layout, start: '2025-01-01' } }] })), {});
    expect(started.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    // Dense data: no warning either.
    await sql`delete from "Sentinel Events" where "Happened At" = '2000-01-01'`.execute(t.db);
    await sql`analyze "Sentinel Events"`.execute(t.db);
    const dense = await runPlan(stageFor(t, parseConfig({ tables: [{ name: 'Sentinel Events', layout }] })), {});
    expect(dense.checks.filter((c) => c.status !== 'pass')).toEqual([]);
  });

  it('identity options, timestamp(3) range keys and same-named tables in two schemas', async () => {
    await sql`create schema app`.execute(t.db);
    await sql`create schema "Billing Data"`.execute(t.db);
    for (const schema of ['app', 'Billing Data']) {
      await sql`create table ${sql.id(schema, 'ledger')} (
          id bigint generated always as identity (start with 1000 increment by 5),
          at timestamp(3) with time zone not null default now(),
          primary key (id, at))`.execute(t.db);
    }
    const layout = { type: 'range', column: 'at', interval: 'month', premake: 1, default_partition: true };
    const config = parseConfig({ tables: [{ schema: 'app', name: 'ledger', layout }, { schema: 'Billing Data', name: 'ledger', layout }], migrations_dir: dir });
    const plan = await runPlan(stageFor(t, config), { out: dir });
    expect(new Set(plan.files.map((f) => path.basename(f.up))).size).toBe(2);
    expect((await readdir(dir)).filter((f) => f.includes('ledger')).length).toBe(4);
    await migrate(dir);
    const seq = await sql<{ increment: string; start: string }>`
      select s.seqincrement::text as increment, s.seqstart::text as start from pg_sequence s
      where s.seqrelid = pg_get_serial_sequence('"Billing Data".ledger_shadow', 'id')::regclass`.execute(t.db);
    expect(seq.rows[0]).toEqual({ increment: '5', start: '1000' });
    await sql`insert into "Billing Data".ledger_shadow default values`.execute(t.db);
  });

  it('plan --out gives the same files after sync enable (partgov\'s own triggers are not the application\'s)', async () => {
    await sql`create table replanned (id int primary key, scope_key text not null)`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'replanned', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }], migrations_dir: dir });
    await runPlan(stageFor(t, config), { out: dir });
    await migrate(dir);
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
    try {
      const again = await runPlan(stageFor(t, config), { out: dir });
      expect(again.files.map((f) => f.status)).toEqual(['unchanged']);
      expect(again.tables[0]!.notes.join('\n')).not.toMatch(/partgov_capture/);
    } finally {
      await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'disable' });
    }
  });

  it('verify sees a change a case-insensitive collation would hide', async () => {
    // Both embedded majors are built with ICU; a server without it fails here, loudly.
    await sql`create collation if not exists ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`.execute(t.db);
    await sql`create table labels (id int primary key, scope_key text not null, label text collate ci)`.execute(t.db);
    await sql`insert into labels select g, 'k' || g % 2, 'Label-' || g from generate_series(1, 100) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'labels', layout: { type: 'hash', key: 'scope_key', partitions: 2 } }] });
    await prepareShadows(t, config);
    await sql`insert into labels_shadow select * from labels`.execute(t.db);
    await sql`update labels_shadow set label = upper(label) where id = 7`.execute(t.db);
    const verify = await runVerify(stageFor(t, config));
    const equality = verify.tables[0]!.checks.find((c) => c.name === 'equality')!;
    expect(equality.status).toBe('fail');
    expect(equality.objects).toEqual(['changed ["7"]']);
  });

  it('a DEFERRABLE INITIALLY DEFERRED primary key stays deferred on the shadow (rows that swap keys in one transaction still commit), and the copy still skips rows already there, as a replica too', async () => {
    await sql`create function seats_noop() returns trigger language plpgsql as $$ begin return new; end $$`.execute(t.db);
    for (const [name, quiet] of [['Seats', false], ['Seats Quiet', true]] as const) {
      await sql`create table ${sql.id(name)} (seat int, scope_key text not null, holder text, constraint ${sql.id(`${name}_pkey`)} primary key (scope_key, seat) deferrable initially deferred)`.execute(t.db);
      const config = parseConfig({ tables: [{ name, layout: { type: 'hash', key: 'scope_key', partitions: 2 } }], migrations_dir: dir });
      await prepareShadows(t, config);
      const shadow = sql.id(`${name}_shadow`);
      const key = await sql<{ d: boolean; i: boolean }>`select condeferrable as d, condeferred as i from pg_constraint where conrelid = ${sql.lit(`"${name}_shadow"`)}::regclass and contype = 'p'`.execute(t.db);
      expect(key.rows).toEqual([{ d: true, i: true }]);
      // Swapping two seats passes through a moment where both rows hold seat 2: a deferred check allows it.
      await sql`insert into ${shadow} values (1, 'z', 'x'), (2, 'z', 'y')`.execute(t.db);
      await sql`update ${shadow} set seat = case seat when 1 then 2 else 1 end where scope_key = 'z'`.execute(t.db);
      await sql`delete from ${shadow}`.execute(t.db);
      // An application trigger on the shadow makes the copy write as a replica, which skips the deferred check (a trigger too).
      if (quiet) await sql`create trigger seats_noop before insert on ${shadow} for each row execute function seats_noop()`.execute(t.db);
      // The copy meets rows already in the shadow and skips them by key (ON CONFLICT cannot: PostgreSQL refuses a deferrable arbiter).
      await sql`insert into ${sql.id(name)} select g, 'k' || g % 3, 'h' || g from generate_series(1, 300) g`.execute(t.db);
      await sql`insert into ${shadow} select * from ${sql.id(name)} where seat % 10 = 0`.execute(t.db);
      const copied = await runBackfill(stageFor(t, config), { table: name, batchSize: 100 });
      expect(copied).toMatchObject({ complete: true, total_rows_copied: 300 });
      const verify = await runVerify(stageFor(t, config), { table: name });
      expect(verify.tables[0]!.checks.find((c) => c.name === 'equality')!.status).toBe('pass');
      expect((await sql<{ n: number }>`select count(*)::int as n from ${shadow}`.execute(t.db)).rows[0]!.n).toBe(300);
      await sql`drop table ${shadow}, ${sql.id(name)}`.execute(t.db);
    }
  });

  it('a table in another tablespace: its shadow, partitions and indexes go there too (and partitions added later), with the size in plan and preflight', async () => {
    // An in-place tablespace (a directory inside the data directory): no path on the server's machine needed.
    const space = `ts_${randomBytes(4).toString('hex')}`;
    await t.db.connection().execute(async (c) => {
      await sql`set allow_in_place_tablespaces = on`.execute(c);
      await sql`create tablespace ${sql.id(space)} location ''`.execute(c);
    });
    try {
      await sql`create table "Far Away" (id int primary key, scope_key text not null) tablespace ${sql.id(space)}`.execute(t.db);
      await sql`insert into "Far Away" select g, 'k' || (g % 3) from generate_series(1, 1000) g`.execute(t.db);
      const config = parseConfig({ tables: [{ name: 'Far Away', layout: { type: 'isolatable', key: 'scope_key', partitions: 2 }, tenant_column: 'scope_key', scope_column: 'scope_key', scope_key_column: 'scope_key' }], migrations_dir: dir });
      const plan = await runPlan(stageFor(t, config));
      expect(plan.tables[0]!.notes.join('\n')).toMatch(new RegExp(`public\\.Far Away lives in tablespace ${space}; the shadow goes there too \\(a full copy, \\d+ MB today with indexes\\)`));
      const pre = await runPreflight(stageFor(t, config, { settings: resolveSettings({ databaseUrl: t.url }, {}, config) }), {});
      expect(pre.checks.find((c) => c.name === 'tablespace:public.Far Away')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`plan creates its shadow there too`) });
      await prepareShadows(t, config);
      // A partition made later (as maintain makes them) follows the partitioned table, not the session.
      const leaf = (await sql<{ n: string; parent: string; b: string }>`select c.relname as n, p.parentrelid::regclass::text as parent, pg_get_expr(c.relpartbound, c.oid) as b
        from pg_partition_tree('"Far Away_shadow"') p join pg_class c on c.oid = p.relid where p.isleaf order by 1 limit 1`.execute(t.db)).rows[0]!;
      await sql`drop table ${sql.id(leaf.n)}`.execute(t.db);
      await sql`create table ${sql.id(leaf.n)} partition of ${sql.raw(leaf.parent)} ${sql.raw(leaf.b)}`.execute(t.db); // sql.raw: regclass and pg_get_expr text
      // isolate builds a scope's partition beside the table, then attaches it: in the same tablespace.
      await runIsolate(stageFor(t, config, { settings: resolveSettings({ lockTimeout: '2000' }, {}, config) }), { tenantId: 'k9', scope: 'k9', confirm: 'k9/k9' });
      const placed = await sql<{ rel: string; space: string | null }>`select c.relname as rel, ts.spcname as space from pg_class c left join pg_tablespace ts on ts.oid = c.reltablespace
        where c.relname like 'Far Away%' and c.relname <> 'Far Away' and c.relname not like 'Far Away_pkey' order by 1`.execute(t.db);
      expect(placed.rows.map((r) => r.rel)).toContainEqual(expect.stringMatching(/^Far Away_iso_k9_/));
      expect(placed.rows.length).toBeGreaterThan(6);
      for (const r of placed.rows) expect(r).toEqual({ rel: r.rel, space });
      const session = await sql<{ d: string }>`select current_setting('default_tablespace') as d`.execute(t.db);
      expect(session.rows[0]!.d).toBe(''); // the plan's statements reset it
    } finally {
      await sql`drop table if exists "Far Away_shadow"`.execute(t.db);
      await sql`drop table if exists "Far Away"`.execute(t.db);
      await sql`drop tablespace if exists ${sql.id(space)}`.execute(t.db);
    }
  });
});
