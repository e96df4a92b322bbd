import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanResult } from '../../src/plan/run-plan.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let dir: string;
const longName = `T${'x'.repeat(61)}y`; // 63 bytes: the longest name PostgreSQL keeps

beforeAll(async () => {
  t = await createTestDatabase('plancli');
  dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-plan-cli-'));
  await sql`create schema "Tenant Data"`.execute(t.db);
  await sql`create table "Tenant Data"."Order Items" (
      "Id" bigint generated always as identity primary key,
      "Scope Key" text not null,
      "order" integer not null,
      "user" text,
      "Payload" jsonb,
      "Tags" text[],
      "Amount" numeric(12, 2) not null default 0,
      "Name" text collate "C",
      "Placed At" timestamptz not null default now(),
      check ("Amount" >= 0))`.execute(t.db);
  await sql`create index "Items By Lower User" on "Tenant Data"."Order Items" (lower("user"))`.execute(t.db);
  await sql`create index "Items Partial" on "Tenant Data"."Order Items" ("Scope Key", "order" desc nulls last) include ("Amount") where "Payload" is not null`.execute(t.db);
  await sql`create index on "Tenant Data"."Order Items" using gin ("Tags")`.execute(t.db);
  await sql`insert into "Tenant Data"."Order Items" ("Scope Key", "order", "user", "Payload", "Tags", "Name", "Placed At")
            select 'k' || (g % 7), g, case when g % 3 = 0 then null else 'U' || g end, case when g % 2 = 0 then '{"a": 1}'::jsonb end,
                   array['x', 'y'], 'n' || g, timestamptz '2026-09-01' + g * interval '1 day'
            from generate_series(1, 60) g`.execute(t.db);
  await sql`create table ${sql.id(longName)} (id bigint primary key, k text not null)`.execute(t.db);
  await sql`create table with_unique (id bigint primary key, k text not null, email text unique)`.execute(t.db);
  await sql`create table nullable_key (id bigint primary key, k text)`.execute(t.db);
  await sql`insert into nullable_key values (1, null)`.execute(t.db);
});
afterAll(async () => t.drop());

async function configFile(name: string, tables: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  // One migrations folder for the database, as in real use: plan appends numbered files to it.
  await writeFile(file, JSON.stringify({ tables, migrations_dir: path.join(dir, 'migrations'), ...extra }));
  return file;
}

const plan = (cfg: string, ...args: string[]) => runCli(['--config', cfg, '--database-url', t.url, ...args, 'plan']);

describe('plan edge cases', () => {
  it('quoted mixed-case names, keyword columns, expression/partial/INCLUDE/gin indexes, identity ALWAYS, range + hash sub-partitions: applies and prunes', async () => {
    const cfg = await configFile('items', [
      {
        schema: 'Tenant Data',
        name: 'Order Items',
        layout: { type: 'range', column: 'Placed At', interval: 'month', premake: 1, start: '2026-09-01', default_partition: true, subpartition: { type: 'hash', key: 'Scope Key', partitions: 4 } },
      },
    ]);
    const out = path.join(dir, 'migrations');
    const r = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'plan', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json<PlanResult>();
    expect(result.tables[0]!.changes[0]).toBe('PRIMARY KEY (Id) becomes PRIMARY KEY (Placed At, Scope Key, Id): a partitioned table\'s primary key must include the partition key');
    const again = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'plan', '--out', out]);
    expect(again.json<PlanResult>().files[0]!.status).toBe('unchanged');
    expect((await readdir(out)).length).toBe(2);

    const up = await runCli(['--config', cfg, '--database-url', t.url, 'migrate', 'up']);
    expect(up.code, up.stderr).toBe(0);
    const upAgain = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'migrate', 'up']);
    expect(upAgain.json<{ applied: unknown[] }>().applied).toEqual([]);

    const leaves = await sql<{ n: number }>`select count(*)::int as n from pg_partition_tree('"Tenant Data"."Order Items_shadow"') where isleaf`.execute(t.db);
    // Sep..Dec 2026 (start to now + 1 premade month) + DEFAULT, each hashed into 4
    expect(leaves.rows[0]!.n).toBeGreaterThanOrEqual(5 * 4);
    const idx = await sql<{ def: string }>`select pg_get_indexdef(indexrelid) as def from pg_index where indrelid = '"Tenant Data"."Order Items_shadow"'::regclass order by 1`.execute(t.db);
    const defs = idx.rows.map((x) => x.def).join('\n');
    expect(defs).toContain('(lower("user"))');
    expect(defs).toContain('("Scope Key", "order" DESC NULLS LAST) INCLUDE ("Amount") WHERE ("Payload" IS NOT NULL)');
    expect(defs).toContain('USING gin ("Tags")');
    const ins = await sql<{ Id: string; Amount: string; Name: string }>`
      insert into "Tenant Data"."Order Items_shadow" ("Scope Key", "order", "Name") values ('k1', 1, 'b') returning "Id", "Amount", "Name"`.execute(t.db);
    expect(Number(ins.rows[0]!.Id)).toBeGreaterThan(60);
    expect(ins.rows[0]!.Amount).toBe('0.00');
    const coll = await sql<{ c: string }>`select collation_name as c from information_schema.columns where table_name = 'Order Items_shadow' and column_name = 'Name'`.execute(t.db);
    expect(coll.rows[0]!.c).toBe('C');
    const explain = await t.pool.query(`explain (costs off) select * from "Tenant Data"."Order Items_shadow" where "Scope Key" = 'k1' and "Placed At" >= '2026-10-03' and "Placed At" < '2026-10-04'`);
    const scans = explain.rows.map((x: Record<string, string>) => x["QUERY PLAN"] ?? "").filter((l: string) => / on "?Order Items_2026_10/.test(l));
    expect(scans).toHaveLength(1);
  });

  it('a 63-byte table name gets shortened, deterministic names that apply', async () => {
    const cfg = await configFile('long', [{ name: longName, layout: { type: 'hash', key: 'k', partitions: 4 } }]);
    const r = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'plan']);
    expect(r.code, r.stderr).toBe(0);
    const p = r.json<PlanResult>().tables[0]!;
    for (const name of [p.shadow_name, ...p.partitions.map((x) => x.name)]) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(p.shadow_name).toMatch(/_[0-9a-f]{8}_shadow$/);
    expect(new Set(p.partitions.map((x) => x.name)).size).toBe(4);
    const up = await runCli(['--config', cfg, '--database-url', t.url, 'plan', '--out', path.join(dir, 'migrations')]);
    expect(up.code).toBe(0);
    expect((await readdir(path.join(dir, 'migrations'))).filter((f) => f.startsWith('0002_'))).toHaveLength(2);
    const applied = await runCli(['--config', cfg, '--database-url', t.url, 'migrate', 'up']);
    expect(applied.code, applied.stderr).toBe(0);
    const n = await sql<{ n: number }>`select count(*)::int as n from pg_class where relname = any(${p.partitions.map((x) => x.name)}::text[])`.execute(t.db);
    expect(n.rows[0]!.n).toBe(4);
  });

  it('refuses a UNIQUE that cannot include the key (exit 2, naming it and the choices), unless allow_drop lists it', async () => {
    const refused = await plan(await configFile('uniq', [{ name: 'with_unique', layout: { type: 'hash', key: 'k', partitions: 4 } }]));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('UNIQUE constraint with_unique_email_key');
    expect(refused.stderr).toMatch(/allow_drop/);
    expect(refused.stdout).toBe('');
    const allowed = await runCli(['--config', await configFile('uniq2', [{ name: 'with_unique', layout: { type: 'hash', key: 'k', partitions: 4 }, allow_drop: ['with_unique_email_key'] }]), '--database-url', t.url, '--json', 'plan']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json<PlanResult>().tables[0]!.changes.join('\n')).toContain('with_unique_email_key is not kept');
  });

  it('refuses a missing table, a missing key column, and NULL keys, each with exit 2', async () => {
    const missing = await plan(await configFile('missing', [{ name: 'no_such_table', layout: { type: 'hash', key: 'k' } }]));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('table public.no_such_table does not exist');
    const badKey = await plan(await configFile('badkey', [{ name: 'with_unique', layout: { type: 'hash', key: 'scope_key' } }]));
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('partition key column "scope_key" does not exist in public.with_unique');
    expect(badKey.stderr).toMatch(/fix: set the layout key to one of: id, k, email/);
    const nulls = await plan(await configFile('nulls', [{ name: 'nullable_key', layout: { type: 'hash', key: 'k' } }]));
    expect(nulls.code).toBe(2);
    expect(nulls.stderr).toContain('holds NULLs');
    expect(nulls.stderr).toContain('fix: fill them (update "public"."nullable_key" set "k" = … where "k" is null), then make it NOT NULL without a long lock: alter table "public"."nullable_key" add constraint "k_not_null" check ("k" is not null) not valid;');
    const rangeOnText = await plan(await configFile('rangetext', [{ name: 'with_unique', layout: { type: 'range', column: 'email', interval: 'day' } }]));
    expect(rangeOnText.code).toBe(2);
    expect(rangeOnText.stderr).toContain('not a date or timestamp');
  });

  it('names a migrations folder that lacks an applied migration instead of failing obscurely', async () => {
    const cfg = path.join(dir, 'elsewhere.json');
    await writeFile(cfg, JSON.stringify({ tables: [{ name: 'with_unique', layout: { type: 'hash', key: 'k' } }], migrations_dir: dir }));
    await writeFile(path.join(dir, '0001_other.up.sql'), 'select 1;');
    const r = await runCli(['--config', cfg, '--database-url', t.url, 'migrate', 'up']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/was applied to this database but is not in the migrations folder/);
  });

  it('two configs share one database, each with its own migrations folder and an orders table: each "project" keeps its own plan history', async () => {
    await sql`create schema billing; create schema shop`.execute(t.db);
    for (const schema of ['billing', 'shop']) {
      await sql`create table ${sql.id(schema, 'orders')} (id bigint primary key, scope text not null)`.execute(t.db);
      await sql`insert into ${sql.id(schema, 'orders')} select g, 's' || g % 3 from generate_series(1, 50) g`.execute(t.db);
    }
    const write = async (name: string, schema: string, project?: string) => {
      const file = path.join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify({ tables: [{ schema, name: 'orders', layout: { type: 'hash', key: 'scope', partitions: 2 } }], migrations_dir: path.join(dir, `${name}-migrations`), ...(project ? { project } : {}) }));
      return ['--config', file, '--database-url', t.url];
    };
    const billing = await write('billing', 'billing', 'billing');
    const shop = await write('shop', 'shop', 'shop');
    for (const [args, out] of [[billing, 'billing-migrations'], [shop, 'shop-migrations']] as const) {
      expect((await runCli([...args, 'plan', '--out', path.join(dir, out)])).code).toBe(0);
      const up = await runCli([...args, 'migrate', 'up']);
      expect(up.code, up.stderr).toBe(0);
    }
    const shadows = await sql<{ s: string }>`select table_schema as s from information_schema.tables where table_name = 'orders_shadow' order by 1`.execute(t.db);
    expect(shadows.rows.map((r) => r.s)).toEqual(['billing', 'shop']);
    const status = await runCli([...shop, '--json', 'migrate', 'status']);
    expect(status.json<{ migrations: { set: string; name: string }[] }>().migrations.filter((m) => m.set === 'plan').map((m) => m.name)).toEqual([expect.stringMatching(/shop_orders/)]);
    // shop's down reverts shop's plan only
    expect((await runCli([...shop, 'migrate', 'down'])).code).toBe(0);
    const left = await sql<{ s: string }>`select table_schema as s from information_schema.tables where table_name = 'orders_shadow' order by 1`.execute(t.db);
    expect(left.rows.map((r) => r.s)).toEqual(['billing']);
    // a third config that reuses billing's project name with another folder is told what to do
    const stray = await write('stray', 'shop', 'billing');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, 'stray-migrations'), { recursive: true }));
    const refused = await runCli([...stray, 'migrate', 'up']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/needs its own "project" name/);
  });

  it('warns (exit 0) when --out is not the migrations_dir that `migrate up` applies, and stays quiet when it is', async () => {
    const cfg = await configFile('elsewhere', [{ name: 'with_unique', layout: { type: 'hash', key: 'k', partitions: 2 }, allow_drop: ['with_unique_email_key'] }]);
    const elsewhere = path.join(dir, 'review-copy');
    const r = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'plan', '--out', elsewhere]);
    expect(r.code, r.stderr).toBe(0);
    const warning = r.json<PlanResult>().checks.find((c) => c.name === 'migrations_dir');
    expect(warning).toMatchObject({ status: 'warn' });
    expect(warning!.detail).toContain(path.join(dir, 'migrations'));
    expect(r.stderr).toContain('warning: the files went to');
    const same = await runCli(['--config', cfg, '--database-url', t.url, '--json', 'plan', '--out', path.join(dir, 'migrations', '.', '')]);
    expect(same.code, same.stderr).toBe(0);
    expect(same.json<PlanResult>().checks.map((c) => c.name)).not.toContain('migrations_dir');
    // Nothing applied it: the shadow does not exist.
    const n = await sql<{ n: number }>`select count(*)::int as n from pg_class where relname = 'with_unique_shadow'`.execute(t.db);
    expect(n.rows[0]!.n).toBe(0);
  });

  it('prints SQL on stdout and the summary on stderr', async () => {
    const r = await plan(await configFile('stdout', [{ name: 'with_unique', layout: { type: 'hash', key: 'k', partitions: 2 }, allow_drop: ['with_unique_email_key'] }]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^-- partgov plan: public.with_unique -> public.with_unique_shadow/);
    expect(r.stdout).toContain('create table "public"."with_unique_p01" partition of "public"."with_unique_shadow" for values with (modulus 2, remainder 1);');
    expect(r.stderr).toContain('plan public.with_unique -> with_unique_shadow: hash, 2 leaves');
  });
});
