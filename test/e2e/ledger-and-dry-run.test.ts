import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let args: string[];

beforeAll(async () => {
  t = await createTestDatabase('ledger');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-ledger-'));
  await sql`create schema "Ledger Test"`.execute(t.db);
  await sql`create table "Ledger Test"."Orders" (id bigint generated always as identity primary key, "Scope" text not null, total numeric)`.execute(t.db);
  await sql`insert into "Ledger Test"."Orders" ("Scope", total) select 's' || g % 4, g from generate_series(1, 500) g`.execute(t.db);
  const config = path.join(dir, 'partgov.config.json');
  await writeFile(config, JSON.stringify({ migrations_dir: path.join(dir, 'plan'), tables: [{ schema: 'Ledger Test', name: 'Orders', layout: { type: 'hash', key: 'Scope', partitions: 4 } }] }));
  args = ['--config', config, '--database-url', t.url];
});
afterAll(async () => t.drop());

/** Every catalog row a DDL step could touch in the two schemas involved, as text. */
async function catalogDump(): Promise<string[]> {
  const r = await sql<{ item: string }>`
    select format('class %s.%s %s', n.nspname, c.relname, c.relkind) as item from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('Ledger Test', 'partgov')
    union all select format('trigger %s on %s', tgname, tgrelid::regclass) from pg_trigger where not tgisinternal
    union all select format('function %s.%s', n.nspname, p.proname) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'partgov'
    union all select format('constraint %s on %s', conname, conrelid::regclass) from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname in ('Ledger Test', 'partgov')
    order by 1`.execute(t.db);
  return r.rows.map((x) => x.item);
}

describe('dry runs change nothing (not even the ledger); every other command is in partgov.run, every change in partgov.audit_log', () => {
  it('migrate up, plan, sync enable and disable: --dry-run prints the SQL and leaves the catalog identical', async () => {
    expect((await runCli([...args, 'migrate', 'up'])).code).toBe(0);
    expect((await runCli([...args, 'plan', '--out', JSON.parse((await import('node:fs')).readFileSync(args[1]!, 'utf8')).migrations_dir])).code).toBe(0);

    let before = await catalogDump();
    const dryUp = await runCli([...args, 'migrate', 'up', '--dry-run']);
    expect(dryUp.code, dryUp.stderr).toBe(0);
    expect(dryUp.stdout).toMatch(/-- up plan\/0001_partition_Ledger_Test_Orders_\w+ \(dry run: not applied\)/);
    expect(dryUp.stdout).toMatch(/create table "Ledger Test"."Orders_shadow"/);
    expect(await catalogDump()).toEqual(before);
    expect((await runCli([...args, 'migrate', 'up'])).code).toBe(0);

    before = await catalogDump();
    const dryEnable = await runCli([...args, 'sync', 'enable', '--table', 'Orders', '--dry-run']);
    expect(dryEnable.code, dryEnable.stderr).toBe(0);
    expect(dryEnable.stdout).toMatch(/create trigger "partgov_capture_insert" after insert on "Ledger Test"."Orders"/);
    expect(dryEnable.stdout).toMatch(/security definer/);
    expect(await catalogDump()).toEqual(before);

    expect((await runCli([...args, 'sync', 'enable', '--table', 'Orders'])).code).toBe(0);
    const enabled = await catalogDump();
    expect(enabled.filter((i) => i.startsWith('trigger partgov_capture_'))).toHaveLength(4);
    const dryDisable = await runCli([...args, 'sync', 'disable', '--table', 'Orders', '--dry-run']);
    expect(dryDisable.stdout).toMatch(/drop trigger if exists "partgov_capture_insert"/);
    expect(await catalogDump()).toEqual(enabled);

    expect((await runCli([...args, 'backfill', '--table', 'Orders'])).code).toBe(0);
    expect((await runCli([...args, 'verify'])).code).toBe(0);
    expect((await runCli([...args, 'sync', 'disable', '--table', 'Orders'])).code).toBe(0);
    // A refusal writes nothing: an unknown table is bad input.
    expect((await runCli([...args, 'backfill', '--table', 'Nope'])).code).toBe(2);

    const runs = await sql<{ command: string; table_name: string | null; status: string; has_result: boolean }>`
      select command, table_name, status, result is not null as has_result from partgov.run order by id`.execute(t.db);
    expect(runs.rows.map((r) => `${r.command} ${r.table_name ?? '-'} ${r.status}`)).toEqual([
      'migrate - succeeded',
      'plan - succeeded',
      'migrate - succeeded',
      'sync Ledger Test.Orders succeeded',
      'backfill Ledger Test.Orders succeeded',
      'verify Ledger Test.Orders succeeded',
      'sync Ledger Test.Orders succeeded',
    ]);
    expect(runs.rows.every((r) => r.has_result)).toBe(true);
    const audit = await sql<{ command: string; outcome: string; steps: { id: string; status: string }[] }>`
      select command, outcome, steps from partgov.audit_log order by id`.execute(t.db);
    expect(audit.rows.map((a) => `${a.command} ${a.outcome}`)).toEqual(['migrate up succeeded', 'migrate up succeeded', 'sync enable succeeded', 'backfill succeeded', 'sync disable succeeded']);
    // DDL changes list their statements; a backfill's row carries its figures instead.
    expect(audit.rows.filter((a) => a.command !== 'backfill').every((a) => a.steps.length > 0 && a.steps.every((s) => s.status === 'succeeded'))).toBe(true);
  });
});
