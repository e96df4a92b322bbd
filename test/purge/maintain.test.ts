import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runMaintain } from '../../src/maintain/run-maintain.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
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

    const dry = await runMaintain(stageFor(t, config, { settings, now }), { dryRun: true });
    expect(dry.changed).toBe(true);
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
