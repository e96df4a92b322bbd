import { sql, type RawBuilder } from 'kysely';
import type { ShadowPair } from '../db/shadow-pair.js';

/** A keyset position: the legacy primary-key values as text, in key order (exact for every type). */
export type KeysetPosition = string[];

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
 * `for key share` makes a concurrent DELETE or key UPDATE of a row in the batch
 * wait until the batch commits, so the sync trigger's delete then sees (and
 * removes) the copied row instead of the copy resurrecting a deleted one. It
 * does not block ordinary updates; those upsert over the copy, or the copy
 * yields to them.
 *
 * @example
 * // with scope key "k" and id key: where ("k", "id") > ($1::text, $2::bigint) order by "k", "id" limit $3
 */
export function batchQuery(pair: ShadowPair, after: KeysetPosition | null, limit: number): RawBuilder<BatchOutcome> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const cols = sql.join(pair.copyColumns.map((c) => sql.id(c.name)));
  const keyCols = sql.join(pair.legacyKey.map((c) => sql.id(c.name)));
  const keyDesc = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)} desc`));
  const keyAsText = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)}::text`));
  // sql.raw(c.type): format_type() text from the catalog, so the parameter compares with the column's own type.
  const where = after
    ? sql`where (${keyCols}) > (${sql.join(pair.legacyKey.map((c, i) => sql`${after[i]}::${sql.raw(c.type)}`))})`
    : sql``;
  const overriding = pair.overridingSystemValue ? sql`overriding system value` : sql``;
  return sql<BatchOutcome>`
    with batch as materialized (
      select ${cols} from ${legacy} ${where}
      order by ${keyCols}
      limit ${limit}
      for key share
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
