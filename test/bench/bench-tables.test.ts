import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/run-bench.js';
import { parseConfig } from '../../src/config/load-config.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let out: string;
/** Small knobs: whether every write lands, not the machine's speed, is under test. */
const env = { GATEC_BENCH_OPS: '20', GATEC_BENCH_CONCURRENCY: '2', GATEC_SCALES: '300' };

beforeAll(async () => {
  t = await createTestDatabase('benchtables');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  out = await mkdtemp(path.join(os.tmpdir(), 'partgov-bench-tables-'));
  await sql`create schema "Ledger"`.execute(t.db);
  // Keys the application makes: a uuid by default, a text code with no default, a date with no default.
  await sql`create table "Ledger"."Entries" ("Entry Id" uuid primary key default gen_random_uuid(), "Scope Key" text not null, amount numeric)`.execute(t.db);
  await sql`create table "Ledger"."Codes" (code text primary key, "Scope Key" text not null, n int)`.execute(t.db);
  await sql`create table "Ledger"."Days" (day date primary key, "Scope Key" text not null)`.execute(t.db);
  await sql`insert into "Ledger"."Entries" ("Scope Key", amount) select 't' || (g % 5) || ':s', g from generate_series(1, 400) g`.execute(t.db);
  await sql`insert into "Ledger"."Codes" select 'c' || g, 't' || (g % 5) || ':s', g from generate_series(1, 400) g`.execute(t.db);
  await sql`insert into "Ledger"."Days" select date '2026-01-01' + g, 't' || (g % 5) || ':s' from generate_series(1, 400) g`.execute(t.db);
  // A workspace uuid read from the scope's rows (scope_key_source "rows"), a unique title per workspace, and one row per scope.
  await sql`create table "Ledger"."Notes" (id bigint generated always as identity primary key, "Workspace" uuid not null, tenant text not null, scope text not null, title text not null, unique ("Workspace", title))`.execute(t.db);
  await sql`insert into "Ledger"."Notes" ("Workspace", tenant, scope, title) select ('00000000-0000-4000-8000-' || lpad((g % 20)::text, 12, '0'))::uuid, 't' || (g % 20 % 4), 's' || (g % 20), 'title ' || g from generate_series(1, 400) g`.execute(t.db);
  await sql`create table "Ledger"."Totals" (id bigint generated always as identity primary key, "Account" numeric(12,0) not null, tenant text not null, scope text not null, unique ("Account", tenant, scope))`.execute(t.db);
  await sql`insert into "Ledger"."Totals" ("Account", tenant, scope) select g, 't' || (g % 4), 's' || g from generate_series(1, 400) g`.execute(t.db);
});
afterAll(async () => t.drop());

const table = (name: string) => ({ schema: 'Ledger', name, layout: { type: 'isolatable' as const, key: 'Scope Key', partitions: 4 } });

describe('bench on tables whose key the application makes', () => {
  it('every seeded row and every write gets a key of its own (a uuid default, a text key without one); the perf scope is reset partition-first', async () => {
    // No tenant or scope column: the scope key names both.
    const config = parseConfig({ tables: [table('Entries'), table('Codes')] });
    for (const name of ['Entries', 'Codes']) {
      const r = await runBench(stageFor(t, config), { table: name, env, out: path.join(out, name) });
      const s = r.scales[0]!;
      expect(s.seeded_rows).toBe(300);
      expect(s.results.map((x) => `${x.workload}/${x.layout}: ${x.figures.errors} errors in ${x.figures.ops}`)).toEqual(['recall/partitioned', 'recall/legacy', 'write/partitioned', 'write/legacy'].map((w) => `${w}: 0 errors in 40`));
      expect(s.reset).toMatchObject({ error: null, strategies: [{ strategy: 'truncate_partition' }] });
    }
    // The copies and their key sequence do not outlive the run.
    const left = await sql<{ n: number }>`select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'partgov_bench'`.execute(t.db);
    expect(left.rows[0]!.n).toBe(0);
  });

  it('a perf scope with no row under a key read from rows gets a workspace uuid no row holds; a unique (workspace, title) gets new titles: no write collides', async () => {
    const config = parseConfig({ tables: [{ schema: 'Ledger', name: 'Notes', layout: { type: 'isolatable', key: 'Workspace', partitions: 4 }, tenant_column: 'tenant', scope_column: 'scope', scope_key_source: 'rows' }] });
    const r = await runBench(stageFor(t, config), { env, out: path.join(out, 'notes') });
    const s = r.scales[0]!;
    expect(s.seeded_rows).toBe(300);
    expect(s.results.map((x) => `${x.workload}/${x.layout}: ${x.figures.errors} errors in ${x.figures.ops}`)).toEqual(['recall/partitioned', 'recall/legacy', 'write/partitioned', 'write/legacy'].map((w) => `${w}: 0 errors in 40`));
    // The scope got its own partition in the copy, as isolate gives it, so the reset is a TRUNCATE.
    expect(s.reset).toMatchObject({ error: null, strategies: [{ strategy: 'truncate_partition' }] });
    // The live table is untouched: perf/perf has no row there.
    const live = await sql<{ n: number }>`select count(*)::int as n from "Ledger"."Notes" where tenant = 'perf'`.execute(t.db);
    expect(live.rows[0]!.n).toBe(0);
  });

  it('a unique index over the scope\'s own columns (one row per scope) is refused before anything is created, naming it', async () => {
    await sql`drop schema if exists partgov_bench cascade`.execute(t.db);
    const config = parseConfig({ tables: [{ schema: 'Ledger', name: 'Totals', layout: { type: 'hash', key: 'Account', partitions: 4 }, tenant_column: 'tenant', scope_column: 'scope', scope_key_column: 'Account', scope_key_source: 'rows' }] });
    const err = await runBench(stageFor(t, config), { env, out: path.join(out, 'totals') }).catch((e: unknown) => e);
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/unique index Totals_Account_tenant_scope_key on \(Account, tenant, scope\) allows one row per scope/);
    const schema = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'partgov_bench'`.execute(t.db);
    expect(schema.rows[0]!.n).toBe(0);
  });

  it('a composite key with a date and a char(2) in it: its bigint made new, the date and the code kept from the rows; no write collides', async () => {
    await sql`create table "Ledger"."Lines" (day date not null, region char(2) not null, "Line No" bigint not null, "Scope Key" text not null, primary key (day, region, "Line No"))`.execute(t.db);
    await sql`insert into "Ledger"."Lines" select date '2026-01-01' + g % 30, (array['DE', 'FR'])[1 + g % 2], g, 't' || (g % 5) || ':s' from generate_series(1, 400) g`.execute(t.db);
    const r = await runBench(stageFor(t, parseConfig({ tables: [table('Lines')] })), { env, out: path.join(out, 'lines') });
    const s = r.scales[0]!;
    expect(s.seeded_rows).toBe(300);
    expect(s.results.map((x) => `${x.workload}/${x.layout}: ${x.figures.errors} errors in ${x.figures.ops}`)).toEqual(['recall/partitioned', 'recall/legacy', 'write/partitioned', 'write/legacy'].map((w) => `${w}: 0 errors in 40`));
  });

  it('a numeric(30,0) key past bigint\'s range, with a NaN key: new keys follow the largest number; no write collides', async () => {
    await sql`drop schema if exists partgov_bench cascade`.execute(t.db);
    await sql`create table "Ledger"."Messages" ("Msg ID" numeric(30,0) primary key, "Scope Key" text not null, body text)`.execute(t.db);
    await sql`insert into "Ledger"."Messages" select 1e20 + g, 't' || (g % 5) || ':s', case when g % 3 = 0 then null else 'm' || g end from generate_series(1, 400) g union all select 'NaN', 't1:s', 'not a number'`.execute(t.db);
    const r = await runBench(stageFor(t, parseConfig({ tables: [table('Messages')] })), { env, out: path.join(out, 'messages') });
    expect(r.scales[0]!.results.map((x) => `${x.workload}/${x.layout}: ${x.figures.errors} errors in ${x.figures.ops}`)).toEqual(['recall/partitioned', 'recall/legacy', 'write/partitioned', 'write/legacy'].map((w) => `${w}: 0 errors in 40`));
  });

  it('an integer tenant column: perf/perf is refused before anything is created, naming the column and the flag; a numeric tenant benches it', async () => {
    await sql`drop schema if exists partgov_bench cascade`.execute(t.db);
    await sql`create table "Ledger"."Orders" (id bigint generated always as identity primary key, "Tenant" int not null, "Store" text not null)`.execute(t.db);
    await sql`insert into "Ledger"."Orders" ("Tenant", "Store") select g % 7, 'store-' || (g % 3) from generate_series(1, 400) g`.execute(t.db);
    const config = parseConfig({ tables: [{ schema: 'Ledger', name: 'Orders', layout: { type: 'hash', key: 'Store', partitions: 4 }, tenant_column: 'Tenant', scope_column: 'Store' }] });
    const err = await runBench(stageFor(t, config), { env, out: path.join(out, 'orders') }).catch((e: unknown) => e);
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/whose "Tenant" is of type integer: "perf" is not one/);
    expect((err as { fix?: string }).fix).toContain('--tenant-id');
    expect((await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'partgov_bench'`.execute(t.db)).rows[0]!.n).toBe(0);
    const r = await runBench(stageFor(t, config), { env, out: path.join(out, 'orders'), tenantId: '900' });
    expect(r.scales[0]!.results.map((x) => `${x.workload}/${x.layout}: ${x.figures.errors} errors in ${x.figures.ops}`)).toEqual(['recall/partitioned', 'recall/legacy', 'write/partitioned', 'write/legacy'].map((w) => `${w}: 0 errors in 40`));
  });

  it('a key it cannot make values for (a date without a default) is refused before anything is created', async () => {
    await sql`drop schema if exists partgov_bench cascade`.execute(t.db);
    const err = await runBench(stageFor(t, parseConfig({ tables: [table('Days')] })), { env, out: path.join(out, 'days') }).catch((e: unknown) => e);
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/cannot make a new value for its primary key column "day" of type date/);
    const schema = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'partgov_bench'`.execute(t.db);
    expect(schema.rows[0]!.n).toBe(0);
  });
});
