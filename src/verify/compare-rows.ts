import { sql, type Kysely, type RawBuilder } from 'kysely';
import { openDatabase } from '../db/open-database.js';
import { rowHash } from '../db/row-checksum.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { StateDatabase } from '../db/state-tables.js';

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
  /** Rows per shadow leaf oid, from the same pass (for the skew and DEFAULT checks). */
  leaf_rows: Record<string, number>;
  queries: number;
  duration_ms: number;
  bisect_ms: number;
}

interface SegmentRow {
  segment: number;
  rows: string;
  checksum: string;
}

/**
 * Segment of a row: its 64-bit row hash modulo `segments`. Equal rows land in
 * the same segment on both sides whatever the physical layout, and a
 * differing row makes its segment(s) disagree. Each table is read once,
 * whatever the segment count: key-range segments would read every hash leaf
 * once per segment on the shadow (measured 3x the ceiling at 64 segments).
 */
function segmentOf(hash: RawBuilder<unknown>, segments: number) {
  // ::int: bigint arithmetic would come back to the client as a string.
  return sql<number>`(((${hash} % ${segments}) + ${segments}) % ${segments})::int`;
}

/**
 * Compares legacy and shadow inside PostgreSQL: per segment, row count and
 * the sum of row hashes, then for mismatching segments the exact keys that
 * are missing, extra or changed (up to `maxDiffKeys` listed, all counted).
 * Both scans run at once on two connections sharing one exported snapshot, so
 * rows written meanwhile (through the sync trigger) cannot look like a diff.
 */
export async function compareRows(
  url: string,
  pair: ShadowPair,
  o: { segments: number; maxDiffKeys: number; statementTimeoutMs: number },
): Promise<RowComparison> {
  const t0 = performance.now();
  const a = openDatabase({ url, maxConnections: 1, applicationName: 'partgov verify' });
  const b = openDatabase({ url, maxConnections: 1, applicationName: 'partgov verify' });
  try {
    return await a.db.connection().execute((connA) =>
      b.db.connection().execute(async (connB) => {
        await sql`begin isolation level repeatable read, read only`.execute(connA);
        await sql`begin isolation level repeatable read, read only`.execute(connB);
        try {
          const snapshot = (await sql<{ id: string }>`select pg_export_snapshot() as id`.execute(connA)).rows[0]!.id;
          // SET TRANSACTION SNAPSHOT must be the importing transaction's first statement and
          // takes no parameter; the id is the server's own pg_export_snapshot() output.
          await sql`set transaction snapshot ${sql.lit(snapshot)}`.execute(connB);
          for (const c of [connA, connB]) await sql`select set_config('statement_timeout', ${`${o.statementTimeoutMs}ms`}, true)`.execute(c);
          return await compareInSnapshot(connA, connB, pair, o, t0);
        } finally {
          await sql`rollback`.execute(connA).catch(() => undefined);
          await sql`rollback`.execute(connB).catch(() => undefined);
        }
      }),
    );
  } finally {
    await a.close();
    await b.close();
  }
}

async function compareInSnapshot(
  connA: Kysely<StateDatabase>,
  connB: Kysely<StateDatabase>,
  pair: ShadowPair,
  o: { segments: number; maxDiffKeys: number },
  t0: number,
): Promise<RowComparison> {
  const legacy = sql.id(pair.legacy.schema, pair.legacy.name);
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const hash = rowHash(pair.copyColumns, 'r');
  const [legacySegments, shadowSegments] = await Promise.all([
    sql<SegmentRow>`
      select ${segmentOf(sql`x.h`, o.segments)} as segment, count(*)::text as rows, sum(x.h)::text as checksum
      from (select ${hash} as h from ${legacy} r) x
      group by 1`.execute(connA),
    // tableoid names the leaf each row sits in: per-leaf row counts come free with the pass.
    sql<SegmentRow & { leaf: string }>`
      select x.leaf, ${segmentOf(sql`x.h`, o.segments)} as segment, count(*)::text as rows, sum(x.h)::text as checksum
      from (select r.tableoid::int8::text as leaf, ${hash} as h from ${shadow} r) x
      group by 1, 2`.execute(connB),
  ]);
  const legacyBy = new Map(legacySegments.rows.map((r) => [Number(r.segment), r]));
  const shadowBy = new Map<number, { rows: bigint; checksum: bigint }>();
  const leafRows: Record<string, number> = {};
  for (const r of shadowSegments.rows) {
    const cur = shadowBy.get(Number(r.segment)) ?? { rows: 0n, checksum: 0n };
    shadowBy.set(Number(r.segment), { rows: cur.rows + BigInt(r.rows), checksum: cur.checksum + BigInt(r.checksum) });
    leafRows[r.leaf] = (leafRows[r.leaf] ?? 0) + Number(r.rows);
  }
  const mismatched: number[] = [];
  for (let s = 0; s < o.segments; s++) {
    const l = legacyBy.get(s);
    const h = shadowBy.get(s);
    const same = (l === undefined && h === undefined) || (l !== undefined && h !== undefined && BigInt(l.rows) === h.rows && BigInt(l.checksum) === h.checksum);
    if (!same) mismatched.push(s);
  }
  const rowsLegacy = legacySegments.rows.reduce((n, r) => n + Number(r.rows), 0);
  const rowsShadow = [...shadowBy.values()].reduce((n, r) => n + Number(r.rows), 0);
  let differences: RowDifference[] = [];
  let differing = 0;
  let queries = 2;
  const tb = performance.now();
  if (mismatched.length > 0) {
    // One pass over each table restricted to the bad segments, joined on the legacy key:
    // a key on one side only is missing/extra; on both with another hash, changed.
    const key = pair.legacyKey.map((c) => c.name);
    const keyText = (alias: string) => sql.join(key.map((k) => sql`${sql.id(alias, k)}::text`));
    const keyCols = sql.join(key.map((k) => sql.id(k)));
    const joinOn = sql.join(key.map((k) => sql`${sql.id('l', k)} = ${sql.id('s', k)}`), sql` and `);
    const bad = sql`${segmentOf(hash, o.segments)} = any(${mismatched}::int[])`;
    const diff = await sql<{ lkey: string[] | null; skey: string[] | null; total: string }>`
      with l as (select ${keyCols}, ${hash} as h from ${legacy} r where ${bad}),
           s as (select ${keyCols}, ${hash} as h from ${shadow} r where ${bad}),
           d as (select case when l.h is null then null else array[${keyText('l')}] end as lkey,
                        case when s.h is null then null else array[${keyText('s')}] end as skey
                 from l full join s on ${joinOn}
                 where l.h is distinct from s.h)
      select lkey, skey, count(*) over ()::text as total from d
      order by coalesce(lkey, skey) limit ${o.maxDiffKeys}`.execute(connA);
    queries++;
    differing = Number(diff.rows[0]?.total ?? 0);
    differences = diff.rows.map((r) => ({
      key: (r.lkey ?? r.skey)!,
      kind: r.lkey && r.skey ? 'changed' : r.lkey ? 'missing_in_shadow' : 'extra_in_shadow',
    }));
  }
  return {
    rows_legacy: rowsLegacy,
    rows_shadow: rowsShadow,
    segments: o.segments,
    mismatched_segments: mismatched,
    differing_rows: differing,
    differences,
    leaf_rows: leafRows,
    queries,
    duration_ms: Math.round(performance.now() - t0),
    bisect_ms: Math.round(performance.now() - tb),
  };
}

