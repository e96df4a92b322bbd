import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { PartgovDatabase } from '../db/open-database.js';
import { rowHash } from '../db/row-checksum.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { PartitionModel } from '../db/catalog.js';
import type { StateDatabase } from '../db/state-tables.js';
import type { ChangeLog } from '../changelog/change-log.js';
import { hashLeafRouting, routingHoldsOnShadow, type LeafRouting } from './leaf-routing.js';

/** One differing row, named by its legacy primary key (values as text, in key order). */
export interface RowDifference {
  key: string[];
  kind: 'missing_in_shadow' | 'extra_in_shadow' | 'changed';
}

export interface RowComparison {
  rows_legacy: number;
  rows_shadow: number;
  segments: number;
  mismatched_segments: number[];
  /** Rows that differ (a changed row counts once); exact, whatever max_diff_keys is. */
  differing_rows: number;
  differences: RowDifference[];
  /** Rows per shadow leaf oid, from the first pass (for the skew and DEFAULT checks). */
  leaf_rows: Record<string, number>;
  queries: number;
  duration_ms: number;
  /** Time of the segment pass and key join (0 when the totals matched). */
  bisect_ms: number;
  /** Change-log entries pending in the snapshot: their keys were left out of the comparison (replay rewrites them). */
  pending_entries: number;
}

interface SegmentRow {
  segment: number;
  rows: string;
  checksum: string;
}

interface CompareOptions {
  segments: number;
  maxDiffKeys: number;
  changeLog?: ChangeLog | undefined;
  /** The shadow's leaf partitions (the caller's catalog read, for its health checks too). */
  shadowLeaves: readonly PartitionModel[];
  /** Rows in differing segments matched in this process, beyond which the server joins them (default clientMatchLimit). */
  clientMatchRows?: number;
}

/** Up to this many shadow leaves, pass 1 sums each leaf in its own UNION ALL arm; beyond, one GROUP BY tableoid keeps the statement small. */
const maxLeafArms = 512;

/** Rows in mismatching segments (both sides) matched in this process rather than by a join: ~60 MB at most. */
const clientMatchLimit = 400_000;

/** Text arrays in PostgreSQL's order for text[] (element by element; a prefix first). */
function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return Buffer.compare(Buffer.from(a[i]!), Buffer.from(b[i]!));
  }
  return a.length - b.length;
}

/**
 * Segment of a row: the 64-bit hash of its legacy key modulo `segments`. Every
 * version of a row lands in the same segment on both sides whatever the
 * physical layout, so a differing row makes exactly one segment disagree, and
 * finding the rows of the bad segments hashes only the key (1e6 rows: 146 ms
 * against 346 ms when segments came from the whole row's hash). Each table is
 * read once per pass, whatever the segment count: key-range segments would
 * read every hash leaf once per segment on the shadow (measured 3x the ceiling
 * at 64 segments).
 */
function segmentOf(hash: RawBuilder<unknown>, segments: number) {
  // ::int: bigint arithmetic would come back to the client as a string.
  return sql<number>`(((${hash} % ${segments}) + ${segments}) % ${segments})::int`;
}

/**
 * Compares legacy and shadow inside PostgreSQL: the row count and sum of row
 * hashes of each table (one ungrouped scan each: equal tables need nothing
 * more); when they differ, the same per hash segment, then the keys and hashes
 * of the rows in the differing segments, matched into the exact keys that are
 * missing, extra or changed (up to `maxDiffKeys` listed, all counted).
 * Both sides run at once on two connections sharing one exported snapshot, so
 * rows written meanwhile cannot look like a diff.
 */
export async function compareRows(
  connections: ComparisonConnections,
  pair: ShadowPair,
  o: CompareOptions & { statementTimeoutMs: number },
): Promise<RowComparison> {
  const t0 = performance.now();
  await connections.ready;
  const { a, b } = connections;
  return a.db.connection().execute((connA) =>
    b.db.connection().execute(async (connB) => {
      await sql`begin isolation level repeatable read, read only`.execute(connA);
      await sql`begin isolation level repeatable read, read only`.execute(connB);
      try {
        const snapshot = (await sql<{ id: string }>`select pg_export_snapshot() as id`.execute(connA)).rows[0]!.id;
        // SET TRANSACTION SNAPSHOT must be the importing transaction's first statement and
        // takes no parameter; the id is the server's own pg_export_snapshot() output.
        await sql`set transaction snapshot ${sql.lit(snapshot)}`.execute(connB);
        // jit off: the segment pass's group estimate (one per row) crosses jit_above_cost, and
        // compiling in the leader and each parallel worker cost more than it saved (1e6 rows, PG 15).
        for (const c of [connA, connB]) await sql`select set_config('statement_timeout', ${`${o.statementTimeoutMs}ms`}, true), set_config('jit', 'off', true)`.execute(c);
        return await compareInSnapshot(connA, connB, pair, o, t0);
      } finally {
        await sql`rollback`.execute(connA).catch(() => undefined);
        await sql`rollback`.execute(connB).catch(() => undefined);
      }
    }),
  );
}

/** The two connections compareRows reads the tables on, one per side. */
export interface ComparisonConnections {
  a: PartgovDatabase;
  b: PartgovDatabase;
  /** Both connected (at once); compareRows awaits it. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens and connects the comparison's two connections at once, in the
 * background: the caller reads the catalog meanwhile (connecting one after
 * the other, inside the comparison, cost ~8 ms of a 0.7 s verify).
 */
export function openComparisonConnections(database: PartgovDatabase): ComparisonConnections {
  const a = database.open({ maxConnections: 1, applicationName: 'partgov verify' });
  const b = database.open({ maxConnections: 1, applicationName: 'partgov verify' });
  const ready = Promise.all([sql`select 1`.execute(a.db), sql`select 1`.execute(b.db)]).then(() => undefined);
  ready.catch(() => undefined); // observed by compareRows; a caller that fails first only closes
  return { a, b, ready, close: async () => { await a.close(); await b.close(); } };
}

async function compareInSnapshot(
  connA: Kysely<StateDatabase>,
  connB: Kysely<StateDatabase>,
  pair: ShadowPair,
  o: CompareOptions,
  t0: number,
): Promise<RowComparison> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const hash = rowHash(pair.copyColumns, 'r');
  const keyHash = rowHash(pair.legacyKey, 'r');
  // Keys with change-log entries pending in this snapshot are left out on both sides:
  // replay rewrites them from the legacy row, and every shadow version of such a key is
  // one the log names (src/changelog/change-log.ts), so excluding those leaves no stale row hidden.
  let pending = 0;
  let onlyLegacy = sql`true`;
  let onlyShadow = sql`true`;
  if (o.changeLog) {
    const log = sql.id(o.changeLog.table.schema, o.changeLog.table.name);
    pending = (await sql<{ n: number }>`select count(*)::int as n from ${log}`.execute(connA)).rows[0]!.n;
    if (pending > 0) {
      const match = (cols: readonly { name: string }[]) => sql.join(cols.map((c) => sql`${sql.id('p', c.name)} = ${sql.id('r', c.name)}`), sql` and `);
      onlyLegacy = sql`not exists (select 1 from ${log} p where ${match(pair.legacyKey)})`;
      onlyShadow = sql`not exists (select 1 from ${log} p where ${match(o.changeLog.columns)})`;
    }
  }
  // Pass 1, the only one for equal tables (the common case): each table's row count and hash
  // sum, one ungrouped scan each, both at once; the shadow's per leaf (for the skew check) as
  // one plain aggregate per leaf: GROUP BY tableoid cost the shadow's scan ~40% more (1e6 rows
  // in 32 leaves, PG 15: 445 against 260–340 ms). Any per-row work added here costs the common
  // case: grouping the legacy side by segment made verify ~40% slower.
  const leaves = o.shadowLeaves;
  const perLeaf =
    leaves.length > 0 && leaves.length <= maxLeafArms
      ? sql.join(
          leaves.map((l) => sql`select ${l.oid}::text as leaf, count(*)::text as rows, coalesce(sum(${hash}), 0)::text as checksum from ${sql.id(l.schema, l.name)} r where ${onlyShadow}`),
          sql` union all `,
        )
      : sql`select r.tableoid::int8::text as leaf, count(*)::text as rows, sum(${hash})::text as checksum from ${shadow} r where ${onlyShadow} group by 1`;
  const [legacyTotal, shadowLeaves] = await Promise.all([
    sql<{ rows: string; checksum: string | null }>`select count(*)::text as rows, sum(${hash})::text as checksum from ${legacy} r where ${onlyLegacy}`.execute(connA),
    sql<{ leaf: string; rows: string; checksum: string }>`${perLeaf}`.execute(connB),
  ]);
  const leafRows: Record<string, number> = {};
  const leafSums = new Map<string, GroupSums>();
  let shadowRows = 0n;
  let shadowSum = 0n;
  for (const r of shadowLeaves.rows) {
    leafRows[r.leaf] = Number(r.rows);
    leafSums.set(r.leaf, { rows: r.rows, checksum: r.checksum });
    shadowRows += BigInt(r.rows);
    shadowSum += BigInt(r.checksum);
  }
  const base = { rows_legacy: Number(legacyTotal.rows[0]!.rows), rows_shadow: Number(shadowRows), segments: o.segments, leaf_rows: leafRows };
  if (BigInt(legacyTotal.rows[0]!.rows) === shadowRows && BigInt(legacyTotal.rows[0]!.checksum ?? '0') === shadowSum) {
    return { ...base, mismatched_segments: [], differing_rows: 0, differences: [], queries: 2, duration_ms: Math.round(performance.now() - t0), bisect_ms: 0, pending_entries: pending };
  }

  const tb = performance.now();
  const key = pair.legacyKey.map((c) => c.name);
  const keyText = (alias: string) => sql.join(key.map((k) => sql`${sql.id(alias, k)}::text`));
  // A one-column key as plain text: 26k rows a side parsed as text[] took ~100 ms of the pass.
  const keyOut = (alias: string) => (key.length === 1 ? sql`${sql.id(alias, key[0]!)}::text as k` : sql`array[${keyText(alias)}] as k`);
  const finish = (mismatched: number[], found: RowDifference[], queries: number, total = found.length): RowComparison => {
    found.sort((x, y) => compareKeys(x.key, y.key));
    return {
      ...base,
      mismatched_segments: mismatched,
      differing_rows: total,
      differences: found.slice(0, o.maxDiffKeys),
      queries,
      duration_ms: Math.round(performance.now() - t0),
      bisect_ms: Math.round(performance.now() - tb),
      pending_entries: pending,
    };
  };

  // A hash layout: locate by leaf (see leaf-routing.ts) when the routing holds.
  const routing = await hashLeafRouting(connB, pair, o.shadowLeaves);
  if (routing) {
    const byLeaf = await compareByLeaf(connA, connB, routing, leafSums, { legacy, hash, onlyLegacy, onlyShadow, key, maxDiffKeys: o.maxDiffKeys });
    if (byLeaf) return { ...finish(byLeaf.mismatched, byLeaf.found, 6, byLeaf.total), segments: routing.modulus };
  }

  // Pass 2, per key-hash segment, both tables at once. The planner cannot know how few groups
  // there are and would sort every row for a GroupAggregate (1.7 s against 1.1 s hashed, over
  // 1e6 rows): sorting is off for this pass.
  for (const c of [connA, connB]) await sql`select set_config('enable_sort', 'off', true)`.execute(c);
  const segment = segmentOf(sql`x.k`, o.segments);
  const segmentsOf = (table: typeof legacy, only: typeof onlyLegacy, conn: Kysely<StateDatabase>) =>
    sql<SegmentRow>`
      select ${segment} as segment, count(*)::text as rows, sum(x.h)::text as checksum
      from (select ${keyHash} as k, ${hash} as h from ${table} r where ${only}) x group by 1`.execute(conn);
  const [legacySegments, shadowSegments] = await Promise.all([segmentsOf(legacy, onlyLegacy, connA), segmentsOf(shadow, onlyShadow, connB)]);
  for (const c of [connA, connB]) await sql`select set_config('enable_sort', 'on', true)`.execute(c);
  const legacyBy = new Map(legacySegments.rows.map((r) => [Number(r.segment), r]));
  const shadowBy = new Map(shadowSegments.rows.map((r) => [Number(r.segment), r]));
  const { groups: mismatched, rows: rowsInMismatched } = differingGroups(
    Array.from({ length: o.segments }, (_, seg) => seg),
    (seg) => legacyBy.get(seg),
    (seg) => shadowBy.get(seg),
  );
  const bad = sql`${segmentOf(keyHash, o.segments)} = any(${mismatched}::int[])`;

  // Few differences (the case that matters): each side sends the keys and hashes of its rows in
  // the mismatching segments, both at once, and they are matched here. Many: the join below.
  if (rowsInMismatched <= (o.clientMatchRows ?? clientMatchLimit)) {
    const rowsOf = (table: typeof legacy, only: typeof onlyLegacy, conn: Kysely<StateDatabase>) =>
      sql<KeyedHash>`select ${keyOut('r')}, ${hash}::text as h from ${table} r where ${bad} and ${only}`.execute(conn);
    const [l, s] = await Promise.all([rowsOf(legacy, onlyLegacy, connA), rowsOf(shadow, onlyShadow, connB)]);
    return finish(mismatched, matchRows(l.rows, s.rows), 6);
  }

  // Many differences: one pass over each table restricted to the bad segments, joined on the
  // legacy key: a key on one side only is missing/extra; on both with another hash, changed.
  const keyCols = sql.join(key.map((k) => sql.id(k)));
  const joined = await joinedDifferences(
    connA,
    sql`select ${keyCols}, ${hash} from ${legacy} r where ${bad} and ${onlyLegacy}`,
    sql`select ${keyCols}, ${hash} from ${shadow} r where ${bad} and ${onlyShadow}`,
    key.length,
    o.maxDiffKeys,
  );
  return finish(mismatched, joined.found, 5, joined.total);
}

/**
 * Legacy and shadow rows (each: the key columns in key order, then the row's
 * hash) full-joined on the key inside PostgreSQL, which sends back only the
 * differing keys: the lowest `limit` by the key's own order, and how many
 * differ. The columns are renamed by position (k0…, h), so no key column's
 * name can collide with the hash's.
 */
async function joinedDifferences(conn: Kysely<StateDatabase>, legacyRows: RawBuilder<unknown>, shadowRows: RawBuilder<unknown>, keyWidth: number, limit: number): Promise<{ found: RowDifference[]; total: number }> {
  const k = Array.from({ length: keyWidth }, (_, i) => `k${i}`);
  const columns = sql.join([...k, 'h'].map((c) => sql.id(c)));
  const keyOf = (alias: string) => sql`array[${sql.join(k.map((c) => sql`${sql.id(alias, c)}::text`))}]`;
  const r = await sql<{ lkey: string[] | null; skey: string[] | null; total: string }>`
    with l (${columns}) as (${legacyRows}), s (${columns}) as (${shadowRows})
    select case when l.h is null then null else ${keyOf('l')} end as lkey,
           case when s.h is null then null else ${keyOf('s')} end as skey,
           count(*) over ()::text as total
    from l full join s on ${sql.join(k.map((c) => sql`${sql.id('l', c)} = ${sql.id('s', c)}`), sql` and `)}
    where l.h is distinct from s.h
    order by ${sql.join(k.map((c) => sql`coalesce(${sql.id('l', c)}, ${sql.id('s', c)})`))}
    limit ${limit}`.execute(conn);
  return {
    found: r.rows.map((x) => ({ key: (x.lkey ?? x.skey)!, kind: x.lkey && x.skey ? 'changed' : x.lkey ? 'missing_in_shadow' : 'extra_in_shadow' })),
    total: Number(r.rows[0]?.total ?? 0),
  };
}

interface GroupSums {
  rows: string;
  checksum: string;
}

/**
 * The groups (segments, leaves) whose row count or hash sum differ between the
 * sides, in the order given, and how many rows they hold on both sides. A group
 * a side has no row of counts as 0 rows summing to 0.
 */
function differingGroups(
  groups: readonly number[],
  legacyOf: (g: number) => GroupSums | undefined,
  shadowOf: (g: number) => GroupSums | undefined,
): { groups: number[]; rows: number } {
  const differing: number[] = [];
  let rows = 0;
  for (const g of groups) {
    const l = legacyOf(g);
    const s = shadowOf(g);
    if (BigInt(l?.rows ?? 0) !== BigInt(s?.rows ?? 0) || BigInt(l?.checksum ?? 0) !== BigInt(s?.checksum ?? 0)) {
      differing.push(g);
      rows += Number(l?.rows ?? 0) + Number(s?.rows ?? 0);
    }
  }
  return { groups: differing, rows };
}

/** A row's key (text, or text[] for a key of several columns) and hash. */
interface KeyedHash {
  k: string | string[];
  h: string;
}

/** The differences between two sides' (key, hash) rows of the same segments. */
function matchRows(legacyRows: readonly KeyedHash[], shadowRows: readonly KeyedHash[]): RowDifference[] {
  const idOf = (k: string | string[]) => (typeof k === 'string' ? k : JSON.stringify(k));
  const keyOf = (k: string | string[]) => (typeof k === 'string' ? [k] : k);
  const shadowRowsByKey = new Map(shadowRows.map((r) => [idOf(r.k), r]));
  const found: RowDifference[] = [];
  for (const r of legacyRows) {
    const id = idOf(r.k);
    const other = shadowRowsByKey.get(id);
    if (!other) found.push({ key: keyOf(r.k), kind: 'missing_in_shadow' });
    else if (other.h !== r.h) found.push({ key: keyOf(r.k), kind: 'changed' });
    shadowRowsByKey.delete(id);
  }
  for (const r of shadowRowsByKey.values()) found.push({ key: keyOf(r.k), kind: 'extra_in_shadow' });
  return found;
}

interface LeafPassInput {
  legacy: RawBuilder<unknown>;
  hash: RawBuilder<string>;
  onlyLegacy: RawBuilder<unknown>;
  onlyShadow: RawBuilder<unknown>;
  /** The legacy key's column names. */
  key: readonly string[];
  maxDiffKeys: number;
}

/**
 * Locating differences on a hash layout: the legacy table's count and sum per
 * leaf it routes to (one read, parallel where PostgreSQL plans it; the
 * routing checked on the shadow meanwhile), against the shadow's per-leaf sums
 * of the first pass; then the rows of the differing leaves, joined in one
 * statement: the legacy table's by routing, the shadow's by reading those
 * leaves alone; the lowest `maxDiffKeys` differing keys are listed, all are
 * counted. 1e6 rows in 32 leaves, PostgreSQL 15, one process: the legacy read
 * grouped by leaf 551 ms against 640 ms for the segment pass on each table.
 * Null (the caller falls back to segments) when the routing does not hold.
 */
async function compareByLeaf(
  connA: Kysely<StateDatabase>,
  connB: Kysely<StateDatabase>,
  routing: LeafRouting,
  shadowSums: ReadonlyMap<string, GroupSums>,
  q: LeafPassInput,
): Promise<{ mismatched: number[]; found: RowDifference[]; total: number } | null> {
  const remainder = routing.remainderOf('r');
  await sql`select set_config('enable_sort', 'off', true)`.execute(connA);
  const [legacySums, holds] = await Promise.all([
    sql<{ remainder: number; rows: string; checksum: string }>`
      select x.remainder, count(*)::text as rows, coalesce(sum(x.h), 0)::text as checksum
      from (select ${remainder} as remainder, ${q.hash} as h from ${q.legacy} r where ${q.onlyLegacy}) x group by 1`.execute(connA),
    routingHoldsOnShadow(connB, routing),
  ]);
  await sql`select set_config('enable_sort', 'on', true)`.execute(connA);
  if (!holds) return null;
  const legacyBy = new Map(legacySums.rows.map((r) => [Number(r.remainder), r]));
  const { groups: mismatched } = differingGroups(
    [...routing.leafByRemainder.keys()].sort((x, y) => x - y),
    (rem) => legacyBy.get(rem),
    (rem) => shadowSums.get(routing.leafByRemainder.get(rem)!.oid),
  );
  // The totals differed, so some leaf must: none means the routing missed rows (trust nothing).
  if (mismatched.length === 0) return null;
  // Matched by a join in the server, which sends only the differing keys: the differing
  // leaves are small beside the legacy read, so one statement reads both. 3 differences in
  // 3 of 32 leaves (1e6 rows, PG 18): 79k rows a side sent and matched here took 368 ms.
  const cols = sql.join(q.key.map((k) => sql.id(k)));
  const leafArms = mismatched.map((rem) => {
    const leaf = routing.leafByRemainder.get(rem)!;
    return sql`select ${cols}, ${q.hash} from ${sql.id(leaf.schema, leaf.name)} r where ${q.onlyShadow}`;
  });
  const joined = await joinedDifferences(
    connA,
    sql`select ${cols}, ${q.hash} from ${q.legacy} r where ${remainder} = any(${mismatched}::int[]) and ${q.onlyLegacy}`,
    sql.join(leafArms, sql` union all `),
    q.key.length,
    q.maxDiffKeys,
  );
  return { mismatched, ...joined };
}
