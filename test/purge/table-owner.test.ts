import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runMaintain } from '../../src/maintain/run-maintain.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { openDatabase } from '../../src/db/open-database.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { createScopedTables, schema } from './scope-fixture.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const now = new Date('2026-11-22T03:00:00Z');
const owner = `App Owner ${randomBytes(3).toString('hex')}`;
const password = randomBytes(8).toString('hex');

beforeAll(async () => {
  t = await createTestDatabase('tableowner');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  const input = await createScopedTables(t.db);
  input.tables.find((x) => x.name === 'Outbox')!.layout = { type: 'range', column: 'Updated At', interval: 'month', premake: 2, default_partition: true };
  input.purge = { swap_min_mb: 0 };
  config = parseConfig(input);
  // The application's own role owns its tables (it runs its schema migrations); partgov runs as another role.
  await sql`create role ${sql.id(owner)} login password ${sql.lit(password)} nosuperuser`.execute(t.db);
  await sql`grant connect on database ${sql.id(t.name)} to ${sql.id(owner)}`.execute(t.db);
  await sql`grant usage, create on schema ${sql.id(schema)} to ${sql.id(owner)}`.execute(t.db);
  const tables = await sql<{ name: string }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema} and c.relkind in ('r', 'p')`.execute(t.db);
  for (const r of tables.rows) await sql`alter table ${sql.id(schema, r.name)} owner to ${sql.id(owner)}`.execute(t.db);
});
afterAll(async () => {
  await sql`drop schema ${sql.id(schema)} cascade`.execute(t.db).catch(() => undefined);
  await sql`drop owned by ${sql.id(owner)}`.execute(t.db).catch(() => undefined);
  await sql`drop role if exists ${sql.id(owner)}`.execute(t.db);
  await t.drop();
});

describe('tables the application owns', () => {
  it("keep one owner through maintain, isolate and purge, so the owner's own ALTER TABLE and CREATE INDEX still work", async () => {
    const maintained = await runMaintain(stageFor(t, config, { settings, now }));
    expect(maintained.tables[0]!.created.length).toBeGreaterThan(0);
    await runIsolate(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new' }); // a new scope: built, attached
    const moved = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'globex', scope: 'perf', confirm: 'globex/perf' }); // rows in the DEFAULT: moved
    expect(moved.tables[0]!.action).toBe('moved');
    const purged = await runPurge(stageFor(t, config, { settings }), { tenantId: 'acme', scope: 'perf', confirm: 'acme/perf', table: ['Notes'] }); // the swap's twin
    expect(purged.tables[0]!.strategy).toBe('truncate_partition');

    const strangers = await sql<{ name: string; owner: string }>`select c.relname as name, pg_get_userbyid(c.relowner) as owner from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p') and pg_get_userbyid(c.relowner) <> ${owner} order by 1`.execute(t.db);
    expect(strangers.rows).toEqual([]);

    const app = openDatabase({ url: Object.assign(new URL(t.url), { username: encodeURIComponent(owner), password }).toString(), maxConnections: 1, applicationName: 'the application' });
    try {
      for (const table of ['Notes', 'Outbox']) {
        await sql`alter table ${sql.id(schema, table)} add column "Added Later" int`.execute(app.db);
        await sql`create index on ${sql.id(schema, table)} ("Added Later")`.execute(app.db);
      }
    } finally {
      await app.close();
    }
  });
});
