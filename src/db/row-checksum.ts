import { sql, type RawBuilder } from 'kysely';
import type { ColumnModel } from './catalog.js';

/** A NULL column's stand-in hash (0xAAAA…AAAA as int8): hash functions return NULL for NULL. */
const nullHash = sql.lit('-6148914691236517206');

const textHash = { schema: 'pg_catalog', name: 'hashtextextended', direct: true } as const;

/** A column as its hash function takes it: text under "C" for a nondeterministic collation, text for a type without a hash. */
function hashInput(c: ColumnModel, ref: RawBuilder<unknown>): RawBuilder<unknown> {
  // A nondeterministic collation hashes 'Label-1' and 'LABEL-1' alike: hash such text under "C".
  return c.nondeterministic ? sql`${ref}::text collate "C"` : c.hashFunction ? ref : sql`${ref}::text`;
}

/**
 * One row's 64-bit hash, for verify, backfill's batch checksums and
 * shadow-read (both sides of a comparison use the same text). Each value is
 * hashed by its type's own seeded hash (so equal data hashes equal whatever
 * its text form: reordered jsonb keys, -0.0), and the values are chained in
 * column order through hashint8extended, so a value moved to another row or
 * column changes the sum. ~30% cheaper than hash_record_extended(row(…)),
 * which builds a record per row first (1e6 rows of ~250 B: 250–330 against
 * 370–450 ms, PG 18), and that is most of verify's pass and of a batch's
 * overhead. Columns without a hash function (json, point, …) are hashed as text.
 * `alias` null means unqualified column names (e.g. in RETURNING).
 */
export function rowHash(columns: readonly ColumnModel[], alias: string | null): RawBuilder<string> {
  let chain: RawBuilder<string> | null = null;
  for (const c of columns) {
    const ref = alias === null ? sql.id(c.name) : sql.id(alias, c.name);
    // Text (nondeterministic collations, types without a hash) is hashed by hashtextextended, whatever the type's own function.
    const fn = c.hashFunction === null || c.nondeterministic ? textHash : c.hashFunction;
    // Not direct: the value as a one-field record, which hash_record_extended hashes with the type's own function.
    const hash = fn.direct ? sql`${sql.id(fn.schema, fn.name)}(${hashInput(c, ref)}, 0)` : sql`hash_record_extended(row(${ref}), 0)`;
    const value = sql<string>`coalesce(${hash}, ${nullHash})`;
    chain = chain === null ? value : sql<string>`hashint8extended(${value}, ${chain})`;
  }
  return chain ?? sql<string>`0::int8`;
}

/** Order-independent sum of row hashes as text: numeric, so it never overflows; '0' for no rows. */
export function sumOfHashes(hash: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`coalesce(sum(${hash}), 0)::text`;
}

/**
 * The checksum of a set of rows, e.g. `select ${rowChecksum(cols, 'b')} from t b`.
 *
 * @example
 * rowChecksum(columns, 'b') // coalesce(sum(hashint8extended(coalesce(pg_catalog.hashtextextended("b"."doc", 0), …), coalesce(pg_catalog.hashint8extended("b"."id", 0), …))), 0)::text
 */
export function rowChecksum(columns: readonly ColumnModel[], alias: string): RawBuilder<string> {
  return sumOfHashes(rowHash(columns, alias));
}

/**
 * A purge archive's checksum (MANIFEST.json): the sum of
 * `hash_record_extended(row(…), 0)`, which anyone can recompute by hand and
 * which archives written by every partgov version carry, so restore checks
 * old archives with the formula they were written with.
 */
export function archiveRowChecksum(columns: readonly ColumnModel[], alias: string): RawBuilder<string> {
  return sumOfHashes(sql`hash_record_extended(row(${sql.join(columns.map((c) => hashInput(c, sql.id(alias, c.name))))}), 0)`);
}
