import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql, type RawBuilder } from 'kysely';
import type { PartgovConfig, TableConfig } from '../config/config-schema.js';
import { parseGateEnv, startPaceMs, type GateEnv } from '../config/gate-env.js';
import { z } from 'zod';
import { configuredTable, derivedContext, requireConfig, type StageContext } from '../stage/stage-context.js';
import { parseStageInput, textInput } from '../stage/stage-input.js';
import { figuresMetrics } from '../gate/metrics.js';
import { writeFileAtomically } from '../gate/evidence-bundle.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { requireTable, type ColumnModel, type TableModel } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import type { PartgovDatabase } from '../db/open-database.js';
import { objectNames } from '../db/object-names.js';
import { formatScopeKey, keysFromRowsText, resolveScopeSelector, tellsScopes, type ScopeSelector, type ScopeTarget } from '../db/scope-target.js';
import { sqlStateOf, InputInvalidError, PartgovError } from '../errors.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { runPlan } from '../plan/run-plan.js';
import { runPurge } from '../purge/run-purge.js';
import { judged, type StageVerdict } from '../checks/check.js';

/** Where bench keeps its copies: never the application's tables. */
export const benchSchema = 'partgov_bench';

export type BenchLayout = 'partitioned' | 'legacy';
export type BenchWorkload = 'recall' | 'write';

export interface LatencyFigures {
  ops: number;
  errors: number;
  error_rate: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Histogram buckets (upper bound in ms → count), for the report. */
  histogram: { le_ms: number; count: number }[];
}

export interface AdaptStep {
  at_ms: number;
  layout: BenchLayout;
  workload: BenchWorkload;
  sqlstate: string | null;
  error: string;
  pace_ms: number;
  retry: number;
}

export interface ResetFigures {
  impl: GateEnv['GATEC_RESET_IMPL'];
  mode: GateEnv['GATEC_RESET_PURGE_MODE'];
  /** Per partitioned table: the strategy purge chose (empty for perf_seed). */
  strategies: { table: string; strategy: string; rows: number; ms: number }[];
  purge_delete_strategy_tables_total: number;
  /** Partition-first purge of the scope in the partitioned copy. */
  partition_ms: number | null;
  /** The same scope removed from the legacy copy by DELETE, for comparison. */
  delete_ms: number;
  error: string | null;
}

export interface ScaleFigures {
  scale: number;
  seeded_rows: number;
  results: { layout: BenchLayout; workload: BenchWorkload; figures: LatencyFigures }[];
  adapt: AdaptStep[];
  reset: ResetFigures | null;
}

export interface BenchResult extends StageVerdict {
  profile: GateEnv['GATEC_PERF_PROFILE'];
  table: string;
  tenant_id: string;
  scope: string;
  concurrency: number;
  ops_per_worker: number;
  scales: ScaleFigures[];
  files: string[];
  /** Where PERFORMANCE_REPORT.md and the per-scale files went. */
  out_dir: string;
}

/** bench's input: defaults and limits once, for the library and the CLI (GATEC_* settings come from `env`). */
export const benchInputSchema = z.object({
  scales: z
    .union([z.string().regex(/^\d+(,\d+)*$/, { message: 'must be a comma-separated list of row counts, e.g. 100000,1000000' }).transform((t) => t.split(',').map(Number)), z.array(z.number().int().min(1))])
    .optional()
    .describe('row counts of the perf scope (default: GATEC_SCALES, 100000)'),
  profile: z.enum(['balanced', 'recall_slo', 'write_slo'], { error: 'must be balanced, recall_slo or write_slo' }).optional().describe('balanced | recall_slo | write_slo (default: GATEC_PERF_PROFILE)'),
  out: textInput('where the report goes (default: <evidence_dir>/bench)').optional(),
  table: textInput('the configured table to measure (default: the first with read_queries among those whose scopes partgov can tell)').optional(),
  tenantId: textInput('tenant of the perf scope (a value of the tenant column\'s type no row uses)').default('perf'),
  scope: textInput('the perf scope').default('perf'),
  metricsFile: textInput('also write the figures in Prometheus text format (written atomically)').optional(),
  env: z.record(z.string(), z.string().optional()).optional().describe('GATEC_* settings (default: the process environment)'),
});
export type BenchInput = z.input<typeof benchInputSchema>;

const retryable = new Set(['55P03', '40001', '40P01', '53300', '57014', '53400']);

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const bucketBounds = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, Infinity];

function figuresOf(samples: number[], errors: number): LatencyFigures {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  const histogram = bucketBounds.map((le, i) => ({ le_ms: le, count: sorted.filter((x) => x <= le && (i === 0 || x > bucketBounds[i - 1]!)).length }));
  const ops = samples.length + errors;
  return { ops, errors, error_rate: ops === 0 ? 0 : Math.round((errors / ops) * 10_000) / 10_000, p50_ms: round(percentile(sorted, 50)), p95_ms: round(percentile(sorted, 95)), p99_ms: round(percentile(sorted, 99)), max_ms: round(sorted.at(-1) ?? 0), histogram };
}

/**
 * The table bench measures (the one named, else the first with read queries
 * among those whose scopes partgov can tell, else the first of those) and where
 * its perf scope's rows go: checked before anything is created. A table kept
 * by time alone (no tenant or scope) has no scope to seed, so it is passed over.
 */
async function benchTableOf(db: PartgovKysely, config: PartgovConfig, table: TableConfig | undefined, target: ScopeTarget): Promise<{ source: TableConfig; sel: ScopeSelector; keyColumn: string }> {
  const scoped = config.tables.filter((x) => tellsScopes(config, x));
  if (table === undefined && scoped.length === 0) {
    throw new InputInvalidError(`bench seeds a perf tenant/scope into a copy of one configured table, and partgov cannot tell a scope's rows in any of them (${config.tables.map((x) => `${x.schema}.${x.name}`).join(', ')})`, {
      fix: 'set tables[].tenant_column and tables[].scope_column (or a scope_key_column formed from {tenant} and {scope}) for the table bench should measure',
    });
  }
  const source = table ?? scoped.find((x) => x.read_queries.length > 0) ?? scoped[0]!;
  let sel = await resolveScopeSelector(db, config, source, target);
  if (sel.keysFromRows !== null && sel.keysFromRows.length === 0 && sel.keyColumn !== null) {
    // A key read from the scope's rows (a workspace uuid, an account number), and the perf scope has none yet
    // (it seldom has): bench seeds it under a key no row of the table holds, which is then that scope's alone.
    const keyValue = await unusedKeyValue(db, config, source, sel.keyColumn, target);
    sel = { ...sel, keyValue, keyIdentifiesScope: true, keysFromRows: [keyValue] };
  }
  if (sel.keysFromRows !== null && sel.keyValue === null) {
    throw new InputInvalidError(`bench seeds ${target.tenantId}/${target.scope} into a copy of ${source.schema}.${source.name}, which reads a scope's ${sel.keyColumn} from its rows (scope_key_source "rows"), and that scope's rows hold ${keysFromRowsText(sel.keyColumn!, sel.keysFromRows)}: its key is not known`, {
      fix: 'bench another scope (partgov bench --tenant-id … --scope …; the gate benches perf/perf), or another table with --table',
    });
  }
  // The tenant and scope are written into their columns as they are: 'perf' is no integer.
  const live = await requireTable(db, { schema: source.schema, name: source.name });
  for (const [column, value, flag] of [[sel.tenantColumn, target.tenantId, 'tenant-id'], [sel.scopeColumn, target.scope, 'scope']] as const) {
    const c = column === null ? undefined : live.columns.find((x) => x.name === column);
    if (c === undefined || c.typeCategory === 'S') continue;
    // sql.raw(c.type): format_type() text from the catalog.
    const fits = await sql`select ${value}::text::${sql.raw(c.type)}`.execute(db).then(() => true, () => false);
    if (!fits) {
      throw new InputInvalidError(`bench seeds ${target.tenantId}/${target.scope} into a copy of ${source.schema}.${source.name}, whose ${JSON.stringify(column)} is of type ${c.type}: ${JSON.stringify(value)} is not one`, {
        fix: `name a ${flag === 'tenant-id' ? 'tenant' : 'scope'} of that type no row uses: partgov bench --${flag} <value> (partgov gate --bench-${flag} <value>)`,
      });
    }
  }
  const keyColumn = sel.keyColumn ?? sel.scopeColumn;
  if (keyColumn === null) {
    throw new InputInvalidError(`bench seeds a perf tenant/scope into ${source.schema}.${source.name}, which has neither a scope key column nor a scope_column in the config`, { fix: 'set tables[].scope_column or scope_key_column, or pick another table with --table' });
  }
  return { source, sel, keyColumn };
}

/**
 * A value of the key column no row of the table holds, for a perf scope whose
 * key is read from its rows and which has none: a random uuid, the largest
 * number plus one, or the formed key (e.g. "perf:perf") for text.
 */
async function unusedKeyValue(db: PartgovKysely, config: PartgovConfig, table: TableConfig, keyColumn: string, target: ScopeTarget): Promise<string> {
  const live = await requireTable(db, { schema: table.schema, name: table.name });
  const c = live.columns.find((x) => x.name === keyColumn)!;
  const from = sql.id(table.schema, table.name);
  const key = sql.id(keyColumn);
  // sql.raw(c.type): format_type() text from the catalog.
  const candidate =
    c.type === 'uuid' ? sql`gen_random_uuid()::text`
    : c.typeCategory === 'N' ? sql`(select (coalesce(floor(max(${key}::numeric) filter (where ${key}::numeric < 'Infinity')), 0) + 1)::${sql.raw(c.type)}::text from ${from})`
    : c.typeCategory === 'S' ? sql`${formatScopeKey(table.scope_key_format ?? config.purge.scope_key_format, target)}::${sql.raw(c.type)}::text`
    : null;
  if (candidate === null) {
    throw new InputInvalidError(`bench seeds ${target.tenantId}/${target.scope}, which has no row in ${table.schema}.${table.name} to read its ${keyColumn} from, and cannot make a new value of type ${c.type} for it`, {
      fix: `bench a scope that has rows (partgov bench --tenant-id … --scope …), or another table with --table`,
    });
  }
  const r = await sql<{ k: string; taken: boolean }>`select k, exists (select 1 from ${from} where ${key} = k::${sql.raw(c.type)}) as taken from (select ${candidate} as k) c`.execute(db);
  const { k, taken } = r.rows[0]!;
  if (taken) {
    throw new InputInvalidError(`bench seeds ${target.tenantId}/${target.scope} under ${keyColumn} = ${JSON.stringify(k)}, and other rows of ${table.schema}.${table.name} already hold that value`, {
      fix: `bench a scope that has rows (partgov bench --tenant-id … --scope …), or another table with --table`,
    });
  }
  return k;
}

/** Columns bench copies: everything but generated ones and those a default numbers (identity, serial). */
function copiedColumns(columns: readonly ColumnModel[]): ColumnModel[] {
  return columns.filter((c) => c.generated === null && c.identity === null && !(c.defaultExpr ?? '').startsWith('nextval('));
}

/** A key column whose every new row gets a value no other row has: an identity, a sequence or a random uuid default. */
const newByItself = (c: ColumnModel) => c.identity !== null || /^(nextval\(|gen_random_uuid\(|uuid_generate_v[14]\()/.test(c.defaultExpr ?? '');

/** Which key column bench makes new first: a number or uuid, then unbounded text (a char(2) would cut 'pgb12' to 'pg' every time). */
const freshnessRank = (c: ColumnModel) => (c.type === 'uuid' || c.typeCategory === 'N' ? 0 : c.typeCategory === 'S' && !c.type.includes('(') ? 1 : 2);

/**
 * How bench gives every row it writes a key of its own (its seeded rows repeat
 * the table's rows; its write workload repeats one): primary-key columns with a
 * default are left to it; unless one is new by itself (identity, sequence, random
 * uuid), one other key column takes a new value from `sequence` (numbers past
 * the table's largest, text), or a random uuid. A unique index none of whose
 * columns is new that way gets one of its columns made new as well (a
 * `(workspace, title)` index: the title). Refused, before anything is created,
 * for a key column of another type, and for a unique index over the scope's own
 * columns alone (one row per scope: bench cannot seed a scope of many rows).
 */
function freshKeys(live: TableModel, scopeColumns: ReadonlySet<string>, sequence: RawBuilder<unknown>, numericBase: string): { defaulted: Set<string>; values: Map<string, RawBuilder<unknown>> } {
  const defaulted = new Set<string>();
  const values = new Map<string, RawBuilder<unknown>>();
  const isNew = (name: string) => {
    const c = live.columns.find((x) => x.name === name)!;
    return values.has(name) || defaulted.has(name) || c.identity !== null;
  };
  // sql.raw(c.type): format_type() text from the catalog.
  const makeNew = (c: ColumnModel): boolean => {
    if (c.type === 'uuid') values.set(c.name, sql`gen_random_uuid()`);
    // sql.lit: the workload's statements are compiled to text without parameters; numericBase is digits read from the table.
    else if (c.typeCategory === 'N') values.set(c.name, sql`(${sql.lit(numericBase)}::numeric + nextval(${sequence}))::${sql.raw(c.type)}`);
    else if (c.typeCategory === 'S') values.set(c.name, sql`('pgb' || nextval(${sequence}))::${sql.raw(c.type)}`);
    else return false;
    return true;
  };
  const key = (live.constraints.find((c) => c.kind === 'primary_key')?.columns ?? []).map((name) => live.columns.find((x) => x.name === name)!).filter((c) => !scopeColumns.has(c.name) && c.generated === null);
  for (const c of key) if (c.identity === null && c.defaultExpr !== null) defaulted.add(c.name);
  if (key.length > 0 && !key.some(newByItself)) {
    // One new column makes every key new; the others keep the template row's values (a range key stays in its partitions).
    const candidates = key.filter((c) => !defaulted.has(c.name)).sort((a, b) => freshnessRank(a) - freshnessRank(b));
    if (!candidates.some(makeNew)) {
      const named = (key.length === 1 ? key : candidates).map((c) => `${JSON.stringify(c.name)} of type ${c.type}`);
      throw new InputInvalidError(`bench writes rows of its own into copies of ${live.schema}.${live.name}, and cannot make a new value for its primary key column ${named.join(' or ')}`, {
        fix: `give ${(key.length === 1 ? key : candidates).map((c) => JSON.stringify(c.name)).join(' or ')} a default, or bench another table with --table`,
      });
    }
  }
  for (const index of live.indexes) {
    // An expression key may well hold a new column: it is left to the workload (its errors would show in the report).
    if (!index.isUnique || index.isPrimary || index.keyColumns.some((k) => k === null)) continue;
    const keys = index.keyColumns as string[];
    if (keys.some(isNew)) continue;
    const candidate = keys.map((k) => live.columns.find((x) => x.name === k)!).find((c) => !scopeColumns.has(c.name) && c.generated === null && makeNew(c));
    if (candidate === undefined) {
      throw new InputInvalidError(`bench seeds one scope of many rows into copies of ${live.schema}.${live.name}, and its unique index ${index.name} on (${keys.join(', ')}) allows ${keys.every((k) => scopeColumns.has(k)) ? 'one row per scope' : 'no new value bench can make'}: every seeded and written row would collide`, {
        fix: 'bench another table with --table (the gate measures the first table with read_queries among those whose scopes partgov can tell)',
      });
    }
  }
  return { defaulted, values };
}

/**
 * Past the largest value of every number column in the table's primary key or
 * a unique index (as numeric text: keys beyond bigint, such as numeric(30,0),
 * are common), so no new key bench makes meets an old one. NaN and infinities
 * are left out: nothing comes after them.
 */
async function numericKeyBase(db: PartgovKysely, live: TableModel): Promise<string> {
  const keyed = new Set([...live.constraints.filter((c) => c.kind === 'primary_key').flatMap((c) => c.columns), ...live.indexes.filter((x) => x.isUnique).flatMap((x) => x.keyColumns.filter((k): k is string => k !== null))]);
  const numbers = live.columns.filter((c) => c.typeCategory === 'N' && keyed.has(c.name));
  if (numbers.length === 0) return '0';
  const largest = numbers.map((c) => sql`coalesce(floor(max(${sql.id(c.name)}::numeric) filter (where ${sql.id(c.name)}::numeric < 'Infinity')), 0)`);
  const n = (await sql<{ n: string }>`select greatest(${sql.join(largest)})::text as n from ${sql.id(live.schema, live.name)}`.execute(db)).rows[0]!.n;
  if (!/^-?\d+$/.test(n)) throw new Error(`the largest key value read as ${JSON.stringify(n)}, not an integer`);
  return n;
}

/**
 * Runs `work` with up to `retries` retries on the errors a loaded server returns
 * (lock timeout, serialization failure, too many connections, statement
 * timeout): each one slows the workload by `step` ms (up to `max`) and is recorded.
 */
class Pacer {
  pace: number;
  readonly steps: AdaptStep[] = [];
  constructor(start: number, private readonly env: GateEnv, private readonly t0: number) {
    this.pace = start;
  }
  async run(layout: BenchLayout, workload: BenchWorkload, work: () => Promise<unknown>): Promise<number | null> {
    for (let retry = 0; ; retry++) {
      const t = performance.now();
      try {
        await work();
        return performance.now() - t;
      } catch (err) {
        const state = sqlStateOf(err) ?? null;
        const canRetry = this.env.GATEC_AUTO_ADAPT_RATE_LIMIT && state !== null && retryable.has(state) && retry < this.env.GATEC_MAX_RATE_LIMIT_RETRIES;
        if (canRetry) this.pace = Math.min(this.env.GATEC_PACE_MAX_MS, this.pace + this.env.GATEC_PACE_STEP_MS);
        this.steps.push({ at_ms: Math.round(performance.now() - this.t0), layout, workload, sqlstate: state, error: (err as Error).message, pace_ms: this.pace, retry });
        if (!canRetry) return null;
        await new Promise((r) => setTimeout(r, this.pace));
      }
    }
  }
}

/**
 * One workload on both layouts at once: every connection alternates its
 * operations between them, so both see the same server (autovacuum, a
 * checkpoint, the other connections) and neither pays for going first.
 */
async function workload(concurrency: number, ops: number, pacer: Pacer, kind: BenchWorkload, op: (layout: BenchLayout, i: number) => Promise<unknown>): Promise<Record<BenchLayout, LatencyFigures>> {
  const samples: Record<BenchLayout, number[]> = { partitioned: [], legacy: [] };
  const errors: Record<BenchLayout, number> = { partitioned: 0, legacy: 0 };
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; i < 2 * ops; i++) {
        const layout: BenchLayout = (i + w) % 2 === 0 ? 'partitioned' : 'legacy';
        const ms = await pacer.run(layout, kind, () => op(layout, w * ops + Math.floor(i / 2)));
        if (ms === null) errors[layout]++;
        else samples[layout].push(ms);
        if (pacer.pace > 0) await new Promise((r) => setTimeout(r, pacer.pace));
      }
    }),
  );
  return { partitioned: figuresOf(samples.partitioned, errors.partitioned), legacy: figuresOf(samples.legacy, errors.legacy) };
}

/**
 * `partgov bench`: copies the measured table into schema partgov_bench twice
 * (as it is, and partitioned by partgov's own plan of its layout), seeds a
 * dedicated perf tenant/scope at each scale, runs the recall workload (the
 * configured read queries, scope-keyed) and the write workload (single-row
 * inserts into the scope) on both at the configured concurrency and pacing,
 * slowing down on errors, and resets the scope between scales with a
 * partition-first purge. Writes PERFORMANCE_REPORT.md, benchmark_adapt_<scale>.json
 * and bench.json into `outDir`. The application's tables are only read.
 */
export async function runBench(ctx: StageContext, input: BenchInput = {}): Promise<BenchResult> {
  const i = parseStageInput('bench', benchInputSchema, input);
  const config = requireConfig(ctx, 'bench');
  const env = parseGateEnv({ ...(i.env ?? process.env), ...(i.profile ? { GATEC_PERF_PROFILE: i.profile } : {}) });
  const o = { config, env, settings: ctx.settings, scales: i.scales ?? env.GATEC_SCALES, outDir: path.resolve(i.out ?? path.join(config.evidence_dir, 'bench')) };
  // The workload's connections, and two for the copies and resets.
  const conn = ctx.database.open({ maxConnections: env.GATEC_BENCH_CONCURRENCY + 2 });
  try {
    const figures = await benchOn(ctx, conn, o, i.table === undefined ? undefined : configuredTable(ctx, 'bench', i.table), i.tenantId, i.scope);
    // bench measures; the gate judges SLOs. A workload that erred, or a reset that failed, is what fails here.
    const result = judged(figures, figures.scales.flatMap((s) => [
      ...s.results.map((r) => ({ name: `bench:${s.scale}:${r.workload}:${r.layout}`, status: r.figures.error_rate > 0 ? ('warn' as const) : ('pass' as const), detail: `p50 ${r.figures.p50_ms} ms, p95 ${r.figures.p95_ms} ms, p99 ${r.figures.p99_ms} ms, error rate ${r.figures.error_rate}`, figures: { p95_ms: r.figures.p95_ms, error_rate: r.figures.error_rate } })),
      ...(s.reset?.error ? [{ name: `reset:${s.scale}`, status: 'fail' as const, detail: s.reset.error }] : []),
    ]));
    if (i.metricsFile !== undefined) await writeFileAtomically(i.metricsFile, await figuresMetrics({ bench: result }));
    return result;
  } finally {
    await conn.close();
  }
}

async function benchOn(ctx: StageContext, conn: PartgovDatabase, o: { config: PartgovConfig; env: GateEnv; settings: RuntimeSettings; scales: number[]; outDir: string }, table: TableConfig | undefined, tenantId: string, scope: string): Promise<Omit<BenchResult, keyof StageVerdict>> {
  const { db } = conn;
  const log = ctx.log;
  const { source, sel, keyColumn } = await benchTableOf(db, o.config, table, { tenantId, scope });
  const live = await requireTable(db, { schema: source.schema, name: source.name });
  const keySequence = sql.id(benchSchema, 'partgov_bench_key_seq');
  const fresh = freshKeys(live, new Set([sel.tenantColumn, sel.scopeColumn, keyColumn].filter((c): c is string => c !== null)), sql`${sql.lit(compileDdl(keySequence))}::regclass`, await numericKeyBase(db, live));
  // Columns bench writes: key columns with a default are left to it (each row gets a new key).
  const columns = copiedColumns(live.columns).filter((c) => !fresh.defaulted.has(c.name));
  const sourceRows = Number((await sql<{ n: string }>`select count(*)::text as n from (select 1 from ${sql.id(source.schema, source.name)} limit 10000) s`.execute(db)).rows[0]!.n);
  if (sourceRows === 0) throw new InputInvalidError(`${source.schema}.${source.name} has no rows for bench to copy`, { fix: 'load data first (the demo and the example seed do), or bench another table' });

  // 1. The two copies: legacy (as the table is) and partitioned (partgov's plan of its layout).
  const legacyRef = { schema: benchSchema, name: source.name };
  const partitionedName = objectNames.shadow(source.name);
  await sql`create schema if not exists ${sql.id(benchSchema)}`.execute(db);
  await sql`drop table if exists ${sql.id(benchSchema, partitionedName)}, ${sql.id(benchSchema, source.name)}`.execute(db);
  await sql`create table ${sql.id(benchSchema, source.name)} (like ${sql.id(source.schema, source.name)} including defaults including constraints including indexes including identity including generated)`.execute(db);
  await sql`drop sequence if exists ${keySequence}`.execute(db);
  await sql`create sequence ${keySequence}`.execute(db);
  // On an isolatable layout the perf scope gets its own partition in the copy, as `partgov isolate` gives it on
  // the live table (whose isolated partitions need not be in the config), so its reset can be partition-first.
  const layout = source.layout.type === 'isolatable' && sel.keyValue !== null && sel.keyIdentifiesScope && !source.layout.isolated.includes(sel.keyValue)
    ? { ...source.layout, isolated: [...source.layout.isolated, sel.keyValue] }
    : source.layout;
  if (layout !== source.layout) log(`${tenantId}/${scope} gets its own partition in the partitioned copy (as partgov isolate gives it), so its reset can be partition-first`);
  const benchTable: TableConfig = { ...source, layout, schema: benchSchema, read_queries: source.read_queries, cutover: { retire_after_days: 0 } };
  delete (benchTable as { activity_column?: string }).activity_column;
  const plan = await runPlan(derivedContext(ctx, { config: { ...o.config, tables: [benchTable] }, database: conn }));
  await db.transaction().execute(async (trx) => {
    // sql.raw: statements partgov's own plan generated.
    for (const s of plan.tables[0]!.statements) await sql.raw(s.sql).execute(trx);
  });
  const partitionedRef = { schema: benchSchema, name: partitionedName };
  const purgeTable: TableConfig = { ...benchTable, name: partitionedName };
  const keyValue = sel.keyValue ?? scope;
  const colIds = sql.join(columns.map((c) => sql.id(c.name)));
  const overridden = sql.join(columns.map((c) => {
    // sql.raw(c.type): format_type() text from the catalog; the values fit it (benchTableOf).
    if (c.name === sel.tenantColumn) return sql`${tenantId}::text::${sql.raw(c.type)}`;
    if (c.name === sel.scopeColumn) return sql`${scope}::text::${sql.raw(c.type)}`;
    // The key's own type: a text parameter does not assign to a uuid or numeric column.
    if (c.name === keyColumn) return sql`${keyValue}::${sql.raw(c.type)}`;
    return fresh.values.get(c.name) ?? sql.id('src', c.name);
  }));
  const written = sql.join(columns.map((c) => fresh.values.get(c.name) ?? sql.id('src', c.name)));
  const target = (ref: { schema: string; name: string }) => compileDdl(sql`${sql.id(ref.schema, ref.name)}`);
  const readQueries = source.read_queries.length > 0 ? source.read_queries : [{ name: 'scope_rows', sql: `select * from {{table}} where ${compileDdl(sql`${sql.id(keyColumn)}`)} = $1 limit 50` }];

  // Background: the other scopes, as the application has them (fresh ids), up to the largest scale.
  const background = Math.min(Math.max(...o.scales), Number((await sql<{ n: string }>`select count(*)::text as n from ${sql.id(source.schema, source.name)}`.execute(db)).rows[0]!.n));
  log(`copying ${background} rows of other scopes into ${benchSchema}`);
  await sql`insert into ${sql.id(benchSchema, source.name)} (${colIds}) select ${colIds} from ${sql.id(source.schema, source.name)}
    where ${sql.id(keyColumn)} is distinct from ${keyValue} limit ${background}::int on conflict do nothing`.execute(db);
  const allColumns = sql.join(live.columns.filter((c) => c.generated === null).map((c) => sql.id(c.name)));
  await sql`insert into ${sql.id(benchSchema, partitionedName)} (${allColumns}) overriding system value select ${allColumns} from ${sql.id(benchSchema, source.name)}`.execute(db);

  const result: Omit<BenchResult, keyof StageVerdict> = { profile: o.env.GATEC_PERF_PROFILE, table: `${source.schema}.${source.name}`, tenant_id: tenantId, scope, concurrency: o.env.GATEC_BENCH_CONCURRENCY, ops_per_worker: o.env.GATEC_BENCH_OPS, scales: [], files: [], out_dir: o.outDir };
  await mkdir(o.outDir, { recursive: true });
  const pool = conn;
  // Statement texts built once per layout (not per operation), sent as named (prepared) statements, as an
  // application's driver or ORM would: parsed once per connection.
  const texts = Object.fromEntries((['partitioned', 'legacy'] as const).map((layout) => {
    const ref = layout === 'partitioned' ? partitionedRef : legacyRef;
    return [layout, {
      reads: readQueries.map((q) => q.sql.split('{{table}}').join(target(ref))),
      insert: compileDdl(sql`insert into ${sql.id(ref.schema, ref.name)} (${colIds}) select ${written} from json_populate_record(null::${sql.id(benchSchema, source.name)}, $1::json) src`),
    }];
  })) as Record<BenchLayout, { reads: string[]; insert: string }>;
  for (const scale of [...o.scales].sort((a, b) => a - b)) {
    const t0 = performance.now();
    // 2. Seed the perf scope at this scale: source rows, repeated, with the perf tenant/scope/key; fresh ids.
    log(`seeding ${scale} rows of ${tenantId}/${scope} into ${benchSchema}.${source.name} and its partitioned copy`);
    const reps = Math.ceil(scale / Math.min(sourceRows, 10_000));
    const seeded = await sql`insert into ${sql.id(benchSchema, source.name)} (${colIds})
      select ${overridden} from (select * from ${sql.id(source.schema, source.name)} limit 10000) src, generate_series(1, ${reps}::int) rep limit ${scale}::int
      on conflict do nothing`.execute(db);
    await sql`insert into ${sql.id(benchSchema, partitionedName)} (${allColumns}) overriding system value select ${allColumns} from ${sql.id(benchSchema, source.name)} where ${sql.id(keyColumn)} = ${keyValue}`.execute(db);
    // Vacuumed and analyzed now, so autovacuum does not wake up in the middle of a measurement.
    await sql`vacuum analyze ${sql.id(benchSchema, source.name)}`.execute(db);
    await sql`vacuum analyze ${sql.id(benchSchema, partitionedName)}`.execute(db);
    const pacer = new Pacer(startPaceMs(o.env), o.env, t0);
    const scaleFigures: ScaleFigures = { scale, seeded_rows: Number(seeded.numAffectedRows ?? 0n), results: [], adapt: pacer.steps, reset: null };
    const workloads: BenchWorkload[] = o.env.GATEC_PERF_PROFILE === 'recall_slo' ? ['recall', 'write'] : o.env.GATEC_PERF_PROFILE === 'write_slo' ? ['write', 'recall'] : ['recall', 'write'];
    // 3. The workloads, partitioned and legacy interleaved per workload.
    // The write workload inserts one row of the scope, built from a template read once (as JSON, so every type round-trips).
    const template = (await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.id(benchSchema, source.name)} t where ${sql.id(keyColumn)} = ${keyValue} limit 1`.execute(db)).rows[0]?.row ?? '{}';
    for (const kind of workloads) {
      const op = kind === 'recall'
        ? (layout: BenchLayout, i: number) => { const n = i % readQueries.length; return pool.pool.query({ name: `partgov_bench_${layout}_r${n}`, text: texts[layout].reads[n]!, values: [keyValue] }); }
        : (layout: BenchLayout) => pool.pool.query({ name: `partgov_bench_${layout}_w`, text: texts[layout].insert, values: [template] });
      const both = await workload(o.env.GATEC_BENCH_CONCURRENCY, o.env.GATEC_BENCH_OPS, pacer, kind, op);
      for (const layout of ['partitioned', 'legacy'] as const) {
        const figures = both[layout];
        scaleFigures.results.push({ layout, workload: kind, figures });
        const first = figures.errors > 0 ? pacer.steps.find((x) => x.layout === layout && x.workload === kind) : undefined;
        log(`${scale} rows, ${kind} on ${layout}: p50 ${figures.p50_ms} ms, p95 ${figures.p95_ms} ms, p99 ${figures.p99_ms} ms, ${figures.errors} errors in ${figures.ops}${first ? ` (first: ${first.error}; all in benchmark_adapt_${scale}.json)` : ''}`);
      }
    }
    // 4. Reset the perf scope: partition-first purge of the partitioned copy, a DELETE of the legacy one for comparison.
    const reset: ResetFigures = { impl: o.env.GATEC_RESET_IMPL, mode: o.env.GATEC_RESET_PURGE_MODE, strategies: [], purge_delete_strategy_tables_total: 0, partition_ms: null, delete_ms: 0, error: null };
    if (o.env.GATEC_RESET_IMPL === 'scope_purge') {
      try {
        const r = await runPurge(derivedContext(ctx, { config: { ...o.config, tables: [purgeTable] }, database: conn }), { tenantId, scope, confirm: `${tenantId}/${scope}`, mode: o.env.GATEC_RESET_PURGE_MODE, allowDelete: true });
        reset.strategies = r.tables.map((t) => ({ table: t.table, strategy: t.strategy, rows: t.rows, ms: t.ms }));
        reset.purge_delete_strategy_tables_total = r.purge_delete_strategy_tables_total;
        reset.partition_ms = r.duration_ms;
      } catch (err) {
        reset.error = err instanceof PartgovError ? err.message : String(err);
        await sql`delete from ${sql.id(benchSchema, partitionedName)} where ${sql.id(keyColumn)} = ${keyValue}`.execute(db);
      }
    } else {
      await sql`delete from ${sql.id(benchSchema, partitionedName)} where ${sql.id(keyColumn)} = ${keyValue}`.execute(db);
    }
    const d0 = performance.now();
    await sql`delete from ${sql.id(benchSchema, source.name)} where ${sql.id(keyColumn)} = ${keyValue}`.execute(db);
    reset.delete_ms = Math.round((performance.now() - d0) * 10) / 10;
    scaleFigures.reset = reset;
    log(`reset ${tenantId}/${scope}: ${reset.strategies.map((s) => `${s.strategy} in ${s.ms} ms`).join(', ') || reset.error || o.env.GATEC_RESET_IMPL}; DELETE from the legacy copy ${reset.delete_ms} ms`);
    const adaptFile = `benchmark_adapt_${scale}.json`;
    await writeFile(path.join(o.outDir, adaptFile), `${JSON.stringify({ scale, start_pace_ms: startPaceMs(o.env), step_ms: o.env.GATEC_PACE_STEP_MS, max_pace_ms: o.env.GATEC_PACE_MAX_MS, max_retries: o.env.GATEC_MAX_RATE_LIMIT_RETRIES, final_pace_ms: pacer.pace, steps: pacer.steps }, null, 2)}\n`);
    result.files.push(adaptFile);
    result.scales.push(scaleFigures);
  }
  // The copies hold the application's rows (other scopes): they do not outlive the run.
  await sql`drop table if exists ${sql.id(benchSchema, partitionedName)}, ${sql.id(benchSchema, source.name)}`.execute(db);
  await sql`drop sequence if exists ${keySequence}`.execute(db);
  await writeFile(path.join(o.outDir, 'PERFORMANCE_REPORT.md'), performanceReport(result));
  await writeFile(path.join(o.outDir, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  result.files.push('PERFORMANCE_REPORT.md', 'bench.json');
  return result;
}

/** The Markdown report: one row per scale, workload and layout, and the resets. */
export function performanceReport(r: Omit<BenchResult, keyof StageVerdict>): string {
  const rows = r.scales.flatMap((s) => s.results.map((x) => `| ${s.scale} | ${x.workload} | ${x.layout} | ${x.figures.p50_ms} | ${x.figures.p95_ms} | ${x.figures.p99_ms} | ${x.figures.error_rate} | ${x.figures.ops} |`));
  const ratios = r.scales.flatMap((s) => (['recall', 'write'] as const).map((w) => {
    const p = s.results.find((x) => x.workload === w && x.layout === 'partitioned')?.figures.p95_ms;
    const l = s.results.find((x) => x.workload === w && x.layout === 'legacy')?.figures.p95_ms;
    return p !== undefined && l !== undefined && l > 0 ? `| ${s.scale} | ${w} | ${Math.round((p / l) * 100) / 100} |` : null;
  })).filter((x): x is string => x !== null);
  const resets = r.scales.map((s) => `| ${s.scale} | ${s.reset?.impl} | ${s.reset?.strategies.map((x) => `${x.table}: ${x.strategy}`).join(', ') || s.reset?.error || '-'} | ${s.reset?.partition_ms ?? '-'} | ${s.reset?.delete_ms} | ${s.reset?.purge_delete_strategy_tables_total} |`);
  return `# Performance report

Table ${r.table}, perf scope ${r.tenant_id}/${r.scope}, profile ${r.profile}, ${r.concurrency} connections × ${r.ops_per_worker} operations per workload and layout.
Latencies in milliseconds from every operation (nearest-rank percentiles), partitioned (partgov's plan) and legacy (the table as it is) side by side.

| scale | workload | layout | p50 | p95 | p99 | error rate | ops |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

## Partitioned p95 over legacy p95

| scale | workload | ratio |
|---|---|---|
${ratios.join('\n')}

## Reset of the perf scope between scales

| scale | impl | strategy per table | partition purge ms | DELETE from legacy ms | tables that needed a DELETE |
|---|---|---|---|---|---|
${resets.join('\n')}
`;
}
