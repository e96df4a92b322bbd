import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createAppRole } from '../helpers/app-role.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-database.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let dir: string;
const table = { name: 'events', layout: { type: 'hash', key: 'scope_key', partitions: 4 } };

async function writeConfig(name: string, config: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

async function partgovSchemaExists(): Promise<boolean> {
  const r = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'partgov'`.execute(t.db);
  return r.rows[0]!.n > 0;
}

beforeAll(async () => {
  t = await createTestDatabase('cli');
  dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-cli-'));
  await sql`create table events (id bigint primary key, scope_key text not null)`.execute(t.db);
});
afterAll(async () => t.drop());

describe('partgov CLI: bad config', () => {
  const invalid: [string, unknown, string][] = [
    ['not JSON', '{"tables": [', '(root)'],
    ['wrong type', { tables: [{ ...table, layout: { ...table.layout, partitions: 'many' } }] }, 'tables[0].layout.partitions'],
    ['unknown key', { tables: [{ ...table, colour: 'blue' }] }, 'tables[0]'],
    ['bad layout', { tables: [{ ...table, layout: { type: 'list', key: 'scope_key' } }] }, 'tables[0].layout.type'],
    ['duplicate table', { tables: [table, { ...table, schema: 'public' }] }, 'tables[1].name'],
    ['missing scope key', { tables: [{ name: 'events', layout: { type: 'isolatable' } }] }, 'tables[0].layout.key'],
    ['bad retention', { tables: [{ name: 'events', layout: { type: 'range', column: 'c', interval: 'month', retention: { keep: 0 } } }] }, 'tables[0].layout.retention.keep'],
    ['tables not a list', { tables: { events: table } }, 'tables'],
    ['negative lock timeout', { tables: [table], lock_timeout_ms: -5 }, 'lock_timeout_ms'],
  ];
  it.each(invalid)('%s: exit 2 naming the JSON path, changes nothing', async (name, config, jsonPath) => {
    const file = await writeConfig(`${name.replace(/\W/g, '_')}.json`, config);
    const r = await runCli(['--config', file, '--database-url', t.url, 'migrate', 'up']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${jsonPath}:`);
    expect(r.stderr).toMatch(/fix: /);
    expect(await partgovSchemaExists()).toBe(false);
  });

  it('--json reports the failure as one JSON document with the issues', async () => {
    const file = await writeConfig('json.json', { tables: [{ ...table, layout: { type: 'hash' } }] });
    const r = await runCli(['--json', '--config', file, '--database-url', t.url, 'migrate', 'up']);
    expect(r.code).toBe(2);
    const doc = r.json<{ command: string; ok: boolean; error: { code: string; details: { issues: { path: string }[] } } }>();
    expect(doc).toMatchObject({ command: 'migrate', ok: false, error: { code: 'config_invalid' } });
    expect(doc.error.details.issues.map((i) => i.path)).toContain('tables[0].layout.key');
  });
});

describe('partgov CLI: APP_ENV=prod rules', () => {
  const safe = ['--lock-timeout', '2000', '--statement-timeout', '60000'];
  it.each([
    ['prod-no-embedded-database', ['demo', '--nodes', '10'], undefined],
    ['prod-remote-requires-tls', ['--database-url', 'postgres://app:pw@db.example.com/app', ...safe, 'migrate', 'status'], undefined],
    ['prod-lock-timeout-required', ['--statement-timeout', '60000', 'migrate', 'status'], undefined],
    ['prod-statement-timeout-required', ['--lock-timeout', '2000', 'migrate', 'status'], undefined],
    ['prod-lock-timeout-ceiling', ['--lock-timeout', '60000', '--statement-timeout', '60000', 'migrate', 'status'], undefined],
    ['prod-purge-partition-first', [...safe, 'migrate', 'status'], { tables: [table], purge: { default_mode: 'delete' } }],
    ['prod-retention-archive-default', [...safe, 'migrate', 'status'], { tables: [{ name: 'events', layout: { type: 'range', column: 'c', interval: 'day', retention: { keep: 7, action: 'drop' } } }] }],
  ] as [string, string[], unknown][])('%s: exit 3 in prod with the rule id; allowed in dev', async (ruleId, args, config) => {
    const cfgArgs = config ? ['--config', await writeConfig(`${ruleId}.json`, config)] : [];
    const prod = await runCli([...cfgArgs, ...args], { env: { APP_ENV: 'prod', DATABASE_URL: t.url } });
    expect(prod.code).toBe(3);
    expect(prod.stderr).toContain(`[${ruleId}]`);
    expect(prod.stderr).toMatch(/fix: /);
    expect(await partgovSchemaExists()).toBe(false);
    if (ruleId === 'prod-no-embedded-database' || ruleId === 'prod-remote-requires-tls') return; // dev would start a server / reach the network
    const dev = await runCli([...cfgArgs, ...args], { env: { APP_ENV: 'dev', DATABASE_URL: t.url } });
    expect(dev.code, dev.stderr).toBe(0);
  });
});

describe('partgov CLI: locks and secrets', () => {
  it('a second concurrent migrate exits 4 at once (no waiting on the lock), naming the holder', async () => {
    const holder = openDatabase({ url: t.url, maxConnections: 1 });
    try {
      await holder.db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtext('partgov:migrate'), hashtext('partgov'))`.execute(conn);
        try {
          const r = await runCli(['--database-url', t.url, '--lock-timeout', '60000', 'migrate', 'up']);
          // With a 60 s lock_timeout, a run that queued for the lock instead of failing fast would still be waiting.
          expect(r.code).toBe(4);
          expect(r.stderr).toMatch(/another partgov migrate run holds the lock .* \(pid \d+/);
        } finally {
          await sql`select pg_advisory_unlock_all()`.execute(conn);
        }
      });
    } finally {
      await holder.close();
    }
    expect(await partgovSchemaExists()).toBe(false);
  });

  it('a migration blocked by ACCESS EXCLUSIVE gives up after lock_timeout and retries, exits 4, and changes nothing', async () => {
    const planDir = path.join(dir, 'plan');
    await import('node:fs/promises').then((fs) => fs.mkdir(planDir, { recursive: true }));
    await writeFile(path.join(planDir, '0001_add.up.sql'), 'alter table events add column blocked_col int;');
    const cfg = await writeConfig('blocked.json', { tables: [table], migrations_dir: planDir, lock_retries: 2 });
    const blocker = openDatabase({ url: t.url, maxConnections: 1 });
    try {
      await blocker.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        try {
          await sql`lock table events in access exclusive mode`.execute(conn);
          const r = await runCli(['--config', cfg, '--database-url', t.url, '--lock-timeout', '300', 'migrate', 'up']);
          expect(r.code, r.stderr).toBe(4);
          expect(r.stderr).toMatch(/could not get its lock within 300 ms/);
          expect(r.stderr).toMatch(/after 3 attempts/);
        } finally {
          await sql`rollback`.execute(conn);
        }
      });
    } finally {
      await blocker.close();
    }
    const col = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_name = 'events' and column_name = 'blocked_col'`.execute(t.db);
    expect(col.rows[0]!.n).toBe(0);
    const recorded = await sql<{ n: number }>`select count(*)::int as n from partgov.plan_migration`.execute(t.db);
    expect(recorded.rows[0]!.n).toBe(0);
    await sql`drop schema partgov cascade`.execute(t.db);
  });

  it('never prints the database password, in text or JSON, on success or failure', async () => {
    // A role of its own with a long random password, whatever form the suite's own URL has.
    const role = await createAppRole(t, []);
    try {
      const password = new URL(role.url).password;
      expect(password.length).toBeGreaterThan(8);
      const ok = await runCli(['--json', 'preflight'], { env: { DATABASE_URL: role.url } });
      const badDb = new URL(role.url);
      badDb.pathname = '/no_such_database';
      const failed = await runCli(['--verbose', 'migrate', 'status'], { env: { DATABASE_URL: badDb.toString() } });
      const failedJson = await runCli(['--json', '--database-url', `${badDb.toString()}`, 'migrate', 'up']);
      expect(failed.code).toBe(5);
      expect(failedJson.code).toBe(5);
      for (const r of [ok, failed, failedJson]) {
        expect(r.stdout).not.toContain(password);
        expect(r.stderr).not.toContain(password);
      }
      expect(ok.json()).toMatchObject({ command: 'preflight' });
    } finally {
      await role.drop();
    }
  });
});

describe('partgov CLI: refusals before anything changes', () => {
  it('sync, backfill and verify exit 2 naming the missing state schema or shadow', async () => {
    const cfg = await writeConfig('stages.json', { tables: [table] });
    const args = ['--config', cfg, '--database-url', t.url];
    const sync = await runCli([...args, 'sync', 'enable', '--table', 'events']);
    expect(sync.code).toBe(2);
    expect(sync.stderr).toMatch(/state schema is missing[\s\S]*fix: run `partgov migrate up`/);
    expect((await runCli([...args, 'migrate', 'up'])).code).toBe(0);
    for (const cmd of [['sync', 'enable', '--table', 'events'], ['backfill', '--table', 'events'], ['verify']]) {
      const r = await runCli([...args, ...cmd]);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/shadow table public.events_shadow of public.events does not exist[\s\S]*partgov plan --out/);
    }
    const triggers = await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = 'events'::regclass and not tgisinternal`.execute(t.db);
    expect(triggers.rows[0]!.n).toBe(0);
    const badFlag = await runCli([...args, 'backfill', '--table', 'events', '--batch-size', 'lots']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--batch-size must be a whole number from 1 to 1000000 \(got "lots"\)/);
    for (const jobs of ['0', '17', '1.5']) {
      const r = await runCli([...args, 'backfill', '--table', 'events', '--jobs', jobs]);
      expect(r.code, `--jobs ${jobs}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--jobs must be a whole number from 1 to 16 \\(got "${jobs.replace('.', '\\.')}"\\)[\\s\\S]*fix: pass --jobs`));
    }
    // A NaN threshold would make its check pass silently; a NaN limit would reach SQL.
    for (const flag of ['--skew-threshold', '--bloat-threshold', '--max-diff-keys']) {
      const r = await runCli([...args, 'verify', flag, 'abc']);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${flag} must be a (whole )?number from .* \\(got "abc"\\)`));
    }
    await sql`drop schema partgov cascade`.execute(t.db);
  });
});

describe('partgov CLI: init and help', () => {
  it('init writes a starter config that validates, and refuses to overwrite it', async () => {
    const file = path.join(dir, 'starter.json');
    const r = await runCli(['--config', file, 'init']);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(await readFile(file, 'utf8')) as { tables: unknown[]; $schema: string };
    expect(written.tables).toHaveLength(4);
    expect(written.$schema).toMatch(/partgov\.config\.schema\.json$/);
    const again = await runCli(['--config', file, 'init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--force/);
  });

  it('every command --help shows an example; an unknown command exits 2', async () => {
    for (const cmd of ['init', 'preflight', 'migrate', 'plan', 'sync', 'backfill', 'verify', 'shadow-read', 'cutover', 'rollback', 'retire', 'status', 'demo']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Example:\n {2}partgov /);
    }
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('--version prints the package version and exits 0', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(await readFile(path.join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});
