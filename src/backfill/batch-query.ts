import { sql, type RawBuilder } from 'kysely';
import type { ShadowPair } from '../db/shadow-pair.js';

/** A keyset position: the legacy primary-key values as text, in key order (exact for every type). */
export type KeysetPosition = string[];

/** The weakest row lock that still orders the batch before concurrent writes to its rows (see batchQuery). */
export function rowLock(pair: ShadowPair): RawBuilder<unknown> {
  const legacyKey = new Set(pair.legacyKey.map((c) => c.name));
  return pair.shadowKey.every((c) => legacyKey.has(c)) ? sql`for key share` : sql`for share`;
}

/** The highest legacy key now, as text; null for an empty table. */
export function highestKeyQuery(pair: ShadowPair): RawBuilder<{ key: KeysetPosition }> {
  const keyDesc = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)} desc`));
  const keyAsText = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)}::text`));
  return sql<{ key: KeysetPosition }>`select json_build_array(${keyAsText}) as key from ${sql.id(pair.legacy.schema, pair.legacy.name)} order by ${keyDesc} limit 1`;
}

export interface BatchOutcome {
  row_count: number;
  inserted: number;
  /** Order-independent: sum of hashtextextended(row::text, 0) over the batch's rows, as text. */
  checksum: string;
  first_key: KeysetPosition | null;
  last_key: KeysetPosition | null;
}

/**
 * One backfill batch as a single statement: take the next `limit` legacy rows
 * after `after` in primary-key order, insert them into the shadow (rows already
 * there, written by the sync trigger, win: DO NOTHING), and report count,
 * checksum and the key range.
 *
 * The batch locks the rows it copies until it commits, so a concurrent
 * DELETE or UPDATE of one of them waits, and the sync trigger then sees (and
 * deletes or overwrites) the copied row instead of the copy resurrecting a
 * deleted row or leaving a stale one beside a moved one. `for key share` is
 * enough when the shadow's key is the legacy key (only DELETE or a key UPDATE
 * can move a row then); when the shadow key adds the partition key, an UPDATE
 * of that column moves the row to another shadow key without touching the
 * legacy key, so the lock must be `for share` (found by the concurrent-writer
 * test: with key share, rows whose scope key changed mid-batch stayed twice).
 *
 * The walk stops at `upTo`, the highest key when the run started: rows
 * inserted after that are the sync trigger's to copy, and a walk that chased
 * them would never end under a steady insert load.
 *
 * @example
 * // with scope key "k" and id key: where ("k", "id") > ($1::text, $2::bigint) order by "k", "id" limit $3
 */
export function batchQuery(pair: ShadowPair, after: KeysetPosition | null, upTo: KeysetPosition, limit: number): RawBuilder<BatchOutcome> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const cols = sql.join(pair.copyColumns.map((c) => sql.id(c.name)));
  const keyCols = sql.join(pair.legacyKey.map((c) => sql.id(c.name)));
  const keyDesc = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)} desc`));
  const keyAsText = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)}::text`));
  // sql.raw(c.type): format_type() text from the catalog, so the parameter compares with the column's own type.
  const position = (key: KeysetPosition) => sql.join(pair.legacyKey.map((c, i) => sql`${key[i]}::${sql.raw(c.type)}`));
  const where = after
    ? sql`where (${keyCols}) > (${position(after)}) and (${keyCols}) <= (${position(upTo)})`
    : sql`where (${keyCols}) <= (${position(upTo)})`;
  const overriding = pair.overridingSystemValue ? sql`overriding system value` : sql``;
  return sql<BatchOutcome>`
    with batch as materialized (
      select ${cols} from ${legacy} ${where}
      order by ${keyCols}
      limit ${limit}
      ${rowLock(pair)}
    ), ins as (
      insert into ${shadow} (${cols}) ${overriding}
      select ${cols} from batch
      on conflict do nothing
      returning 1
    )
    select (select count(*) from batch)::int as row_count,
           (select count(*) from ins)::int as inserted,
           (select coalesce(sum(hashtextextended(b::text, 0)), 0) from batch b)::text as checksum,
           (select json_build_array(${keyAsText}) from batch order by ${keyCols} limit 1) as first_key,
           (select json_build_array(${keyAsText}) from batch order by ${keyDesc} limit 1) as last_key`;
}
