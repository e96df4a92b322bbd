import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { InputInvalidError } from '../../src/errors.js';
import { latencyCheck, resultOverlap, runShadowRead } from '../../src/shadow-read/run-shadow-read.js';
import { runCutover } from '../../src/cutover/run-cutover.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { createAppRole } from '../helpers/app-role.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
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

describe('latencyCheck', () => {
  const q = (legacy: number, shadow: number, p50 = { legacy: legacy / 2, shadow: shadow / 2 }) => ({ name: 'recent', legacy_p50_ms: p50.legacy, shadow_p50_ms: p50.shadow, legacy_p95_ms: legacy, shadow_p95_ms: shadow, leaves_touched_max: 14 });
  it('warns when the shadow is above 1.5× the legacy table at both p50 and p95 and a millisecond or more slower; --max-latency-ratio makes it fail at its own bar', () => {
    expect(latencyCheck(q(8.48, 20), undefined)).toMatchObject({ name: 'latency:recent', status: 'warn', figures: { p95_ratio: 2.36, p50_ratio: 2.36 } });
    expect(latencyCheck(q(8.48, 20), undefined).fix).toMatch(/reads 14 leaf\(s\)/);
    expect(latencyCheck(q(8.48, 20), 2)).toMatchObject({ status: 'fail' });
    expect(latencyCheck(q(8.48, 20), 3)).toMatchObject({ status: 'pass' });
    expect(latencyCheck(q(8, 11.9), undefined)).toMatchObject({ status: 'pass' });
    expect(latencyCheck(q(8, 12.1), undefined)).toMatchObject({ status: 'warn' });
  });
  it('passes a slow p95 whose p50 is level (one slow sample of a few), a large ratio between sub-millisecond reads (less than 1 ms apart), and a shadow that is faster', () => {
    expect(latencyCheck(q(4, 12, { legacy: 1.1, shadow: 1.2 }), 1.2)).toMatchObject({ status: 'pass', figures: { p95_ratio: 3, p50_ratio: 1.09 } });
    expect(latencyCheck(q(0.1, 0.9), 1)).toMatchObject({ status: 'pass', figures: { p95_ratio: 9 } });
    expect(latencyCheck(q(20, 5), 1)).toMatchObject({ status: 'pass' });
    expect(latencyCheck(q(0, 0), 1)).toMatchObject({ status: 'pass', figures: { p95_ratio: 1 } });
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
    // Each query's latency is judged from the same figures it reports.
    for (const q of r.queries) {
      expect(r.checks.find((c) => c.name === `latency:${q.name}`)!.figures).toMatchObject({ legacy_p95_ms: q.legacy_p95_ms, shadow_p95_ms: q.shadow_p95_ms });
    }
    await expect(runShadowRead(stageFor(t, config), { table: config.tables[0]!.name, maxLatencyRatio: 0.5 })).rejects.toThrow(InputInvalidError);
  });

  it('names a query whose result depends on the table (no total ORDER BY) as such: the scopes below the bar hold identical rows', async () => {
    // Same rows, other physical order: a no-op update moves the shadow's even IDs to new pages.
    await sql`update "Acct Data"."Acct Events_shadow" set "Note" = "Note" where "ID" % 2 = 0`.execute(t.db);
    const unordered = parseConfig({
      tables: [{ ...config.tables[0]!, read_queries: [{ name: 'first_rows', sql: 'select "ID" from {{table}} where "Scope Key" = $1 limit 10' }] }],
    });
    const r = await runShadowRead(stageFor(t, unordered), { table: unordered.tables[0]!.name, samples: 5 }); // each scope below the bar is compared (5 per query)
    const q = r.queries[0]!;
    expect(q.overlap_min).toBeLessThan(0.95);
    expect(q.below.length).toBeGreaterThan(0);
    expect(q.below.every((b) => b.rows_identical === true)).toBe(true);
    const check = r.checks.find((c) => c.name === 'overlap:first_rows')!;
    expect(check.status).toBe('fail');
    expect(check.detail).toMatch(/holds identical rows in both tables .*depends on the table it runs on/);
    expect(check.fix).toMatch(/end its ORDER BY with the primary key \(order by …, "ID"\)/);
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
    // The scopes' own rows, compared in the reads' snapshot, put the blame on the copy.
    const compared = latest.below.filter((b) => b.rows_identical !== null);
    expect(compared).toHaveLength(5); // at most 5 scopes per query are read in full
    expect(compared.every((b) => b.rows_identical === false)).toBe(true);
    const check = r.checks.find((c) => c.name === 'overlap:latest')!;
    expect(check.detail).toMatch(/the rows of 5 of those scopes differ between the two tables/);
    expect(check.fix).toBe('run verify: it names the differing keys');
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

describe('shadow-read while the application writes', () => {
  it('compares each sample in one snapshot with the change log caught up: overlap 1 under a continuous writer, before and after cutover', async () => {
    await sql`create table "Live Feed" (id bigint generated always as identity primary key, "Scope" text not null, at timestamptz not null default clock_timestamp(), body text)`.execute(t.db);
    await sql`insert into "Live Feed" ("Scope", body) select 's' || (g % 6), 'b' || g from generate_series(1, 3000) g`.execute(t.db);
    const live = parseConfig({
      tables: [{
        name: 'Live Feed',
        layout: { type: 'hash', key: 'Scope', partitions: 4 },
        cutover: { acknowledge_key_change: ['Scope', 'id'] },
        // The newest rows of a scope: exactly what a writer between two separate reads changes.
        read_queries: [{ name: 'newest', sql: 'select id, body from {{table}} where "Scope" = $1 order by at desc, id desc limit 20' }],
      }],
    });
    const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
    await prepareShadows(t, live);
    const app = await createAppRole(t, [{ schema: 'public', name: 'Live Feed' }]);
    let writing = true;
    let written = 0;
    let writer: Promise<void> = Promise.resolve();
    try {
      await runSync(stageFor(t, live, { settings }), { table: 'Live Feed', action: 'enable' });
      await runBackfill(stageFor(t, live, { settings }), { table: 'Live Feed' });
      const appDb = app.open().db;
      // The application inserts into every scope, one statement after another, as a non-owner role.
      writer = (async () => {
        while (writing) {
          await sql`insert into "Live Feed" ("Scope", body) values (${`s${written % 6}`}, 'live')`.execute(appDb);
          written++;
        }
      })();
      const compare = async (phase: string) => {
        const from = written;
        const r = await runShadowRead(stageFor(t, live, { settings }), { table: 'Live Feed', samples: 6 });
        expect(written - from, `${phase}: the application wrote during the comparison`).toBeGreaterThan(0);
        expect(r.samples).toBe(6);
        expect(r.queries[0], phase).toMatchObject({ name: 'newest', overlap_min: 1, overlap_mean: 1, below: [] });
        expect(r.ok).toBe(true);
      };
      await compare('before cutover');
      expect((await runVerify(stageFor(t, live))).ok).toBe(true);
      await runCutover(stageFor(t, live, { settings }), { table: 'Live Feed', confirm: 'Live Feed' });
      await compare('after cutover (the archive follows by the reverse log)');
    } finally {
      writing = false;
      await writer; // an application statement that failed fails the test here
      await app.drop();
    }
    await runSync(stageFor(t, live, { settings }), { table: 'Live Feed', action: 'replay' });
    expect(await differingRows(t.db, 'public', 'Live Feed', 'Live Feed_legacy')).toBe(0);
  });
});

describe('shadow-read on a table partitioned by time alone', () => {
  it('samples its scope column; a query bounded in time prunes, one that is not reads every month and warns without failing', async () => {
    await sql`create table "Acct Data"."Ledger Lines" (id bigint primary key, "Tenant" int not null, "Store" text, "At" timestamptz not null)`.execute(t.db);
    await sql`insert into "Acct Data"."Ledger Lines" select g, g % 7, case when g % 9 = 0 then null else 'store-' || (g % 4) end, timestamptz '2026-01-01' + g * interval '30 minutes' from generate_series(1, 8000) g`.execute(t.db);
    const ranged = parseConfig({
      tables: [
        {
          schema: 'Acct Data',
          name: 'Ledger Lines',
          layout: { type: 'range', column: 'At', interval: 'month', start: '2026-01-01', default_partition: true },
          tenant_column: 'Tenant',
          scope_column: 'Store',
          read_queries: [
            { name: 'recent', sql: `select id, "At" from {{table}} where "Store" = $1 and "At" >= timestamptz '2026-05-01' order by "At" desc, id limit 50` },
            { name: 'all_time', sql: 'select count(*) from {{table}} where "Store" = $1' },
          ],
        },
      ],
    });
    await prepareShadows(t, ranged);
    await runBackfill(stageFor(t, ranged, { settings: resolveSettings({}, {}, undefined) }), { table: 'Ledger Lines' });
    const r = await runShadowRead(stageFor(t, ranged), { table: 'Ledger Lines', samples: 10 });
    expect(r.scope_column).toBe('Store');
    expect(r.samples).toBe(5); // four stores and NULL
    expect(r.checks.filter((c) => !c.name.startsWith('latency:')).map((c) => `${c.name}: ${c.status}`)).toEqual(['overlap:recent: pass', 'pruning:recent: pass', 'overlap:all_time: pass', 'pruning:all_time: warn']);
    expect(r.checks.find((c) => c.name === 'pruning:all_time')!.fix).toMatch(/bound the query on "At"/);
    expect(r.ok).toBe(true);
    expect(r.pruning_ok).toBe(false);
  });
});

describe('shadow-read on a range layout sub-partitioned by the scope', () => {
  it('a scope-keyed query over several months reads one leaf per month and passes; one that ignores the scope reads every leaf of a month and fails', async () => {
    await sql`create table "Acct Data"."Region Lines" (id bigint primary key, "Region Code" text not null, "Issued At" timestamp not null)`.execute(t.db);
    await sql`insert into "Acct Data"."Region Lines" select g, (array['eu', 'us', 'apac'])[1 + g % 3], timestamp '2026-01-01' + g * interval '30 minutes' from generate_series(1, 8000) g`.execute(t.db);
    const ranged = parseConfig({
      tables: [
        {
          schema: 'Acct Data',
          name: 'Region Lines',
          layout: { type: 'range', column: 'Issued At', interval: 'month', start: '2026-01-01', default_partition: true, subpartition: { type: 'list', key: 'Region Code', values: ['eu'] } },
          read_queries: [
            { name: 'recent', sql: `select id from {{table}} where "Region Code" = $1 and "Issued At" >= timestamp '2026-03-01' order by "Issued At" desc, id limit 50` },
            { name: 'unkeyed', sql: `select id from {{table}} where $1::text is not null and "Issued At" >= timestamp '2026-05-01' order by "Issued At" desc, id limit 50` },
          ],
        },
      ],
    });
    await prepareShadows(t, ranged);
    await runBackfill(stageFor(t, ranged, { settings: resolveSettings({}, {}, undefined) }), { table: 'Region Lines' });
    const r = await runShadowRead(stageFor(t, ranged), { table: 'Region Lines', samples: 10 });
    expect(r.scope_column).toBe('Region Code');
    expect(r.checks.filter((c) => !c.name.startsWith('latency:')).map((c) => `${c.name}: ${c.status}`)).toEqual(['overlap:recent: pass', 'pruning:recent: pass', 'overlap:unkeyed: pass', 'pruning:unkeyed: fail']);
    const recent = r.queries.find((q) => q.name === 'recent')!;
    expect(recent.leaves_per_period_max).toBe(1);
    expect(recent.leaves_touched_max).toBeGreaterThan(1);
    expect(r.queries.find((q) => q.name === 'unkeyed')!.leaves_per_period_max).toBe(2);
    expect(r.ok).toBe(false);
  });
});
