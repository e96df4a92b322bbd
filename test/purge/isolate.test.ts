import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { SafetyRefusedError } from '../../src/errors.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { createAppRole } from '../helpers/app-role.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { allDigests, createScopedTables, schema } from './scope-fixture.js';

let t: TestDatabase;
let config: PartgovConfig;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('isolate');
  await runMigrate(t.db, { action: 'up', lockTimeoutMs: 5000, statementTimeoutMs: 0, lockRetries: 2 });
  config = parseConfig(await createScopedTables(t.db));
});
afterAll(async () => t.drop());

/** Digests without the scope the writer is writing to. */
const withoutWriter = (d: Awaited<ReturnType<typeof allDigests>>) => ({ ...d, Notes: { ...d.Notes, 'globex:perf': null } });

const leafOf = async (key: string) =>
  (await sql<{ leaf: string }>`select c.relname as leaf from ${sql.id(schema, 'Notes')} n join pg_class c on c.oid = n.tableoid where "Scope Key" = ${key} limit 1`.execute(t.db)).rows[0]?.leaf;

describe('isolate a new scope', () => {
  it('creates its partition while the application writes, leaves no constraint behind, and purge then truncates it', async () => {
    const app = await createAppRole(t, [{ schema, name: 'Notes' }]);
    const pool = app.open(2);
    let running = true;
    const failures: string[] = [];
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; running; i++) {
        try {
          await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key", "Body") values ('globex', 'perf', 'globex:perf', ${`w${i}`}::text)`.execute(pool.db);
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    try {
      const before = await allDigests(t.db);
      const dry = await runIsolate(t.db, { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new', dryRun: true }, { settings, config });
      expect(dry.tables[0]).toMatchObject({ action: 'created', partition: 'Tenant Data.Notes_iso_umbrella_new_' + dry.tables[0]!.partition.split('_new_')[1] });
      expect(withoutWriter(await allDigests(t.db))).toEqual(withoutWriter(before));

      const r = await runIsolate(t.db, { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new' }, { settings, config });
      expect(r.scope_key).toBe('umbrella:new');
      expect(r.tables[0]!.action).toBe('created');
      expect(r.tables[0]!.default_leaf).toMatch(/^Tenant Data\.Notes_default_p\d$/);
      // Every DEFAULT leaf is free of partgov's temporary constraints again.
      const leftover = await sql<{ n: number }>`select count(*)::int as n from pg_constraint where conname like 'partgov_not%'`.execute(t.db);
      expect(leftover.rows[0]!.n).toBe(0);
      // The application's writes to the new scope land in its own partition.
      await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key") values ('umbrella', 'new', 'umbrella:new')`.execute(pool.db);
      expect(await leafOf('umbrella:new')).toBe(r.tables[0]!.partition.split('.')[1]);
      // A second run does nothing.
      expect((await runIsolate(t.db, { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new' }, { settings, config })).tables[0]!.action).toBe('already_isolated');
      const purged = await runPurge(t, { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new', tables: config.tables.filter((x) => x.name === 'Notes') }, { settings, config });
      expect(purged.tables[0]!.strategy).toBe('truncate_partition');
      running = false;
      await writer;
      expect(failures).toEqual([]);
      expect(writes).toBeGreaterThan(0);
      const after = await allDigests(t.db);
      expect({ ...after.Notes, 'globex:perf': null }).toEqual({ ...before.Notes, 'globex:perf': null });
    } finally {
      running = false;
      await writer;
      await app.drop();
    }
  });

  it('refuses a scope that already has rows in the DEFAULT, changing nothing', async () => {
    const before = await allDigests(t.db);
    const err = await runIsolate(t.db, { tenantId: 'acme', scope: 'main', confirm: 'acme/main' }, { settings, config }).catch((e: unknown) => e);
    expect((err as SafetyRefusedError).ruleId).toBe('isolate-scope-has-rows');
    expect(await allDigests(t.db)).toEqual(before);
    const bad = await runIsolate(t.db, { tenantId: 'acme', scope: 'main', confirm: 'acme/main ' }, { settings, config }).catch((e: unknown) => e);
    expect((bad as Error).message).toContain('--confirm');
  });
});
