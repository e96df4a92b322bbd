import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { InputInvalidError } from '../../src/errors.js';
import { resultOverlap, runShadowRead } from '../../src/shadow-read/run-shadow-read.js';
import { createEventsTable, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;

beforeAll(async () => {
  t = await createTestDatabase('sread');
  const base = await createEventsTable(t.db, 20_000);
  config = parseConfig({
    tables: [
      {
        ...base.tables[0]!,
        read_queries: [
          { name: 'latest', sql: 'select "ID", "Kind", "Note" from {{table}} where "Scope Key" = $1 order by "At" desc, "ID" limit 200' },
          { name: 'by_kind', sql: 'select "Kind", count(*) from {{table}} where "Scope Key" = $1 group by 1 order by 1' },
        ],
      },
    ],
  });
  await prepareShadows(t, config);
  await runBackfill(stageFor(t, config, { settings: resolveSettings({}, {}, undefined) }), { table: config.tables[0]!.name });
});
afterAll(async () => t.drop());

describe('resultOverlap', () => {
  it('is a multiset overlap over the larger side', () => {
    expect(resultOverlap([], [])).toBe(1);
    expect(resultOverlap([{ a: 1 }, { a: 1 }], [{ a: 1 }])).toBe(0.5);
    expect(resultOverlap([{ a: 1 }, { a: 2 }], [{ a: 2 }, { a: 1 }])).toBe(1);
    expect(resultOverlap([{ a: 1 }], [{ a: 1 }, { a: 3 }])).toBe(0.5);
  });
});

describe('shadow-read', () => {
  it('passes on an exact copy, pruning every scope-keyed query to one leaf', async () => {
    const r = await runShadowRead(stageFor(t, config), { table: config.tables[0]!.name, samples: 15 });
    expect(r.samples).toBeGreaterThanOrEqual(10);
    expect(r.queries.map((q) => q.name)).toEqual(['latest', 'by_kind']);
    for (const q of r.queries) {
      expect(q).toMatchObject({ overlap_min: 1, overlap_mean: 1, leaves_touched_max: 1 });
      expect(q.legacy_p50_ms).toBeGreaterThan(0);
      expect(q.shadow_p95_ms).toBeGreaterThanOrEqual(q.shadow_p50_ms);
    }
    expect(r.pruning_ok).toBe(true);
  });

  it('fails (overlap < 0.95) when the shadow misses 10% of each scope\'s rows, naming the worst scope', async () => {
    // Scopes are (g % 13, g % 5): ID % 50 < 5 takes 1 row in 10 from every scope.
    await sql`delete from "Acct Data"."Acct Events_shadow" where "ID" % 50 < 5`.execute(t.db);
    const r = await runShadowRead(stageFor(t, config), { table: config.tables[0]!.name, samples: 15, minOverlap: 0.95 });
    const latest = r.queries.find((q) => q.name === 'latest')!;
    expect(latest.overlap_min).toBeLessThan(0.95);
    expect(latest.overlap_min).toBeGreaterThan(0.8);
    expect(latest.worst_scope).toMatch(/^tenant_\d+:scope_\d$/);
    expect(r.overlap_min).toBeLessThan(r.min_overlap);
  });

  it('runs configured queries read-only: a query that deletes is refused and deletes nothing', async () => {
    const before = await sql<{ n: number }>`select count(*)::int as n from "Acct Data"."Acct Events"`.execute(t.db);
    const writing = parseConfig({
      tables: [{ ...config.tables[0]!, read_queries: [{ name: 'sneaky', sql: 'with d as (delete from {{table}} where "Scope Key" = $1 returning "ID") select * from d' }] }],
    });
    const err = await runShadowRead(stageFor(t, writing), { table: writing.tables[0]!.name, samples: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputInvalidError);
    expect((err as Error).message).toMatch(/read query "sneaky" of Acct Data.Acct Events writes/);
    const after = await sql<{ n: number }>`select count(*)::int as n from "Acct Data"."Acct Events"`.execute(t.db);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});
