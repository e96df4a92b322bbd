import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { createScopedTables, insertScopeRows, schema, scopeDigests } from './scope-fixture.js';

let t: TestDatabase;
let configFile: string;

beforeAll(async () => {
  t = await createTestDatabase('purgecrash');
  const input = await createScopedTables(t.db);
  input.purge = { batch_rows: 200 };
  configFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'partgov-purgecrash-')), 'partgov.config.json');
  await writeFile(configFile, JSON.stringify(input));
  await runCli(['--config', configFile, '--database-url', t.url, 'migrate', 'up']);
});
afterAll(async () => t.drop());

const count = async (key: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, 'Edges')} where "Scope Key" = ${key}`.execute(t.db)).rows[0]!.n;

async function killWhen(args: string[], ready: () => Promise<boolean>): Promise<void> {
  const child = spawn(process.execPath, [cliPath, '--config', configFile, '--database-url', t.url, ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    for (let i = 0; i < 2000 && !(await ready()); i++) await sleep(5);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // The killed run's sessions (and their advisory locks) go once the server notices.
  for (let i = 0; i < 200; i++) {
    const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name like 'partgov %' and datname = current_database()`.execute(t.db);
    if (r.rows[0]!.n === 0) return;
    await sleep(25);
  }
}

describe('purge and isolate survive kill -9', () => {
  it('a batched DELETE killed half-way finishes on the next run: the scope gone, every other scope intact', async () => {
    await insertScopeRows(t.db, 'Edges', 'acme', 'perf', 20_000);
    const before = await scopeDigests(t.db, 'Edges');
    const args = ['purge', '--tenant-id', 'acme', '--scope', 'perf', '--confirm', 'acme/perf', '--mode', 'auto', '--table', 'Edges'];
    const start = await count('acme:perf');
    await killWhen(args, async () => (await count('acme:perf')) < start - 1000);
    const left = await count('acme:perf');
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(start);
    const again = await runCli(['--config', configFile, '--database-url', t.url, ...args, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json<{ tables: { rows_deleted: number }[] }>().tables[0]!.rows_deleted).toBe(left);
    const after = await scopeDigests(t.db, 'Edges');
    expect(after['acme:perf']).toBeUndefined();
    expect({ ...after, 'acme:perf': null }).toEqual({ ...before, 'acme:perf': null });
  });

  it('isolate killed while it copies a live scope loses nothing, and the next run moves it', async () => {
    await insertScopeRows(t.db, 'Notes', 'acme', 'main', 30_000);
    const before = await scopeDigests(t.db, 'Notes');
    const args = ['isolate', '--tenant-id', 'acme', '--scope', 'main', '--confirm', 'acme/main', '--table', 'Notes'];
    await killWhen(args, async () => (await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgname = 'partgov_isolate_capture'`.execute(t.db)).rows[0]!.n > 0);
    expect(await scopeDigests(t.db, 'Notes')).toEqual(before);
    const again = await runCli(['--config', configFile, '--database-url', t.url, ...args, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json<{ tables: { action: string }[] }>().tables[0]!.action).toBe('moved');
    expect(await scopeDigests(t.db, 'Notes')).toEqual(before);
    const where = await sql<{ leaf: string }>`select distinct c.relname as leaf from ${sql.id(schema, 'Notes')} n join pg_class c on c.oid = n.tableoid where "Scope Key" = 'acme:main'`.execute(t.db);
    expect(where.rows.map((r) => r.leaf)).toEqual([expect.stringMatching(/^Notes_iso_acme_main_/)]);
    const leftovers = await sql<{ n: number }>`select (select count(*) from pg_trigger where tgname like 'partgov_isolate%')::int
      + (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'partgov' and c.relname like 'iso_%')::int
      + (select count(*) from pg_class where relname like '%_next')::int as n`.execute(t.db);
    expect(leftovers.rows[0]!.n).toBe(0);
  });
});
