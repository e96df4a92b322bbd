import { sql, type RawBuilder } from 'kysely';
import type { ColumnModel } from './catalog.js';

/**
 * One row's 64-bit hash. hash_record_extended (PostgreSQL 14+) hashes each
 * value with its type's hash function, so equal data hashes equal whatever its
 * text form (reordered jsonb keys, -0.0) and it is ~4x cheaper than hashing
 * `row::text` (measured: 83 ms vs 308 ms over 2e5 rows of ~250 bytes).
 * Columns without a hash opclass (json, point, …) are hashed as text.
 * `alias` null means unqualified column names (e.g. in RETURNING).
 */
export function rowHash(columns: readonly ColumnModel[], alias: string | null): RawBuilder<string> {
  const ref = (name: string) => (alias === null ? sql.id(name) : sql.id(alias, name));
  // A nondeterministic collation hashes 'Label-1' and 'LABEL-1' alike: hash such text under "C".
  const values = columns.map((c) =>
    c.nondeterministic ? sql`${ref(c.name)}::text collate "C"` : c.hashNative ? ref(c.name) : sql`${ref(c.name)}::text`,
  );
  return sql<string>`hash_record_extended(row(${sql.join(values)}), 0)`;
}

/** Order-independent sum of row hashes as text: numeric, so it never overflows; '0' for no rows. */
export function sumOfHashes(hash: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`coalesce(sum(${hash}), 0)::text`;
}

/**
 * The checksum of a set of rows, e.g. `select ${rowChecksum(cols, 'b')} from t b`.
 *
 * @example
 * rowChecksum(columns, 'b') // coalesce(sum(hash_record_extended(row("b"."id", "b"."doc"::text), 0)), 0)::text
 */
export function rowChecksum(columns: readonly ColumnModel[], alias: string): RawBuilder<string> {
  return sumOfHashes(rowHash(columns, alias));
}
