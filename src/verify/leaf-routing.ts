import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { PartitionModel } from '../db/catalog.js';
import { hashBoundOf } from '../db/partition-routing.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { StateDatabase } from '../db/state-tables.js';

/**
 * Which leaf of a hash-partitioned shadow a legacy row belongs to, computed on
 * the legacy row itself. With it, verify locates differing rows by leaf: the
 * shadow's per-leaf sums come free with its first pass, so only the legacy
 * table is read again (PostgreSQL parallelizes that read), and the rows of a
 * differing leaf are read from that leaf alone.
 *
 * PostgreSQL routes a row of a single-column hash partition key by
 * `hash_combine64(0, h)` = h + 0x49a0f4dd15e5a8e3 (mod 2^64), where h is the
 * key opclass's extended hash of the value with seed HASH_PARTITION_SEED, and
 * takes that modulo the modulus (a NULL key: remainder 0). That is internal
 * to PostgreSQL, so it is checked on rows of every leaf before it is trusted
 * (checkOnShadow); anything else (several key columns, an expression, a
 * collation other than the column's, sub-partitions) gets no routing.
 */
export interface LeafRouting {
  modulus: number;
  /** The leaf holding each remainder. */
  leafByRemainder: ReadonlyMap<number, PartitionModel>;
  /** The remainder of the row aliased `alias`, an int. */
  remainderOf(alias: string): RawBuilder<number>;
}

const hashPartitionSeed = 0x7a5b22367996dcfdn;
const hashCombineConstant = 0x49a0f4dd15e5a8e3n;
const two64 = 1n << 64n;

/**
 * The remainder of (h + constant) mod 2^64 modulo `modulus`, with h a signed
 * int8: for a power of two the low bits of the sum depend only on the low bits
 * of its terms (int8, no overflow); otherwise in numeric.
 */
function remainderExpression(h: RawBuilder<unknown>, modulus: number): RawBuilder<number> {
  // sql.raw: integer constants computed here, not input.
  const m = BigInt(modulus);
  if ((m & (m - 1n)) === 0n) {
    const mask = sql.raw(String(m - 1n));
    return sql<number>`coalesce(((${h} & ${mask}) + ${sql.raw(String(hashCombineConstant & (m - 1n)))}) & ${mask}, 0)::int`;
  }
  const wrap = sql.raw(String(two64));
  return sql<number>`coalesce(((((${h})::numeric + ${wrap}) % ${wrap} + ${sql.raw(String(hashCombineConstant))}) % ${wrap}) % ${sql.raw(String(m))}, 0)::int`;
}

/** The routing of the shadow's leaves, or null when it is not a one-level, single-column hash layout. */
export async function hashLeafRouting(conn: Kysely<StateDatabase>, pair: ShadowPair, leaves: readonly PartitionModel[]): Promise<LeafRouting | null> {
  if (leaves.length === 0 || leaves.some((l) => l.level !== 1 || l.parentSchema !== pair.shadow.schema || l.parentName !== pair.shadow.name)) return null;
  const r = await sql<{ column: string; fn_schema: string; fn_name: string; same_collation: boolean }>`
    select a.attname as column, n.nspname as fn_schema, p.proname as fn_name,
           pt.partcollation[0] = a.attcollation as same_collation
    from pg_partitioned_table pt
    join pg_attribute a on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
    join pg_opclass oc on oc.oid = pt.partclass[0]
    join pg_amproc ap on ap.amprocfamily = oc.opcfamily and ap.amproclefttype = oc.opcintype
                     and ap.amprocrighttype = oc.opcintype and ap.amprocnum = 2
    join pg_proc p on p.oid = ap.amproc
    join pg_namespace n on n.oid = p.pronamespace
    join pg_type t on t.oid = a.atttypid
    -- the legacy column must hash the same: same type and collation as the shadow's key
    join pg_attribute la on la.attrelid = ${pair.legacy.oid}::oid and la.attname = a.attname and not la.attisdropped
                        and la.atttypid = a.atttypid and la.attcollation = a.attcollation
    where pt.partrelid = ${pair.shadow.oid}::oid and pt.partstrat = 'h' and pt.partnatts = 1 and pt.partattrs[0] <> 0
      -- callable on the column as it is: the same type (a domain's base), a polymorphic argument or
      -- an implicit cast (date's hash on PostgreSQL 15 is hashint4extended, which SQL cannot call on a date)
      and (p.proargtypes[0] in (a.atttypid, t.typbasetype)
           or p.proargtypes[0] in ('anyelement'::regtype, 'anyenum'::regtype, 'anyarray'::regtype, 'anyrange'::regtype, 'record'::regtype)
           or exists (select 1 from pg_cast k where k.castsource in (a.atttypid, t.typbasetype) and k.casttarget = p.proargtypes[0] and k.castcontext = 'i'))`.execute(conn);
  const key = r.rows[0];
  if (!key?.same_collation || !pair.copyColumns.some((c) => c.name === key.column)) return null;
  const leafByRemainder = new Map<number, PartitionModel>();
  let modulus: number | null = null;
  for (const leaf of leaves) {
    const b = hashBoundOf(leaf.bound);
    if (!b || (modulus !== null && b.modulus !== modulus)) return null;
    modulus = b.modulus;
    leafByRemainder.set(b.remainder, leaf);
  }
  if (modulus === null || leafByRemainder.size !== modulus) return null;
  const fn = sql.id(key.fn_schema, key.fn_name);
  const mod = modulus;
  return {
    modulus: mod,
    leafByRemainder,
    remainderOf: (alias) => remainderExpression(sql`${fn}(${sql.id(alias, key.column)}, ${sql.raw(String(hashPartitionSeed))})`, mod),
  };
}

/** Rows checked per leaf before the routing is trusted. */
const checkedRowsPerLeaf = 50;

/**
 * Whether the routing puts rows of every leaf where PostgreSQL put them: the
 * first rows of each leaf, each compared with its leaf's remainder. A wrong
 * formula misplaces nearly every row, so a few per leaf settle it.
 */
export async function routingHoldsOnShadow(conn: Kysely<StateDatabase>, routing: LeafRouting): Promise<boolean> {
  const arms = [...routing.leafByRemainder].map(
    ([remainder, leaf]) =>
      sql`select count(*) filter (where ${routing.remainderOf('r')} <> ${sql.lit(remainder)})::int as wrong
          from (select * from ${sql.id(leaf.schema, leaf.name)} limit ${sql.lit(checkedRowsPerLeaf)}) r`,
  );
  const r = await sql<{ wrong: number }>`select sum(wrong)::int as wrong from (${sql.join(arms, sql` union all `)}) c`.execute(conn);
  return r.rows[0]!.wrong === 0;
}
