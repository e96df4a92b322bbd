import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runVerify, type TableVerdict } from '../../src/verify/run-verify.js';
import { runSync } from '../../src/sync/run-sync.js';
import { openDatabase } from '../../src/db/open-database.js';
import { compareRows, openComparisonConnections } from '../../src/verify/compare-rows.js';
import { resolveShadowPair } from '../../src/db/shadow-pair.js';
import { createEventsTable, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let events: PartgovConfig;
const settings = resolveSettings({}, {}, undefined);
const check = (v: TableVerdict, name: string) => v.checks.find((c) => c.name === name)!;

beforeAll(async () => {
  t = await createTestDatabase('verify');
  events = await createEventsTable(t.db, 100_000);
  await prepareShadows(t, events);
  await runBackfill(stageFor(t, events, { settings }), { table: events.tables[0]!.name, batchSize: 20_000 });
});
afterAll(async () => t.drop());

describe('verify equality', () => {
  it('in 1e5 rows, names one changed, one missing and one extra row by key; passes again once repaired', async () => {
    const shadow = sql`"Acct Data"."Acct Events_shadow"`;
    await sql`update ${shadow} set "Amount" = "Amount" + 0.0001 where "ID" = 31337`.execute(t.db);
    await sql`delete from ${shadow} where "ID" = 4242`.execute(t.db);
    await sql`insert into ${shadow} ("ID", "Scope Key", "Kind") values (900001, 'x:y', 'extra')`.execute(t.db);
    const broken = (await runVerify(stageFor(t, events))).tables[0]!;
    expect(broken.ok).toBe(false);
    expect(check(broken, 'equality').status).toBe('fail');
    expect(broken.equality.differing_rows).toBe(3);
    expect(broken.equality.differences).toEqual(
      expect.arrayContaining([
        { key: ['31337'], kind: 'changed' },
        { key: ['4242'], kind: 'missing_in_shadow' },
        { key: ['900001'], kind: 'extra_in_shadow' },
      ]),
    );
    await sql`update ${shadow} s set "Amount" = l."Amount" from "Acct Data"."Acct Events" l where s."ID" = 31337 and l."ID" = 31337`.execute(t.db);
    await sql`insert into ${shadow} select * from "Acct Data"."Acct Events" where "ID" = 4242`.execute(t.db);
    await sql`delete from ${shadow} where "ID" = 900001`.execute(t.db);
    const repaired = (await runVerify(stageFor(t, events))).tables[0]!;
    expect(check(repaired, 'equality')).toMatchObject({ status: 'pass' });
    expect(repaired.equality).toMatchObject({ rows_legacy: 100_000, rows_shadow: 100_000, differing_rows: 0, queries: 2 });
  });

  it('equal data never looks different: another physical order, NULLs, reordered jsonb keys, -0.0, a non-C collation text key', async () => {
    const icu = await sql<{ n: number }>`select count(*)::int as n from pg_collation where collname = 'und-x-icu'`.execute(t.db);
    const collation = icu.rows[0]!.n > 0 ? sql`collate "und-x-icu"` : sql`collate "POSIX"`;
    await sql`create table "Eq Test" (code text ${collation} primary key, bucket text not null, doc jsonb, f float8, n numeric, note text)`.execute(t.db);
    await sql`insert into "Eq Test" select 'Äb-' || g, 'b' || (g % 3), jsonb_build_object('a', g, 'z', 'v'), case when g % 5 = 0 then 0.0 else g / 3.0 end, case when g % 4 = 0 then null else g end, null from generate_series(1, 3000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Eq Test', layout: { type: 'hash', key: 'bucket', partitions: 4 } }] });
    await prepareShadows(t, config);
    // Written in reverse, with jsonb keys in another order and -0.0 where the legacy has 0.0.
    await sql`insert into "Eq Test_shadow" select code, bucket, ('{"z": "v", "a": ' || (doc->>'a') || '}')::jsonb, case when f = 0 then -0.0 else f end, n, note from "Eq Test" order by code desc`.execute(t.db);
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(check(v, 'equality')).toMatchObject({ status: 'pass' });
    expect(v.equality.rows_shadow).toBe(3000);
  });

  it('composite and text keys: every differing key is found, none missed at a boundary', async () => {
    await sql`create table "Comp Keys" ("Tenant" text not null, "Seq" int not null, v text, primary key ("Tenant", "Seq"))`.execute(t.db);
    await sql`insert into "Comp Keys" select (array['a', 'b', 'c''d', 'e f'])[1 + g % 4], g, 'v' || g from generate_series(1, 8000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Comp Keys', layout: { type: 'hash', key: 'Tenant', partitions: 4 } }] });
    await prepareShadows(t, config);
    await sql`insert into "Comp Keys_shadow" select * from "Comp Keys"`.execute(t.db);
    await sql`update "Comp Keys_shadow" set v = 'changed' where "Seq" in (1, 4000, 7999)`.execute(t.db);
    await sql`delete from "Comp Keys_shadow" where "Seq" in (2, 8000)`.execute(t.db);
    const v = (await runVerify(stageFor(t, config), { segments: 7 })).tables[0]!;
    const found = v.equality.differences.map((d) => `${d.kind} ${d.key.join('/')}`).sort();
    expect(found).toEqual(['changed b/1', 'changed e f/7999', 'changed a/4000', 'missing_in_shadow a/8000', "missing_in_shadow c'd/2"].sort());
  });
});

describe('verify as a role that may only read', () => {
  it('leaves the keys pending in the change log out (warning with their count) and still fails on a difference among the rest', async () => {
    await sql`create table "RO Notes" (id int primary key, bucket text not null, v text)`.execute(t.db);
    await sql`insert into "RO Notes" select g, 'b' || (g % 4), 'v' || g from generate_series(1, 5000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'RO Notes', layout: { type: 'hash', key: 'bucket', partitions: 4 } }] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: 'RO Notes', action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: 'RO Notes' });
    // The application writes after the copy (logged, not replayed yet); a row of the shadow differs apart from those.
    await sql`update "RO Notes" set v = 'app' where id between 1 and 3`.execute(t.db);
    await sql`update "RO Notes_shadow" set v = 'drift' where id = 4000`.execute(t.db);
    const role = `verify_ro_${randomBytes(4).toString('hex')}`;
    await sql`create role ${sql.id(role)} login password 'ro' in role pg_read_all_data`.execute(t.db);
    const url = new URL(t.url);
    url.username = role;
    url.password = 'ro';
    const ro = openDatabase({ url: url.toString(), maxConnections: 4 });
    try {
      const broken = (await runVerify(stageFor(ro, config))).tables[0]!;
      expect(check(broken, 'replay').status).toBe('warn');
      expect(broken.equality.pending_entries).toBeGreaterThan(0);
      expect(check(broken, 'replay').figures).toEqual({ pending_entries: broken.equality.pending_entries });
      expect(check(broken, 'replay').detail).toMatch(/may not apply the change log \(permission denied/);
      expect(broken.equality.differences).toEqual([{ key: ['4000'], kind: 'changed' }]);
      expect(broken.ok).toBe(false);
      // Nothing was replayed: the shadow still has the old values of the logged keys.
      expect((await sql<{ v: string }>`select v from "RO Notes_shadow" where id = 1`.execute(t.db)).rows[0]!.v).toBe('v1');
      await sql`update "RO Notes_shadow" set v = 'v4000' where id = 4000`.execute(t.db);
      const repaired = (await runVerify(stageFor(ro, config))).tables[0]!;
      expect(check(repaired, 'equality').status).toBe('pass');
      expect(check(repaired, 'replay').status).toBe('warn');
      // The owner replays, then a read-only verify has nothing left out.
      const owner = (await runVerify(stageFor(t, config))).tables[0]!;
      expect(owner.checks.map((c) => c.name)).not.toContain('replay');
      const complete = (await runVerify(stageFor(ro, config))).tables[0]!;
      expect(check(complete, 'replay')).toMatchObject({ status: 'pass', figures: { pending_entries: 0 } });
      expect(complete.ok).toBe(true);
    } finally {
      await ro.close();
      await sql`drop role ${sql.id(role)}`.execute(t.db);
    }
  });
});

describe('locating differences', () => {
  // The leaf path computes PostgreSQL's hash routing itself: every key type and modulus here must
  // land each row in its own leaf, or verify would name the wrong keys.
  const hashCases = [
    { table: 'Route Int8', type: 'bigint', value: sql`g * 7919`, partitions: 5 },
    { table: 'Route Uuid', type: 'uuid', value: sql`md5(g::text)::uuid`, partitions: 8 },
    { table: 'Route Varchar', type: 'varchar(20)', value: sql`'tenant ' || (g % 37)`, partitions: 3 },
    { table: 'Route Date', type: 'date', value: sql`date '2026-01-01' + (g % 400)`, partitions: 16 },
  ];
  for (const c of hashCases) {
    it(`hash by ${c.type} into ${c.partitions} leaves: the legacy rows are routed to their leaves, the differences named`, async () => {
      await sql`create table ${sql.id(c.table)} (id int primary key, "Part Key" ${sql.raw(c.type)} not null, v text)`.execute(t.db);
      await sql`insert into ${sql.id(c.table)} select g, ${c.value}, 'v' || g from generate_series(1, 6000) g`.execute(t.db);
      const config = parseConfig({ tables: [{ name: c.table, layout: { type: 'hash', key: 'Part Key', partitions: c.partitions } }] });
      await prepareShadows(t, config);
      const shadow = sql.id(`${c.table}_shadow`);
      await sql`insert into ${shadow} select * from ${sql.id(c.table)}`.execute(t.db);
      await sql`update ${shadow} set v = 'changed' where id in (17, 5999)`.execute(t.db);
      await sql`delete from ${shadow} where id = 3000`.execute(t.db);
      await sql`insert into ${shadow} select 7000, "Part Key", 'extra' from ${sql.id(c.table)} where id = 1`.execute(t.db);
      const v = (await runVerify(stageFor(t, config))).tables[0]!;
      // date's hash function takes an int4 on PostgreSQL 15, which SQL cannot pass a date: segments there.
      const byLeaf = !(c.type === 'date' && Number((await sql<{ v: string }>`select current_setting('server_version_num') as v`.execute(t.db)).rows[0]!.v) < 160000);
      expect(v.equality).toMatchObject(byLeaf ? { segments: c.partitions, queries: 6, differing_rows: 4 } : { segments: 64, queries: 6, differing_rows: 4 });
      expect(v.equality.differences.map((d) => `${d.kind} ${d.key.join('/')}`).sort()).toEqual(['changed 17', 'changed 5999', 'extra_in_shadow 7000', 'missing_in_shadow 3000']);
    });
  }

  it('many differences on a hash layout: all counted, --max-diff-keys of them listed, still located by leaf', async () => {
    await sql`create table "Route Many" (id int primary key, k int not null, v text)`.execute(t.db);
    await sql`insert into "Route Many" select g, g % 101, 'v' || g from generate_series(1, 9000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Route Many', layout: { type: 'hash', key: 'k', partitions: 4 } }] });
    await prepareShadows(t, config);
    await sql`insert into "Route Many_shadow" select * from "Route Many" where id % 3 <> 0`.execute(t.db);
    await sql`update "Route Many_shadow" set v = 'changed' where id % 3 = 1`.execute(t.db);
    const v = (await runVerify(stageFor(t, config), { maxDiffKeys: 25 })).tables[0]!;
    expect(v.equality).toMatchObject({ segments: 4, queries: 6, differing_rows: 6000 });
    // The lowest keys by the key's own order: ids 1..37 minus those ≡ 2 (mod 3), which are equal.
    const lowest = Array.from({ length: 37 }, (_, i) => i + 1).filter((id) => id % 3 !== 2);
    const listed = [...v.equality.differences].sort((a, b) => Number(a.key[0]) - Number(b.key[0]));
    expect(listed).toEqual(lowest.map((id) => ({ key: [String(id)], kind: id % 3 === 0 ? 'missing_in_shadow' : 'changed' })));
  });

  it('key columns named like the join\'s own columns ("h", "k0", "l"): both server-side joins name the right keys', async () => {
    await sql`create table "Odd Keys" ("h" int, "k0" text, "l" text, primary key ("h", "k0"))`.execute(t.db);
    await sql`insert into "Odd Keys" select g, 'tenant ' || (g % 7), 'v' || g from generate_series(1, 3000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Odd Keys', layout: { type: 'hash', key: 'k0', partitions: 4 } }] });
    await prepareShadows(t, config);
    await sql`insert into "Odd Keys_shadow" select * from "Odd Keys" where "h" <> 300`.execute(t.db);
    await sql`update "Odd Keys_shadow" set "l" = 'changed' where "h" = 17`.execute(t.db);
    await sql`insert into "Odd Keys_shadow" values (9000, 'tenant 1', 'extra')`.execute(t.db);
    const expected = ['changed 17/tenant 3', 'extra_in_shadow 9000/tenant 1', 'missing_in_shadow 300/tenant 6'];
    const named = (d: { kind: string; key: readonly string[] }[]) => d.map((x) => `${x.kind} ${x.key.join('/')}`).sort();
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(v.equality).toMatchObject({ segments: 4, queries: 6, differing_rows: 3 }); // the leaf path
    expect(named(v.equality.differences)).toEqual(expected);
    // The segment path's join (used past 400,000 rows in differing segments), forced here.
    const ctx = stageFor(t, config);
    const pair = await resolveShadowPair(ctx.database.db, config.tables[0]!);
    const connections = openComparisonConnections(ctx.database);
    const segments = await compareRows(connections, pair, { segments: 8, maxDiffKeys: 10, statementTimeoutMs: 0, shadowLeaves: [], clientMatchRows: 0 }).finally(() => connections.close());
    expect(segments).toMatchObject({ queries: 5, differing_rows: 3 });
    expect(named(segments.differences)).toEqual(expected);
  });

  it('a legacy key column that hashes differently from the shadow (another collation) is not routed: segments name the differences', async () => {
    await sql`create table "Route Coll" (id int primary key, k text not null, v text)`.execute(t.db);
    await sql`insert into "Route Coll" select g, 'k' || (g % 50), 'v' || g from generate_series(1, 2000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Route Coll', layout: { type: 'hash', key: 'k', partitions: 4 } }] });
    await prepareShadows(t, config);
    await sql`insert into "Route Coll_shadow" select * from "Route Coll"`.execute(t.db);
    await sql`alter table "Route Coll" alter column k type text collate "POSIX"`.execute(t.db);
    await sql`update "Route Coll_shadow" set v = 'changed' where id = 1999`.execute(t.db);
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(v.equality).toMatchObject({ segments: 64, queries: 6, differing_rows: 1, differences: [{ key: ['1999'], kind: 'changed' }] });
  });

  it('a range layout has no routing to compute: key-hash segments name the differences', async () => {
    await sql`create table "Route Range" (id int, at timestamptz not null, v text, primary key (id, at))`.execute(t.db);
    await sql`insert into "Route Range" select g, timestamptz '2026-01-01' + g * interval '1 hour', 'v' || g from generate_series(1, 3000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Route Range', layout: { type: 'range', column: 'at', interval: 'month', start: '2026-01-01', premake: 1, default_partition: true } }] });
    await prepareShadows(t, config);
    await sql`insert into "Route Range_shadow" select * from "Route Range"`.execute(t.db);
    await sql`update "Route Range_shadow" set v = 'changed' where id = 2000`.execute(t.db);
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(v.equality).toMatchObject({ segments: 64, queries: 6, differing_rows: 1, differences: [{ key: ['2000', expect.any(String)], kind: 'changed' }] });
  });
});

describe('verify partition health', () => {
  it('a dropped hash partition fails naming the remainder; a parent index missing on leaves fails naming leaf and index', async () => {
    const config = parseConfig({ tables: [{ name: 'health_hash', layout: { type: 'hash', key: 'k', partitions: 4 } }] });
    await sql`create table health_hash (id int primary key, k text not null, v int)`.execute(t.db);
    await prepareShadows(t, config);
    await sql`drop table health_hash_p02`.execute(t.db);
    await sql`create index only_on_parent on only health_hash_shadow (v)`.execute(t.db);
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(check(v, 'hash_remainders')).toMatchObject({ status: 'fail', objects: ['public.health_hash_shadow remainder 2 of modulus 4'] });
    expect(check(v, 'index_parity_leaves').status).toBe('fail');
    expect(check(v, 'index_parity_leaves').objects).toContain('only_on_parent on health_hash_p00');
    expect(check(v, 'invalid_indexes')).toMatchObject({ status: 'fail', objects: ['only_on_parent'] });
  });

  it('skew: a leaf with rows beside empty ones is named with how many are empty (not as "Nx the smallest (0)")', async () => {
    const config = parseConfig({ tables: [{ name: 'health_skew', layout: { type: 'hash', key: 'k', partitions: 4 } }] });
    await sql`create table health_skew (id int primary key, k text not null)`.execute(t.db);
    await sql`insert into health_skew select g, 'one scope' from generate_series(1, 1200) g`.execute(t.db);
    await prepareShadows(t, config);
    await runBackfill(stageFor(t, config, { settings }), { table: 'health_skew' });
    const v = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(check(v, 'skew')).toMatchObject({ status: 'warn', figures: { largest_rows: 1200, smallest_rows: 0 } });
    expect(check(v, 'skew').detail).toMatch(/^largest hash leaf public\.health_skew_p0\d holds 1200 rows while 3 of the 4 hash leaves are empty$/);
  });

  it('rows in a range DEFAULT partition are reported; missing future range partitions fail', async () => {
    const config = parseConfig({
      tables: [{ name: 'health_range', layout: { type: 'range', column: 'at', interval: 'month', premake: 2, start: '2026-10-01', default_partition: true } }],
    });
    await sql`create table health_range (id int primary key, at timestamptz not null)`.execute(t.db);
    await prepareShadows(t, config);
    await sql`insert into health_range_shadow values (1, '2031-01-01'), (2, '2031-02-01')`.execute(t.db);
    const now = new Date('2026-11-22T00:00:00Z');
    const ok = (await runVerify(stageFor(t, config, { now: now }))).tables[0]!;
    expect(check(ok, 'range_premake').status).toBe('pass');
    expect(check(ok, 'default_partition_rows')).toMatchObject({ status: 'warn', figures: { rows: 2 } });
    const later = (await runVerify(stageFor(t, config, { now: new Date('2027-01-15T00:00:00Z') }))).tables[0]!;
    expect(check(later, 'range_premake')).toMatchObject({ status: 'fail', figures: { needed_until: '2027-04-01' } });
    const strict = (await runVerify(stageFor(t, config, { now: now }), { strict: true })).tables[0]!;
    expect(strict.ok).toBe(false);
  });
});
