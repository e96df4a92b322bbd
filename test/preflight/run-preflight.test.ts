import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings, type RuntimeSettings } from '../../src/config/runtime-settings.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { openDatabase, type PartgovDatabase } from '../../src/db/open-database.js';
import { stageContext } from '../../src/stage/stage-context.js';
import { freeLoopbackPort } from '../../src/embedded/embedded-server.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPreflight } from '../../src/preflight/run-preflight.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const config = parseConfig({
  tables: [{ name: 'Events Log', schema: 'App Data', layout: { type: 'hash', key: 'Scope Key', partitions: 4 } }],
});
const settingsFor = (url: string) => resolveSettings({ databaseUrl: url }, {}, config);
/** preflight as the CLI runs it: the database opened from the settings' URL on first use, closed after. */
async function preflight(settings: RuntimeSettings, cfg: PartgovConfig, strict: boolean) {
  let opened: PartgovDatabase | undefined;
  const ctx = stageContext(() => (opened = openDatabase({ url: settings.databaseUrl, maxConnections: 2 })), { settings, config: cfg });
  try {
    return await runPreflight(ctx, { strict });
  } finally {
    await opened?.close();
  }
}
const statusOf = (r: Awaited<ReturnType<typeof runPreflight>>, name: string) => r.checks.find((c) => c.name === name)?.status;

beforeAll(async () => {
  t = await createTestDatabase('preflight');
  await sql`create schema "App Data"`.execute(t.db);
  await sql`create table "App Data"."Events Log" (id bigint primary key, "Scope Key" text not null)`.execute(t.db);
});
afterAll(async () => {
  await sql`drop owned by partgov_reader`.execute(t.db).catch(() => undefined);
  await sql`drop role if exists partgov_reader`.execute(t.db).catch(() => undefined);
  await t.drop();
});

describe('preflight', () => {
  it('fails state_schema before migrate up, naming the fix', async () => {
    const r = await preflight(settingsFor(t.url), config, false);
    const check = r.checks.find((c) => c.name === 'state_schema');
    expect(check?.status).toBe('fail');
    expect(check?.fix).toMatch(/partgov migrate up/);
    expect(r.failed).toBe(1);
  });

  it('passes on a prepared database', async () => {
    await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up' });
    const r = await preflight(settingsFor(t.url), config, true);
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(statusOf(r, 'connectivity')).toBe('pass');
    expect(statusOf(r, 'server_version')).toBe('pass');
    expect(statusOf(r, 'privileges:App Data.Events Log')).toBe('pass');
    expect(statusOf(r, 'key_column:App Data.Events Log')).toBe('pass');
    expect(r.checks.filter((c) => c.name.startsWith('app_env:')).length).toBeGreaterThanOrEqual(7);
  });

  it('fails connectivity on an unreachable host', async () => {
    const port = await freeLoopbackPort();
    const r = await preflight(settingsFor(`postgres://postgres:pw@127.0.0.1:${port}/x`), config, false);
    expect(statusOf(r, 'connectivity')).toBe('fail');
    expect(r.failed).toBeGreaterThanOrEqual(1);
  });

  it('fails table_exists on a missing table and key_column on a missing key column', async () => {
    const cfg = parseConfig({
      tables: [
        { name: 'nope', layout: { type: 'hash', key: 'k' } },
        { name: 'Events Log', schema: 'App Data', layout: { type: 'hash', key: 'scope_key' } },
      ],
    });
    const r = await preflight(resolveSettings({ databaseUrl: t.url }, {}, cfg), cfg, false);
    expect(statusOf(r, 'table_exists:public.nope')).toBe('fail');
    expect(statusOf(r, 'key_column:App Data.Events Log')).toBe('fail');
  });

  it('fails privileges for a role without rights', async () => {
    await sql`create role partgov_reader login password 'reader-pw'`.execute(t.db);
    await sql`grant usage on schema "App Data", partgov to partgov_reader`.execute(t.db);
    await sql`grant select on "App Data"."Events Log" to partgov_reader`.execute(t.db);
    await sql`grant select on all tables in schema partgov to partgov_reader`.execute(t.db);
    const u = new URL(t.url);
    u.username = 'partgov_reader';
    u.password = 'reader-pw';
    const r = await preflight(settingsFor(u.toString()), config, false);
    const check = r.checks.find((c) => c.name === 'privileges:App Data.Events Log');
    expect(check?.status).toBe('fail');
    expect(check?.detail).toMatch(/INSERT, UPDATE, DELETE, TRIGGER, ownership/);
    // No CREATE on the table's schema (plan's shadow goes there), none on schema partgov.
    const create = r.checks.find((c) => c.name === 'schema_create:App Data.Events Log');
    expect(create).toMatchObject({ status: 'fail', fix: expect.stringContaining(`grant create on schema "App Data" to <this role>`) }); // pasteable: the name quoted
    const state = r.checks.find((c) => c.name === 'state_schema');
    expect(state).toMatchObject({ status: 'fail', detail: expect.stringMatching(/lacks CREATE on schema "partgov"/) });
    expect(state?.fix).not.toMatch(/^run `partgov migrate up`$/);
  });

  it('reports prod rules as failed checks instead of refusing', async () => {
    const settings = resolveSettings({ databaseUrl: t.url, appEnv: 'prod' }, {}, parseConfig({ tables: config.tables }));
    const r = await preflight(settings, config, false);
    expect(statusOf(r, 'app_env:prod-lock-timeout-required')).toBe('fail');
    expect(statusOf(r, 'app_env:prod-statement-timeout-required')).toBe('fail');
  });
});
