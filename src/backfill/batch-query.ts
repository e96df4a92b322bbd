import { sql, type RawBuilder } from 'kysely';
import { rowHash, sumOfHashes } from '../db/row-checksum.js';
import type { ShadowPair } from '../db/shadow-pair.js';

/** A keyset position: the legacy primary-key values as text, in key order (exact for every type). */
export type KeysetPosition = string[];

/**
 * How a batch writes: `online` (sync on: the change log replays keys only once
 * the batch that copies them has committed, see src/changelog/change-log.ts,
 * so no other writer touches the batch's range and a plain INSERT is exact),
 * `offline` (sync off, nothing else writes the shadow), or `offline_yield`
 * (after a conflict showed rows of the range are already there: skip them).
 */
export type BatchMode = 'online' | 'offline' | 'offline_yield';

export interface ChunkBounds {
  /** First legacy key after the previous batch, or null when none is left up to the run's end key. */
  first_key: KeysetPosition | null;
  /** The `limit`-th key after the previous batch, or null when fewer remain (the chunk then ends at the run's end key). */
  last_key: KeysetPosition | null;
}

export interface BatchOutcome {
  row_count: number;
  inserted: number;
  /** Order-independent checksum of the batch's legacy rows (see rowChecksum). */
  checksum: string;
}

const keyColumns = (pair: ShadowPair) => sql.join(pair.legacyKey.map((c) => sql.id(c.name)));
const keyAsText = (pair: ShadowPair) => sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)}::text`));
// sql.raw(c.type): format_type() text from the catalog, so the parameter compares with the column's own type.
const position = (pair: ShadowPair, key: KeysetPosition) => sql.join(pair.legacyKey.map((c, i) => sql`${key[i]}::${sql.raw(c.type)}`));

/** `(key) > (after) and (key) <= (upTo)`, or just the upper bound for the first chunk. */
function keyRange(pair: ShadowPair, after: KeysetPosition | null, upTo: KeysetPosition) {
  return after
    ? sql`(${keyColumns(pair)}) > (${position(pair, after)}) and (${keyColumns(pair)}) <= (${position(pair, upTo)})`
    : sql`(${keyColumns(pair)}) <= (${position(pair, upTo)})`;
}

/** The highest legacy key now, as text; no row for an empty table. */
export function highestKeyQuery(pair: ShadowPair): RawBuilder<{ key: KeysetPosition }> {
  const keyDesc = sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)} desc`));
  return sql<{ key: KeysetPosition }>`select json_build_array(${keyAsText(pair)}) as key from ${sql.id(pair.legacy.schema, pair.legacy.name)} order by ${keyDesc} limit 1`;
}

/**
 * The next chunk's first and last key: two probes of the legacy primary-key
 * index (the second skips `limit - 1` entries), so the copy itself can be a
 * plain key-range scan without ORDER BY/LIMIT or a sort for its bounds.
 */
export function chunkBoundsQuery(pair: ShadowPair, after: KeysetPosition | null, upTo: KeysetPosition, limit: number): RawBuilder<ChunkBounds> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const range = keyRange(pair, after, upTo);
  // The key is turned into JSON outside the probe: inside it, the skipped
  // `limit - 1` rows were each built into JSON too (5 ms instead of 1 ms per 10k).
  const probe = (offset: number) =>
    sql`(select json_build_array(${keyAsText(pair)}) from (select ${keyColumns(pair)} from ${legacy} where ${range} order by ${keyColumns(pair)} offset ${offset} limit 1) k)`;
  return sql<ChunkBounds>`select ${probe(0)} as first_key, ${probe(limit - 1)} as last_key`;
}

/**
 * One backfill batch as a single statement over the legacy keys in
 * (after, last]: insert them into the shadow and report count and checksum.
 *
 * Rows go in sorted by the shadow's primary key (which starts with the
 * partition key): each leaf and each of its indexes then takes its rows as one
 * run of neighbouring pages instead of one row at a time across all leaves.
 * That made 1e6 rows into 32 hash leaves ~25% faster than the same batches
 * unsorted, and faster than one unsorted INSERT … SELECT (the sort of a 10k
 * batch fits the batch's work_mem, see runBackfill). When the legacy table's
 * rows already come in that order (a range key rising with the primary key:
 * `sorted` false, see sortsBatches), the sort is pure cost: 0.87x of the
 * ceiling sorted on the monthly range layout of bench:sync.
 *
 * The INSERT … SELECT hashes its own RETURNING rows: every legacy row of the
 * range is inserted, so that is the batch's checksum, in one pass. After a
 * conflict (offline_yield) the batch is materialized first, because rows
 * already in the shadow are skipped while the checksum must cover the legacy rows.
 *
 * No row locks, online or not: the change log keeps replay out of ranges no
 * batch has committed yet (the old direct-mirror trigger needed FOR SHARE on
 * every copied row, which cost ~30% of the ceiling and WAL for each lock).
 */
export function batchQuery(
  pair: ShadowPair,
  after: KeysetPosition | null,
  last: KeysetPosition,
  mode: BatchMode,
  sorted = true,
): RawBuilder<BatchOutcome> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const cols = sql.join(pair.copyColumns.map((c) => sql.id(c.name)));
  const range = keyRange(pair, after, last);
  const overriding = pair.overridingSystemValue ? sql`overriding system value` : sql``;
  // Only copied columns can order the batch (a generated key column is computed by the shadow).
  const copied = new Set(pair.copyColumns.map((c) => c.name));
  const orderColumns = pair.shadowKey.filter((c) => copied.has(c));
  const shadowOrder = sorted && orderColumns.length > 0 ? sql`order by ${sql.join(orderColumns.map((c) => sql.id(c)))}` : sql``;
  if (mode !== 'offline_yield') {
    return sql<BatchOutcome>`
      with ins as (
        insert into ${shadow} (${cols}) ${overriding}
        select ${cols} from ${legacy} where ${range} ${shadowOrder}
        returning ${rowHash(pair.copyColumns, null)} as h
      )
      select count(*)::int as row_count, count(*)::int as inserted, ${sumOfHashes(sql`h`)} as checksum from ins`;
  }
  // Rows already there are skipped by key, not by ON CONFLICT: PostgreSQL refuses a DEFERRABLE primary
  // key as an arbiter. The shadow's key where every column is copied (its index serves the probe), else
  // the legacy key (unique on its own, and in the shadow's key).
  const matchColumns = orderColumns.length === pair.shadowKey.length ? orderColumns : pair.legacyKey.map((c) => c.name);
  const present = sql.join(matchColumns.map((c) => sql`s.${sql.id(c)} = b.${sql.id(c)}`), sql` and `);
  return sql<BatchOutcome>`
    with batch as materialized (
      select ${cols} from ${legacy} where ${range}
    ), ins as (
      insert into ${shadow} (${cols}) ${overriding}
      select ${cols} from batch b where not exists (select 1 from ${shadow} s where ${present}) ${shadowOrder}
      returning 1
    )
    select (select count(*) from batch)::int as row_count,
           (select count(*) from ins)::int as inserted,
           (select ${sumOfHashes(rowHash(pair.copyColumns, 'b'))} from batch b) as checksum`;
}
