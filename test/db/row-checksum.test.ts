import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTable, type TableModel } from '../../src/db/catalog.js';
import { archiveRowChecksum, rowChecksum } from '../../src/db/row-checksum.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let model: TableModel;
beforeAll(async () => {
  t = await createTestDatabase('rowsum');
  await sql`create type "Mood" as enum ('low', 'high')`.execute(t.db);
  await sql`create domain "Positive" as int check (value > 0)`.execute(t.db);
  await sql`create table "Row Sums" (
      "Set" int not null, a text, b text, n numeric, j jsonb, js json, p point, m "Mood", tags int[], names varchar(8)[], d "Positive", at timestamptz)`.execute(t.db);
  model = await requireTable(t.db, { schema: 'public', name: 'Row Sums' });
});
afterAll(async () => t.drop());

/** The checksum of the rows of one set, as verify and backfill compute it. */
async function checksumOf(set: number): Promise<string> {
  const cols = model.columns.filter((c) => c.name !== 'Set');
  const r = await sql<{ s: string }>`select ${rowChecksum(cols, 'r')} as s from "Row Sums" r where "Set" = ${set}`.execute(t.db);
  return r.rows[0]!.s;
}

async function rows(set: number, values: string): Promise<void> {
  await sql`insert into "Row Sums" ("Set", a, b, n, j, js, p, m, tags, names, d, at) select ${set}, * from (${sql.raw(values)}) v`.execute(t.db);
}

describe('row checksum', () => {
  it('tells apart rows that differ by a value moved between columns, between rows, or a NULL moved or made empty', async () => {
    const base = `values ('x', 'y', 1.5, '{"a": 1}'::jsonb, '{"k": 1}'::json, point(1, 2), 'low'::"Mood", array[1, 2], array['p']::varchar(8)[], 3, timestamptz '2026-01-01'),
                          ('u', null, 2.5, null, null, null, 'high', null, null, null, null)`;
    await rows(1, base);
    // a and b of the first row swapped.
    await rows(2, base.replace(`('x', 'y'`, `('y', 'x'`));
    // b moved from the first row to the second (the columns' multisets stay the same).
    await rows(3, base.replace(`('x', 'y'`, `('x', null`).replace(`('u', null`, `('u', 'y'`));
    // The second row's NULL b as ''.
    await rows(4, base.replace(`('u', null`, `('u', ''`));
    // The NULL moved from b to a in the second row (a = 'u' moved to b).
    await rows(5, base.replace(`('u', null`, `(null, 'u'`));
    // Array elements reordered, enum changed, domain value changed.
    await rows(6, base.replace('array[1, 2]', 'array[2, 1]'));
    await rows(7, base.replace(`'low'::"Mood"`, `'high'::"Mood"`));
    await rows(8, base.replace(`, 3, timestamptz`, `, 4, timestamptz`));
    const sums = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(checksumOf));
    expect(new Set(sums).size).toBe(8);
  });

  it('hashes equal data equally: the same rows in another order, reordered jsonb keys, -0.0, the same json text', async () => {
    await rows(10, `values ('x', 'y', 0.0, '{"a": 1, "b": 2}'::jsonb, '{"k": 1}'::json, point(1, 2), 'low'::"Mood", array[1], array['p']::varchar(8)[], 1, timestamptz '2026-01-01 00:00+02'), ('u', null, 1, null, null, null, null, null, null, null, null)`);
    await rows(11, `values ('u', null, 1, null, null, null, null, null, null, null, null), ('x', 'y', -0.0, '{"b": 2, "a": 1}'::jsonb, '{"k": 1}'::json, point(1, 2), 'low'::"Mood", array[1], array['p']::varchar(8)[], 1, timestamptz '2025-12-31 22:00+00')`);
    expect(await checksumOf(10)).toBe(await checksumOf(11));
  });

  it('hashes bytea and range columns on every major (PostgreSQL 15 hashes bytea by a function SQL cannot call)', async () => {
    await sql`create table "Bin Sums" ("Set" int not null, bin bytea, span tstzrange, nums int4multirange)`.execute(t.db);
    const bin = await requireTable(t.db, { schema: 'public', name: 'Bin Sums' });
    const cols = bin.columns.filter((c) => c.name !== 'Set');
    await sql`insert into "Bin Sums" values
      (1, '\x0102', tstzrange('2026-01-01', '2026-02-01'), '{[1,3)}'), (1, null, null, null),
      (2, null, null, null), (2, '\x0102', tstzrange('2026-01-01', '2026-02-01'), '{[1,3)}'),
      (3, '\x0103', tstzrange('2026-01-01', '2026-02-01'), '{[1,3)}'), (3, null, null, null)`.execute(t.db);
    const sums = await sql<{ s: string }>`select ${rowChecksum(cols, 'r')} as s from "Bin Sums" r group by "Set" order by "Set"`.execute(t.db);
    const [one, two, three] = sums.rows.map((r) => r.s);
    expect(two).toBe(one);
    expect(three).not.toBe(one);
  });

  it('is a hash of every column: each type uses its own hash function or, without one, its text', () => {
    const fn = Object.fromEntries(model.columns.map((c) => [c.name, c.hashFunction ? `${c.hashFunction.schema}.${c.hashFunction.name}` : null]));
    expect(fn).toMatchObject({ a: 'pg_catalog.hashtextextended', n: 'pg_catalog.hash_numeric_extended', j: 'pg_catalog.jsonb_hash_extended', js: null, p: null, m: 'pg_catalog.hashenumextended', tags: 'pg_catalog.hash_array_extended', names: null, d: 'pg_catalog.hashint4extended' });
  });

  it("an archive's checksum is the sum of hash_record_extended over its rows, the formula every MANIFEST.json was written with", async () => {
    const cols = model.columns.filter((c) => c.name !== 'Set');
    const r = await sql<{ ours: string; byHand: string }>`
      select ${archiveRowChecksum(cols, 'r')} as ours,
             coalesce(sum(hash_record_extended(row(a, b, n, j, js::text, p::text, m, tags, names::text, d, at), 0)), 0)::text as "byHand"
      from "Row Sums" r where "Set" = 1`.execute(t.db);
    expect(r.rows[0]!.ours).toBe(r.rows[0]!.byHand);
    expect(r.rows[0]!.ours).not.toBe('0');
  });
});
