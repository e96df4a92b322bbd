import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { z } from 'zod';
import { configuredTable, type StageContext } from '../stage/stage-context.js';
import { numberInput, optionalNumberInput, parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import Cursor from 'pg-cursor';
import type pg from 'pg';
import type { TableConfig } from '../config/config-schema.js';
import { readPartitionTree } from '../db/catalog.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import { InputInvalidError, sqlStateOf } from '../errors.js';
import { verdict, type Check } from '../checks/check.js';
import { drainInTransaction, isRowRejection, replayChanges } from '../changelog/replay-changes.js';
import { comparedPair, isSyncEnabled } from '../changelog/sync-state.js';
import { compileDdl } from '../db/compile-ddl.js';
import { kyselyOnClient } from '../db/open-database.js';
import { rowChecksum } from '../db/row-checksum.js';
import { setLocalTimeouts } from '../db/run-guarded.js';
import { isRetryableLockError } from '../db/sqlstate.js';
import type { PartgovKysely } from '../db/state-tables.js';
import type { SyncDirection } from '../changelog/change-log.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';

/** Without --max-latency-ratio, a shadow p50 and p95 this many times the legacy ones warn. */
export const latencyWarnRatio = 1.5;
/** Below this gap between the two p95s (ms) a ratio is the noise of sub-millisecond reads, not a finding. */
const latencyGapFloorMs = 1;

/** shadow-read's input: defaults and limits once, for the library and the CLI. */
export const shadowReadInputSchema = z.object({
  table: textInput(`configured table (${tableNameForms})`),
  // Whole numbers only: the default query's LIMIT is written into its text.
  samples: numberInput({ min: 1, max: 100_000, integer: true, default: 20, describe: 'scope keys sampled' }),
  limit: numberInput({ min: 1, max: 100_000, integer: true, default: 100, describe: 'rows compared per query (the default query\'s LIMIT)' }),
  minOverlap: numberInput({ min: 0, max: 1, default: 0.95, describe: 'lowest acceptable top-k overlap between legacy and shadow results' }),
  maxLatencyRatio: optionalNumberInput({ min: 1, max: 1000, describe: `fail when a query's p50 and p95 on the shadow both exceed the legacy ones by more than this factor (unset: warn above ${latencyWarnRatio}×)` }),
});
export type ShadowReadInput = z.input<typeof shadowReadInputSchema>;

export interface ShadowReadQueryResult {
  name: string;
  overlap_min: number;
  overlap_mean: number;
  legacy_p50_ms: number;
  legacy_p95_ms: number;
  shadow_p50_ms: number;
  shadow_p95_ms: number;
  /** Most shadow leaves one sampled execution's plan touched: 1 means it pruned to one partition. */
  leaves_touched_max: number;
  /** Most leaves of one range partition a sampled plan touched (a range layout sub-partitioned by the scope: 1 means the scope pruned each period to its leaf). */
  leaves_per_period_max: number;
  /** The sample with the lowest overlap, to reproduce it. */
  worst_scope: string | null;
  /** Samples below min_overlap, lowest first. */
  below: BelowThreshold[];
}

export interface BelowThreshold {
  scope: string;
  overlap: number;
  /** Whether the scope's rows are identical on both sides (count and checksum) in the sample's snapshot; null: not checked. */
  rows_identical: boolean | null;
}

export interface ShadowReadResult {
  /** Every query met the overlap threshold and pruned to one leaf. */
  ok: boolean;
  /** Per query: `overlap:<name>` and `pruning:<name>`. */
  checks: Check[];
  table: string;
  scope_column: string;
  samples: number;
  limit: number;
  min_overlap: number;
  queries: ShadowReadQueryResult[];
  overlap_min: number;
  pruning_ok: boolean;
  evidence_file: string | null;
}

/**
 * The column read queries are keyed by (`$1`): the layout's scope key; on a
 * table partitioned by time alone, the configured scope key, scope or tenant
 * column (its queries then prune by time, not by `$1`).
 */
function scopeColumn(table: TableConfig): { column: string; byTime: boolean } {
  const l = table.layout;
  if (l.type !== 'range') return { column: l.key, byTime: false };
  if (l.subpartition) return { column: l.subpartition.key, byTime: false };
  const column = table.scope_key_column ?? table.scope_column ?? table.tenant_column;
  if (column === undefined) {
    throw new InputInvalidError(`shadow-read samples scopes, and ${table.schema}.${table.name} is partitioned by time and names no scope or tenant column`, {
      fix: 'set tables[].scope_column (or tenant_column) to the column its read queries take as $1, or leave it out of shadow-read',
    });
  }
  return { column, byTime: true };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

/** |L ∩ S| / max(|L|, |S|) over rows as multisets; 1 when both are empty. */
export function resultOverlap(legacy: readonly unknown[], shadow: readonly unknown[]): number {
  if (legacy.length === 0 && shadow.length === 0) return 1;
  const counts = new Map<string, number>();
  for (const row of legacy) {
    const k = JSON.stringify(row);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let common = 0;
  for (const row of shadow) {
    const k = JSON.stringify(row);
    const n = counts.get(k) ?? 0;
    if (n > 0) {
      common++;
      counts.set(k, n - 1);
    }
  }
  return common / Math.max(legacy.length, shadow.length);
}

/** First `limit` rows of a query, read through a cursor so a large result never reaches the client whole. */
async function firstRows(client: pg.PoolClient, text: string, values: unknown[], limit: number): Promise<{ rows: unknown[]; ms: number }> {
  const t0 = performance.now();
  const cursor = client.query(new Cursor(text, values));
  try {
    const rows = await cursor.read(limit);
    return { rows, ms: performance.now() - t0 };
  } finally {
    await cursor.close();
  }
}

/**
 * The shadow leaves a query's plan reads, and the most of them under one
 * parent (`periodOf`: a leaf's range partition; a leaf right under the root is
 * its own period).
 */
async function leavesTouched(client: pg.PoolClient, text: string, values: unknown[], periodOf: ReadonlyMap<string, string>): Promise<{ leaves: number; perPeriod: number }> {
  // VERBOSE: without it the JSON plan leaves out each relation's schema.
  const r = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`explain (verbose, format json) ${text}`, values);
  const seen = new Set<string>();
  const walk = (n: PlanNode) => {
    const leaf = `${n.Schema ?? ''}.${n['Relation Name'] ?? ''}`;
    if (n['Relation Name'] && periodOf.has(leaf)) seen.add(leaf);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(r.rows[0]!['QUERY PLAN'][0]!.Plan);
  const perPeriod = new Map<string, number>();
  for (const leaf of seen) perPeriod.set(periodOf.get(leaf)!, (perPeriod.get(periodOf.get(leaf)!) ?? 0) + 1);
  return { leaves: seen.size, perPeriod: Math.max(0, ...perPeriod.values()) };
}

interface PlanNode {
  'Relation Name'?: string;
  Schema?: string;
  Plans?: PlanNode[];
}

/** Below the overlap bar, this many sampled scopes per query get their rows compared (each may read the scope in full). */
const scopeChecksPerQuery = 5;

/**
 * Runs `read` in one REPEATABLE READ snapshot in which the copy that lags by
 * the change log (the shadow before cutover, the archive after) has caught
 * up: the log entries visible in that snapshot are replayed inside it first,
 * committing with it as any replay does. Both tables then hold the same rows
 * however fast the application writes; read one after the other in READ
 * COMMITTED, a "latest rows" query compared rows written between the two reads
 * (overlap 0.6 under a writer that still passed verify). The reads run
 * read-only. A conflict with another replay is retried; a row the shadow
 * rejects is recorded the usual way (replayChanges) and the sample taken again.
 */
async function inCaughtUpSnapshot<T>(
  client: pg.PoolClient,
  db: PartgovKysely,
  lag: { pair: ShadowPair; direction: SyncDirection } | null,
  settings: RuntimeSettings,
  recordRejections: () => Promise<unknown>,
  read: () => Promise<T>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    await client.query('begin isolation level repeatable read');
    let caughtUp = false;
    try {
      await setLocalTimeouts(db, settings.lockTimeoutMs, settings.statementTimeoutMs);
      if (lag) await drainInTransaction(db, lag.pair, lag.direction);
      caughtUp = true;
      // Configured queries are operator SQL; one that writes (a data-modifying CTE) must fail, not delete.
      await client.query('set transaction read only');
      const out = await read();
      await client.query('commit');
      return out;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      if (caughtUp || attempt >= settings.lockRetries) throw err;
      if (isRowRejection(err)) await recordRejections();
      else if (!isRetryableLockError(err)) throw err;
    }
  }
}

/** Whether a scope's rows are the same in both tables (count and order-independent checksum), in the caller's snapshot. */
async function scopeRowsIdentical(db: PartgovKysely, pair: ShadowPair, column: string, scope: string | null): Promise<boolean> {
  const type = pair.legacy.columns.find((c) => c.name === column)?.type ?? 'text';
  // sql.raw(type): format_type() text from the catalog; the scope value is a parameter cast to it, so an index on the column serves.
  const side = (t: { schema: string; name: string }) =>
    sql`(select count(*)::text || '/' || ${rowChecksum(pair.copyColumns, 'r')} from ${sql.id(t.schema, t.name)} r where ${sql.id('r', column)} = cast(${scope} as ${sql.raw(type)}))`;
  const r = await sql<{ same: boolean }>`select ${side(pair.legacy)} = ${side(pair.shadow)} as same`.execute(db);
  return r.rows[0]!.same === true;
}

/**
 * A query whose samples all reach the bar passes. Below it the check fails
 * and says why, from the scopes' own rows read in the same snapshot: rows that
 * differ are the copy's fault (verify names them); identical rows mean the
 * query's result depends on the table it runs on (ties in its ORDER BY come
 * back in plan order, or an ordering differs), which the application would see too.
 */
function overlapCheck(q: ShadowReadQueryResult, minOverlap: number, primaryKey: string): Check {
  const name = `overlap:${q.name}`;
  const figures = { overlap_min: q.overlap_min, overlap_mean: q.overlap_mean, samples_below: q.below.length };
  if (q.below.length === 0) return { name, status: 'pass', detail: `min overlap ${q.overlap_min} >= ${minOverlap}`, figures };
  const detail = `min overlap ${q.overlap_min} < ${minOverlap} (worst scope ${JSON.stringify(q.worst_scope)})`;
  const scopes = (b: readonly BelowThreshold[]) => b.map((x) => String(x.scope));
  const differ = q.below.filter((b) => b.rows_identical === false);
  if (differ.length > 0) {
    return { name, status: 'fail', detail: `${detail}; the rows of ${differ.length} of those scopes differ between the two tables`, objects: scopes(differ), figures, fix: 'run verify: it names the differing keys' };
  }
  const same = q.below.filter((b) => b.rows_identical === true).length;
  const order = `rows tied on the query's ORDER BY come back in plan order: end its ORDER BY with the primary key (order by …, ${primaryKey})`;
  if (same === q.below.length) {
    return { name, status: 'fail', detail: `${detail}, yet each of those ${same} scope(s) holds identical rows in both tables (count and checksum, in the snapshot of the reads): the query's result depends on the table it runs on`, objects: scopes(q.below), figures, fix: order };
  }
  return { name, status: 'fail', detail: `${detail}; ${same} of those ${q.below.length} scopes hold identical rows in both tables, the others were not compared`, objects: scopes(q.below), figures, fix: `${order}; if it already is, run verify` };
}

/**
 * The reads' latency on the shadow against the legacy table: the application
 * sees the difference after cutover. Slower beyond the ratio at both the p50
 * and the p95 (one slow sample of a few moves the p95 alone), and by at least a
 * millisecond at the p95, warns; or fails when the DBA set --max-latency-ratio.
 */
export function latencyCheck(q: Pick<ShadowReadQueryResult, 'name' | 'legacy_p50_ms' | 'legacy_p95_ms' | 'shadow_p50_ms' | 'shadow_p95_ms' | 'leaves_touched_max'>, maxRatio: number | undefined): Check {
  const name = `latency:${q.name}`;
  const ratioOf = (shadow: number, legacy: number) => (legacy > 0 ? Math.round((shadow / legacy) * 100) / 100 : 1);
  const p50 = ratioOf(q.shadow_p50_ms, q.legacy_p50_ms);
  const p95 = ratioOf(q.shadow_p95_ms, q.legacy_p95_ms);
  const figures = { legacy_p50_ms: q.legacy_p50_ms, shadow_p50_ms: q.shadow_p50_ms, legacy_p95_ms: q.legacy_p95_ms, shadow_p95_ms: q.shadow_p95_ms, p50_ratio: p50, p95_ratio: p95 };
  const bar = maxRatio ?? latencyWarnRatio;
  const detail = `p50/p95 ${q.shadow_p50_ms}/${q.shadow_p95_ms} ms on the shadow, ${q.legacy_p50_ms}/${q.legacy_p95_ms} ms on the legacy table (${p50}×/${p95}×)`;
  if (p50 <= bar || p95 <= bar || q.shadow_p95_ms - q.legacy_p95_ms < latencyGapFloorMs) return { name, status: 'pass', detail: `${detail}, within ${bar}×`, figures };
  return {
    name,
    status: maxRatio === undefined ? 'warn' : 'fail',
    detail: `${detail}: both above ${bar}×${maxRatio === undefined ? ' (--max-latency-ratio makes this a failure)' : ''}`,
    figures,
    fix: `EXPLAIN (ANALYZE) the query on both tables: the shadow's plan reads ${q.leaves_touched_max} leaf(s); a query that does not bound the partition key reads every leaf, and an index the legacy plan uses may be missing on the shadow`,
  };
}

/** A scope-keyed layout: a query keyed by the scope reads exactly one leaf (zero would mean the plan never reached a leaf). */
function scopePruningCheck(q: ShadowReadQueryResult): Check {
  return q.leaves_touched_max === 1
    ? { name: `pruning:${q.name}`, status: 'pass', detail: 'reads one leaf per scope', figures: { leaves_touched_max: 1 } }
    : { name: `pruning:${q.name}`, status: 'fail', detail: `reads ${q.leaves_touched_max} leaves for one scope`, figures: { leaves_touched_max: q.leaves_touched_max }, fix: 'key the query by the partition key with an equality the planner can prune on' };
}

/**
 * By time, each period sub-partitioned by the scope: a scope's rows are in one
 * leaf of every period, so a query keyed by the scope reads at most one leaf
 * of each period it reaches (how many periods is the query's time bound).
 */
function periodPruningCheck(q: ShadowReadQueryResult, column: string): Check {
  const figures = { leaves_touched_max: q.leaves_touched_max, leaves_per_period_max: q.leaves_per_period_max };
  return q.leaves_per_period_max <= 1
    ? { name: `pruning:${q.name}`, status: 'pass', detail: `reads one leaf per period for one scope (at most ${q.leaves_touched_max} leaves: the query's time bound decides how many periods)`, figures }
    : { name: `pruning:${q.name}`, status: 'fail', detail: `reads ${q.leaves_per_period_max} leaves of one period for one scope`, figures, fix: `key the query by ${JSON.stringify(column)}, the sub-partition key, with an equality the planner can prune on` };
}

/**
 * Partitioned by time alone: a scope's rows are in every period, so only a
 * bound on the range column prunes. A query that reads every leaf is a
 * warning (it reads the whole table, as on the legacy one), not a failure.
 */
function timePruningCheck(q: ShadowReadQueryResult, leafCount: number, table: TableConfig): Check {
  const figures = { leaves_touched_max: q.leaves_touched_max, leaves: leafCount };
  const column = table.layout.type === 'range' ? table.layout.column : '';
  return q.leaves_touched_max < leafCount
    ? { name: `pruning:${q.name}`, status: 'pass', detail: `reads at most ${q.leaves_touched_max} of ${leafCount} leaves (pruned by time)`, figures }
    : { name: `pruning:${q.name}`, status: 'warn', detail: `reads every one of the ${leafCount} leaves: nothing bounds ${JSON.stringify(column)}, the partition key`, figures, fix: `bound the query on ${JSON.stringify(column)} (e.g. the last 30 days) so the planner prunes to those months` };
}

/**
 * The read queries to compare: the configured ones (`{{table}}` stands for the
 * table, `$1` for the scope key), or by default the first rows of a scope in
 * primary-key order. The configured text is operator-written SQL from the
 * config file and runs as written; only the table name is substituted, quoted.
 */
function readQueries(pair: ShadowPair, table: TableConfig, column: string, limit: number): { name: string; sql: (target: string) => string }[] {
  const configured = table.read_queries.map((q) => ({ name: q.name, sql: (target: string) => q.sql.split('{{table}}').join(target) }));
  if (configured.length > 0) return configured;
  const order = pair.legacyKey.map((c) => compileDdl(sql`${sql.id(c.name)}`)).join(', ');
  const col = compileDdl(sql`${sql.id(column)}`);
  return [{ name: 'scope_rows', sql: (target) => `select * from ${target} where ${col} = $1 order by ${order} limit ${limit}` }];
}

/**
 * `partgov shadow-read`: for sampled scope keys, runs each read query on the
 * legacy table and the shadow, and reports result overlap, latency on both,
 * and how many shadow leaves the plan touches (1 = pruned to one partition).
 */
export async function runShadowRead(ctx: StageContext, input: ShadowReadInput): Promise<ShadowReadResult> {
  const o = parseStageInput('shadow-read', shadowReadInputSchema, input);
  const table = configuredTable(ctx, 'shadow-read', o.table);
  const conn = ctx.database;
  const { samples, limit, minOverlap } = o;
  const evidenceDir = ctx.config?.evidence_dir;
  // After cutover the same comparison runs between the archive (legacy-shaped) and the partitioned table under the name.
  const { pair, direction } = await comparedPair(conn.db, table);
  // The copy lags the table the application writes by the change log: apply it first
  // (each sample then replays what arrived since, inside its own snapshot).
  const syncOn = await isSyncEnabled(conn.db, table.schema, table.name, direction);
  if (syncOn) {
    await replayChanges(conn.db, pair, { direction, lockTimeoutMs: ctx.settings.lockTimeoutMs, statementTimeoutMs: ctx.settings.statementTimeoutMs });
  }
  const { column, byTime } = scopeColumn(table);
  const legacyText = compileDdl(sql`${sql.id(pair.legacy.schema, pair.legacy.name)}`);
  const shadowText = compileDdl(sql`${sql.id(pair.shadow.schema, pair.shadow.name)}`);
  const tree = await readPartitionTree(conn.db, pair.shadow);
  const rootName = `${pair.shadow.schema}.${pair.shadow.name}`;
  const periodOf = new Map(tree.filter((n) => n.isLeaf).map((n) => {
    const parent = `${n.parentSchema ?? ''}.${n.parentName ?? ''}`;
    return [`${n.schema}.${n.name}`, parent === rootName ? `${n.schema}.${n.name}` : parent] as const;
  }));
  // Bernoulli sample of ~50k rows, then distinct scope keys in a stable pseudo-random order.
  const pct = Math.min(100, Math.max(0.01, (5_000_000 / Math.max(1, pair.legacy.rowEstimate))));
  const sampled = await sql<{ k: string }>`
    select k from (select distinct ${sql.id(column)}::text as k from ${sql.id(pair.legacy.schema, pair.legacy.name)} tablesample bernoulli (${pct}::float4) repeatable (42)) x
    order by md5(k) limit ${samples}`.execute(conn.db);
  const scopes = sampled.rows.map((r) => r.k);
  const client = await conn.pool.connect();
  const onClient = kyselyOnClient(client);
  const lag = syncOn ? { pair, direction } : null;
  const recordRejections = () => replayChanges(conn.db, pair, { direction, lockTimeoutMs: ctx.settings.lockTimeoutMs, statementTimeoutMs: ctx.settings.statementTimeoutMs });
  try {
    const queries: ShadowReadQueryResult[] = [];
    for (const q of readQueries(pair, table, column, limit)) {
      const overlaps: number[] = [];
      const lt: number[] = [];
      const st: number[] = [];
      const below: BelowThreshold[] = [];
      let leavesMax = 0;
      let perPeriodMax = 0;
      let worst: { scope: string; overlap: number } | null = null;
      for (const [i, scope] of scopes.entries()) {
        // Alternate which side runs first, so cache warming favours neither.
        const first = i % 2 === 0 ? 'legacy' : 'shadow';
        const run = (text: string) => firstRows(client, text, [scope], limit).catch((err: unknown) => {
          if (sqlStateOf(err) === readOnlyViolation) {
            throw new InputInvalidError(`read query ${JSON.stringify(q.name)} of ${pair.label} writes (${(err as Error).message}); shadow-read runs queries read-only`, {
              fix: `make tables[].read_queries "${q.name}" a plain SELECT`,
              cause: err,
            });
          }
          throw err;
        });
        const sample = await inCaughtUpSnapshot(client, onClient, lag, ctx.settings, recordRejections, async () => {
          const a = await run(q.sql(first === 'legacy' ? legacyText : shadowText));
          const b = await run(q.sql(first === 'legacy' ? shadowText : legacyText));
          const [l, s] = first === 'legacy' ? [a, b] : [b, a];
          const overlap = resultOverlap(l.rows, s.rows);
          // Below the bar: are the scope's rows themselves the same in this snapshot? Each check
          // may read the scope's rows in full, so a few per query.
          const checked = below.filter((x) => x.rows_identical !== null).length;
          const identical = overlap < minOverlap && checked < scopeChecksPerQuery ? await scopeRowsIdentical(onClient, pair, column, scope) : null;
          return { l, s, overlap, identical, touched: await leavesTouched(client, q.sql(shadowText), [scope], periodOf) };
        });
        lt.push(sample.l.ms);
        st.push(sample.s.ms);
        overlaps.push(sample.overlap);
        if (sample.overlap < minOverlap) below.push({ scope, overlap: sample.overlap, rows_identical: sample.identical });
        if (!worst || sample.overlap < worst.overlap) worst = { scope, overlap: sample.overlap };
        leavesMax = Math.max(leavesMax, sample.touched.leaves);
        perPeriodMax = Math.max(perPeriodMax, sample.touched.perPeriod);
      }
      queries.push({
        name: q.name,
        overlap_min: overlaps.length ? Math.min(...overlaps) : 1,
        overlap_mean: overlaps.length ? Math.round((overlaps.reduce((x, y) => x + y, 0) / overlaps.length) * 10_000) / 10_000 : 1,
        legacy_p50_ms: percentile(lt, 50),
        legacy_p95_ms: percentile(lt, 95),
        shadow_p50_ms: percentile(st, 50),
        shadow_p95_ms: percentile(st, 95),
        leaves_touched_max: leavesMax,
        leaves_per_period_max: perPeriodMax,
        worst_scope: worst?.scope ?? null,
        below: below.sort((x, y) => x.overlap - y.overlap),
      });
    }
    const checks: Check[] = queries.flatMap((q) => [
      overlapCheck(q, minOverlap, pair.legacyKey.map((c) => compileDdl(sql`${sql.id(c.name)}`)).join(', ')),
      byTime ? timePruningCheck(q, periodOf.size, table) : table.layout.type === 'range' ? periodPruningCheck(q, column) : scopePruningCheck(q),
      latencyCheck(q, o.maxLatencyRatio),
    ]);
    const result: ShadowReadResult = {
      ok: verdict(checks, { strict: false }).ok,
      checks,
      table: pair.label,
      scope_column: column,
      samples: scopes.length,
      limit,
      min_overlap: minOverlap,
      queries,
      overlap_min: queries.length ? Math.min(...queries.map((q) => q.overlap_min)) : 1,
      pruning_ok: checks.every((c) => !c.name.startsWith('pruning:') || c.status === 'pass'),
      evidence_file: null,
    };
    if (evidenceDir) {
      await mkdir(evidenceDir, { recursive: true });
      result.evidence_file = path.join(evidenceDir, 'shadow-read.json');
      await writeFile(result.evidence_file, `${JSON.stringify({ command: 'shadow-read', generated_at: new Date().toISOString(), ...result }, null, 2)}\n`);
    }
    return result;
  } finally {
    client.release();
  }
}

/** SQLSTATE 25006 read_only_sql_transaction. */
const readOnlyViolation = '25006';
