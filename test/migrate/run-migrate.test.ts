import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { createAppRole } from '../helpers/app-role.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase('migrate');
});
afterAll(async () => t.drop());


/** Tables, columns, indexes and constraints of every non-system schema, as text. */
async function catalogSnapshot(): Promise<string[]> {
  const r = await sql<{ item: string }>`
    select format('%s.%s %s', table_schema, table_name, string_agg(column_name || ':' || data_type, ',' order by ordinal_position)) as item
    from information_schema.columns where table_schema not in ('pg_catalog', 'information_schema') group by 1 = 1, table_schema, table_name
    union all select indexdef from pg_indexes where schemaname not in ('pg_catalog')
    union all select conname || ' ' || pg_get_constraintdef(oid) from pg_constraint where connamespace not in ('pg_catalog'::regnamespace)
    order by 1`.execute(t.db);
  return r.rows.map((x) => x.item);
}

describe('migrate (state schema)', () => {
  it('up creates the state tables; up again is a no-op', async () => {
    const first = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up' });
    expect(first.applied.map((a) => `${a.set}/${a.name}:${a.status}`)).toEqual([
      'state/0001_state_schema:success',
      'state/0002_backfill_deferred_indexes:success',
      'state/0003_change_log:success',
      'state/0004_sync_guard:success',
      'state/0005_purge_archived_rows:success',
    ]);
    const tables = await sql<{ t: string }>`select tablename as t from pg_tables where schemaname = 'partgov' order by 1`.execute(t.db);
    expect(tables.rows.map((r) => r.t)).toEqual(expect.arrayContaining(['audit_log', 'backfill_batch', 'backfill_checkpoint', 'gate_run', 'run', 'sync_rejected']));
    const second = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up' });
    expect(second.applied).toEqual([]);
    expect(second.pending).toBe(0);
  });

  it('up, down --all, up leaves the same catalog', async () => {
    const afterUp = await catalogSnapshot();
    const down = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'down', all: true });
    expect(down.applied.map((a) => `${a.direction} ${a.name}`)).toEqual(['down 0005_purge_archived_rows', 'down 0004_sync_guard', 'down 0003_change_log', 'down 0002_backfill_deferred_indexes', 'down 0001_state_schema']);
    const afterDown = await catalogSnapshot();
    expect(afterDown.some((i) => i.includes('partgov.run '))).toBe(false);
    await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up' });
    expect(await catalogSnapshot()).toEqual(afterUp);
  });

  it('applies and records plan migrations after the state schema, and reverts them first', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-plan-'));
    await writeFile(path.join(dir, '0001_widget.up.sql'), 'create table "Widget" (id int primary key);');
    await writeFile(path.join(dir, '0001_widget.down.sql'), 'drop table "Widget";');
    const up = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up', planFolder: dir });
    expect(up.applied).toEqual([{ set: 'plan', name: '0001_widget', direction: 'up', status: 'success' }]);
    const status = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'status', planFolder: dir });
    expect(status.migrations.filter((m) => m.executed_at).map((m) => m.name)).toEqual(['0001_state_schema', '0002_backfill_deferred_indexes', '0003_change_log', '0004_sync_guard', '0005_purge_archived_rows', '0001_widget']);
    const down = await runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'down', planFolder: dir });
    expect(down.applied).toEqual([{ set: 'plan', name: '0001_widget', direction: 'down', status: 'success' }]);
    const exists = await sql<{ n: number }>`select count(*)::int as n from pg_class where relname = 'Widget'`.execute(t.db);
    expect(exists.rows[0]!.n).toBe(0);
  });

  it('a role that may not create schema partgov is told the grant, and nothing is created', async () => {
    const own = await createTestDatabase('migratedenied');
    const role = await createAppRole(own, []);
    const asRole = role.open(4);
    try {
      const err = await runMigrate(stageFor(asRole, undefined, { lockTimeoutMs: 2000 }), { action: 'up' }).catch((e: unknown) => e);
      expect((err as { exitCode?: number }).exitCode).toBe(5);
      expect((err as Error).message).toMatch(/state migration failed and was rolled back: permission denied for database/);
      expect((err as { fix?: string }).fix).toMatch(/GRANT CREATE ON DATABASE <db> TO <this role>/);
      const schema = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'partgov'`.execute(own.db);
      expect(schema.rows[0]!.n).toBe(0);
    } finally {
      await role.drop();
      await own.drop();
    }
  });

  it('a failing plan migration rolls back and reports the file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-plan-'));
    await writeFile(path.join(dir, '0001_bad.up.sql'), 'create table half_done (id int); select * from no_such_table;');
    await expect(runMigrate(stageFor(t, undefined, { lockTimeoutMs: 2000 }), { action: 'up', planFolder: dir })).rejects.toThrow(/plan migration failed and was rolled back/);
    const exists = await sql<{ n: number }>`select count(*)::int as n from pg_class where relname = 'half_done'`.execute(t.db);
    expect(exists.rows[0]!.n).toBe(0);
  });
});
