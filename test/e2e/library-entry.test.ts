import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

// Through the package's public entry ("partgov" resolves to the built dist/index.js, as for a
// library user); typed by the source it is built from, so typecheck needs no build first.
const entry = 'partgov';
const partgov = (await import(entry)) as typeof import('../../src/index.js');

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('lib');
  await sql`create table "Lib Items" (id int primary key, "Scope" text not null, v text)`.execute(t.db);
  await sql`insert into "Lib Items" select g, 's' || g % 3, 'v' || g from generate_series(1, 2000) g`.execute(t.db);
});
afterAll(async () => t.drop());

describe('the library entry', () => {
  it('runs every stage as run<Stage>(ctx, input): plans, applies, syncs, backfills, verifies, shadow-reads, cuts over and purges without the CLI', async () => {
    const config = partgov.parseConfig({ tables: [{ name: 'Lib Items', layout: { type: 'hash', key: 'Scope', partitions: 3 }, tenant_column: 'Scope', scope_column: 'Scope', cutover: { acknowledge_key_change: ['Scope', 'id'] } }] });
    const settings = partgov.resolveSettings({ lockTimeout: '2000' }, {}, config);
    const conn = partgov.openDatabase({ url: t.url, maxConnections: 6 });
    // One context for every stage: the database (with its connection factory), settings, config.
    const ctx = partgov.stageContext(conn, { settings, config });
    try {
      await partgov.runMigrate(ctx, { action: 'up' });
      const plan = await partgov.runPlan(ctx);
      await conn.db.transaction().execute(async (trx) => {
        for (const s of plan.tables[0]!.statements) await sql.raw(s.sql).execute(trx);
      });
      const table = config.tables[0]!;
      expect((await partgov.runSync(ctx, { table: table.name, action: 'enable' })).enabled).toBe(true);
      expect((await partgov.runBackfill(ctx, { table: table.name })).complete).toBe(true);
      const audit = await sql<{ outcome: string; rows: string }>`select outcome, details->>'rows_copied' as rows from partgov.audit_log where command = 'backfill' and table_name = 'public.Lib Items'`.execute(conn.db);
      expect(audit.rows).toEqual([{ outcome: 'succeeded', rows: '2000' }]);
      const verify = await partgov.runVerify(ctx);
      expect(verify.ok).toBe(true);
      expect(partgov.verdict(verify.tables[0]!.checks, { strict: false }).ok).toBe(true);
      expect((await partgov.runShadowRead(ctx, { table: table.name, samples: 3 })).ok).toBe(true);
      const cut = await partgov.runCutover(ctx, { table: table.name, confirm: 'Lib Items' });
      expect(cut.already).toBe(false);
      expect((await partgov.runStatus(ctx)).tables[0]!.stage).toBe('cut_over');
      // and purges a scope (a hash layout: a DELETE pruned to the scope's leaf), runs maintain, reads the gate's knobs
      const purged = await partgov.runPurge(ctx, { tenantId: 's1', scope: 's1', confirm: 's1/s1', mode: 'auto' });
      expect(purged.tables[0]).toMatchObject({ strategy: 'pruned_delete', rows_deleted: 667 });
      const maintained = await partgov.runMaintain(ctx);
      expect(maintained.changed).toBe(false);
      // every stage's result carries its own checks and verdict
      for (const r of [plan, verify, cut, purged, maintained, await partgov.runStatus(ctx), await partgov.runMigrate(ctx, { action: 'status' })]) {
        expect(r.ok).toBe(true);
        expect(r.checks.length).toBeGreaterThan(0);
        expect(partgov.verdict(r.checks, { strict: false }).ok).toBe(r.ok);
      }
      expect(partgov.parseGateEnv({}).GATEC_SLO_RECALL_P95_MS).toBe(800);
    } finally {
      await conn.close();
    }
  });
});
