import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { runBench, type BenchResult } from '../bench/run-bench.js';
import { disabledCaptureTriggers, isCutOver, isSyncEnabled } from '../changelog/sync-state.js';
import { verdict, type Check, type StageVerdict } from '../checks/check.js';
import type { PartgovConfig } from '../config/config-schema.js';
import { parseGateEnv, type GateEnv } from '../config/gate-env.js';
import { z } from 'zod';
import { configuredTable, derivedContext, requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput } from '../stage/stage-input.js';
import { readPartitionTree } from '../db/catalog.js';
import { partitionedTableOf } from '../db/shadow-pair.js';
import type { PartgovDatabase } from '../db/open-database.js';
import { runPreflight } from '../preflight/run-preflight.js';
import { runShadowRead } from '../shadow-read/run-shadow-read.js';
import { runVerify } from '../verify/run-verify.js';
import { writeFileAtomically, writeManifest } from './evidence-bundle.js';
import { figuresMetrics } from './metrics.js';
import { renderReportHtml, type ReportChart } from './report-html.js';

/** gate's input: defaults and limits once, for the library and the CLI (GATEC_* settings come from `env`). */
export const gateInputSchema = z.object({
  out: textInput('bundle root (default: <evidence_dir>/gate); the bundle is <dir>/<run_id>/').optional(),
  failOnFail: flagInput('blocking mode (also GATEC_FAIL_ON_FAIL=true): exit 1 when a check fails; otherwise exit 0 with ok: false'),
  metricsFile: textInput('also write the figures in Prometheus text format (written atomically)').optional(),
  benchTable: textInput('the configured table the perf matrix measures (default: the first with read_queries among those whose scopes partgov can tell)').optional(),
  benchTenantId: textInput('tenant of the scope the perf matrix seeds (default perf; a value of the tenant column\'s type no tenant uses)').optional(),
  benchScope: textInput('the scope the perf matrix seeds (default perf)').optional(),
  runId: textInput('the bundle id (default: time and random suffix)').optional(),
  env: z.record(z.string(), z.string().optional()).optional().describe('GATEC_* settings (default: the process environment)'),
});
export type GateInput = z.input<typeof gateInputSchema>;

export interface GateCheck extends Check {
  /** The bundle file with this check's evidence. */
  evidence: string | null;
}

export interface GateSummary {
  run_id: string;
  ok: boolean;
  mode: 'blocking' | 'snapshot';
  started_at: string;
  finished_at: string;
  checks: { name: string; status: Check['status']; detail: string; evidence: string | null }[];
  required_scale: number;
  required_scale_ok: boolean;
  recall_p95_ms: number | null;
  write_p95_ms: number | null;
  error_rate: number | null;
  reset_policy_ok: boolean;
  purge_delete_strategy_tables_total: number;
  partition_read_shadow_overlap_min: number | null;
  knobs: GateEnv;
}

export interface GateResult extends StageVerdict {
  blocking: boolean;
  bundle_dir: string;
  summary_file: string;
  summary: GateSummary;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * `partgov gate`: the Gate C verdict. Runs preflight with warnings as
 * failures, verify, shadow-read, the perf matrix (bench at GATEC_SCALES with
 * its partition-first resets), then judges the reset policy and the SLOs at the
 * required scale, and writes the evidence bundle `<out>/<run_id>/`: summary.json,
 * one JSON per check, 02_perf_matrix.log, perf/, report.html and MANIFEST.json
 * (SHA-256 of every file). A row in partgov.gate_run per run.
 */
export async function runGate(ctx: StageContext, input: GateInput = {}): Promise<GateResult> {
  const i = parseStageInput('gate', gateInputSchema, input);
  const config = requireConfig(ctx, 'gate');
  // A table that is not configured is bad input (exit 2, no bundle), not a failed check.
  if (i.benchTable !== undefined) configuredTable(ctx, 'gate', i.benchTable);
  const rawEnv = { ...(i.env ?? process.env) };
  const o = { ...i, config, settings: ctx.settings, env: parseGateEnv(rawEnv), outDir: path.resolve(i.out ?? path.join(config.evidence_dir, 'gate')), log: ctx.log };
  const conn = ctx.database;
  const startedAt = ctx.now();
  const runId = o.runId ?? `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}_${randomBytes(3).toString('hex')}`;
  const dir = path.resolve(o.outDir, runId);
  await mkdir(path.join(dir, 'perf'), { recursive: true });
  const log = o.log;
  const env = o.env;
  const checks: GateCheck[] = [];
  const evidence = async (file: string, data: unknown) => {
    await writeFile(path.join(dir, file), `${JSON.stringify(data, null, 2)}\n`);
    return file;
  };
  const add = (c: Check, file: string | null) => {
    checks.push({ ...c, evidence: file });
    log(`${c.name}: ${c.status} — ${c.detail}`);
  };

  // 1. Health gate: preflight, warnings count as failures.
  try {
    const pre = await runPreflight(ctx, { strict: true });
    add({ name: 'health_gate', status: pre.ok ? 'pass' : 'fail', detail: `preflight --strict: ${pre.checks.length} checks, ${pre.failed} failed, ${pre.warned} warnings`, figures: { failed: pre.failed, warned: pre.warned } }, await evidence('01_health_gate.json', pre));
  } catch (err) {
    add({ name: 'health_gate', status: 'fail', detail: `preflight could not run: ${errorText(err)}` }, await evidence('01_health_gate.json', { error: errorText(err) }));
  }

  // 2. The perf matrix: bench at every scale, its log as evidence.
  const perfLog: string[] = [];
  let bench: BenchResult | null = null;
  try {
    bench = await runBench(derivedContext(ctx, { log: (l) => { perfLog.push(`${new Date().toISOString()} ${l}`); log(l); } }), { env: rawEnv, scales: env.GATEC_SCALES, out: path.join(dir, 'perf'), ...(i.benchTable === undefined ? {} : { table: i.benchTable }), ...(i.benchTenantId === undefined ? {} : { tenantId: i.benchTenantId }), ...(i.benchScope === undefined ? {} : { scope: i.benchScope }) });
    add({ name: 'perf_matrix', status: 'pass', detail: `bench ran at ${env.GATEC_SCALES.join(', ')} rows (${env.GATEC_PERF_PROFILE})` }, '02_perf_matrix.log');
  } catch (err) {
    perfLog.push(`${new Date().toISOString()} bench failed: ${errorText(err)}`);
    add({ name: 'perf_matrix', status: 'fail', detail: `bench failed: ${errorText(err)}` }, '02_perf_matrix.log');
  }
  await writeFile(path.join(dir, '02_perf_matrix.log'), `${perfLog.join('\n')}\n`);

  // 3. Verify: exact equality and partition health of every table.
  let verifyRows = 0;
  let verifyMs = 0;
  try {
    const t0 = performance.now();
    const v = await runVerify(ctx);
    verifyMs = performance.now() - t0;
    verifyRows = v.tables.reduce((n, t) => n + t.equality.rows_legacy + t.equality.rows_shadow, 0);
    const diffs = v.tables.reduce((n, t) => n + t.equality.differing_rows, 0);
    add({ name: 'verify', status: v.ok ? 'pass' : 'fail', detail: `${v.tables.length} table(s), ${diffs} differing row(s), ${v.failed_checks} failed check(s)`, figures: { differing_rows: diffs } }, await evidence('03_verify.json', v));
  } catch (err) {
    add({ name: 'verify', status: 'fail', detail: `verify could not run: ${errorText(err)}` }, await evidence('03_verify.json', { error: errorText(err) }));
  }

  // 4. Shadow-read: the configured read queries on both tables, top-k overlap.
  let overlapMin: number | null = null;
  const readTables = o.config.tables.filter((t) => t.read_queries.length > 0);
  if (!env.GATEC_PARTITION_READ_SHADOW_CHECK || readTables.length === 0) {
    add({ name: 'shadow_read', status: 'skip', detail: env.GATEC_PARTITION_READ_SHADOW_CHECK ? 'no table has read_queries' : 'GATEC_PARTITION_READ_SHADOW_CHECK=false' }, null);
  } else {
    const results: unknown[] = [];
    const failures: string[] = [];
    for (const t of readTables) {
      try {
        const r = await runShadowRead(ctx, { table: `${t.schema}.${t.name}`, limit: env.GATEC_PARTITION_READ_SHADOW_LIMIT, minOverlap: env.GATEC_PARTITION_READ_SHADOW_MIN_OVERLAP });
        results.push(r);
        overlapMin = overlapMin === null ? r.overlap_min : Math.min(overlapMin, r.overlap_min);
        if (!r.ok) failures.push(`${r.table}: overlap min ${r.overlap_min}${r.pruning_ok ? '' : ', a query did not prune to one leaf'}`);
      } catch (err) {
        failures.push(`${t.schema}.${t.name}: ${errorText(err)}`);
        results.push({ table: `${t.schema}.${t.name}`, error: errorText(err) });
      }
    }
    add({ name: 'shadow_read', status: failures.length === 0 ? 'pass' : 'fail', detail: failures.length === 0 ? `overlap min ${overlapMin} ≥ ${env.GATEC_PARTITION_READ_SHADOW_MIN_OVERLAP} on ${readTables.length} table(s)` : failures.join('; '), figures: { overlap_min: overlapMin } }, await evidence('04_shadow_read.json', results));
  }

  // 5. Dual write (when the knob asks for it): every table is synced in its current direction.
  if (env.GATEC_PARTITION_DUAL_WRITE_ENABLED !== undefined) {
    const off: string[] = [];
    for (const t of o.config.tables) {
      const direction = (await isCutOver(conn.db, t)) ? 'reverse' : 'forward';
      // Installed is not enough: a capture trigger someone disabled lets writes by unlogged.
      const disabled = await disabledCaptureTriggers(conn.db, t.schema, t.name, direction);
      if (direction === 'forward' && !(await isSyncEnabled(conn.db, t.schema, t.name, 'forward'))) off.push(`${t.schema}.${t.name}`);
      else if (disabled.length > 0) off.push(`${t.schema}.${t.name} (${disabled.join(', ')} disabled)`);
    }
    const want = env.GATEC_PARTITION_DUAL_WRITE_ENABLED;
    const ok = want ? off.length === 0 : true;
    add({ name: 'dual_write', status: ok ? 'pass' : 'fail', detail: want ? (ok ? 'sync is on for every table' : `sync is off on ${off.join(', ')}`) : 'not required (GATEC_PARTITION_DUAL_WRITE_ENABLED=false)', objects: off }, await evidence('05_dual_write.json', { required: want, off }));
  }

  // 6. Reset policy: the perf scope was reset by a partition-first purge, with no DELETE.
  const resets = bench?.scales.map((s) => s.reset).filter((r): r is NonNullable<typeof r> => r !== null) ?? [];
  const deleteTotal = resets.reduce((n, r) => n + r.purge_delete_strategy_tables_total, 0);
  const resetErrors = resets.filter((r) => r.error !== null).map((r) => r.error!);
  const enforce = env.GATEC_ENFORCE_PARTITION_FIRST_RESET;
  const resetOk = resets.length > 0 && (!enforce || (env.GATEC_RESET_IMPL === 'scope_purge' && resetErrors.length === 0 && deleteTotal === 0)) && !(env.GATEC_RESET_PURGE_FAIL_ON_DELETE && deleteTotal > 0);
  add({
    name: 'reset_policy', status: resetOk ? 'pass' : 'fail',
    detail:
      resets.length === 0
        ? 'no reset ran (the perf matrix failed)'
        : `${env.GATEC_RESET_IMPL}, mode ${env.GATEC_RESET_PURGE_MODE}: ${resetErrors.length > 0 ? `the reset was refused: ${resetErrors.join('; ')}` : `${deleteTotal} table(s) needed a DELETE`}${enforce ? ' (partition-first enforced)' : ''}`,
    figures: { purge_delete_strategy_tables_total: deleteTotal },
    ...(resetOk ? {} : { fix: 'isolate the perf scope in every table (partgov isolate), or give range tables a list sub-partition for it' }),
  }, await evidence('06_reset_policy.json', { reset_policy_ok: resetOk, enforce, impl: env.GATEC_RESET_IMPL, mode: env.GATEC_RESET_PURGE_MODE, fail_on_delete: env.GATEC_RESET_PURGE_FAIL_ON_DELETE, purge_delete_strategy_tables_total: deleteTotal, resets }));

  // 7. SLOs at the required scale (partitioned layout).
  const requiredScale = env.GATEC_REQUIRE_SCALE ?? Math.max(...env.GATEC_SCALES);
  const atScale = bench?.scales.find((s) => s.scale === requiredScale);
  const figure = (w: 'recall' | 'write') => atScale?.results.find((x) => x.layout === 'partitioned' && x.workload === w)?.figures ?? null;
  const recall = figure('recall');
  const write = figure('write');
  const errorRate = atScale ? Math.max(0, ...atScale.results.filter((x) => x.layout === 'partitioned').map((x) => x.figures.error_rate)) : null;
  const requiredOk = atScale !== undefined && atScale.results.length > 0;
  const sloChecks: Check[] = [
    { name: 'perf_required_scale', status: requiredOk ? 'pass' : 'fail', detail: requiredOk ? `evidence at ${requiredScale} rows` : `no evidence at the required scale ${requiredScale} (scales run: ${bench?.scales.map((s) => s.scale).join(', ') || 'none'})`, fix: `add ${requiredScale} to GATEC_SCALES` },
    env.GATEC_REQUIRE_RECALL_CASE
      ? { name: 'perf_recall_p95', status: recall && recall.p95_ms <= env.GATEC_SLO_RECALL_P95_MS ? 'pass' : 'fail', detail: recall ? `recall p95 ${recall.p95_ms} ms (SLO ${env.GATEC_SLO_RECALL_P95_MS} ms)` : 'no recall case at the required scale' }
      : { name: 'perf_recall_p95', status: 'skip', detail: 'GATEC_REQUIRE_RECALL_CASE=false' },
    env.GATEC_REQUIRE_WRITE_CASE
      ? { name: 'perf_write_p95', status: write && write.p95_ms <= env.GATEC_SLO_WRITE_P95_MS ? 'pass' : 'fail', detail: write ? `write p95 ${write.p95_ms} ms (SLO ${env.GATEC_SLO_WRITE_P95_MS} ms)` : 'no write case at the required scale' }
      : { name: 'perf_write_p95', status: 'skip', detail: 'GATEC_REQUIRE_WRITE_CASE=false' },
    { name: 'perf_error_rate', status: errorRate !== null && errorRate <= env.GATEC_SLO_MAX_ERROR_RATE ? 'pass' : 'fail', detail: errorRate === null ? 'no evidence' : `error rate ${errorRate} (max ${env.GATEC_SLO_MAX_ERROR_RATE})` },
  ];
  const sloFile = await evidence('07_perf_slo.json', { required_scale: requiredScale, required_scale_ok: requiredOk, recall, write, error_rate: errorRate, slo: { recall_p95_ms: env.GATEC_SLO_RECALL_P95_MS, write_p95_ms: env.GATEC_SLO_WRITE_P95_MS, max_error_rate: env.GATEC_SLO_MAX_ERROR_RATE }, checks: sloChecks });
  for (const c of sloChecks) add(c, sloFile);

  const v = verdict(checks, { strict: false });
  const blocking = o.failOnFail === true || env.GATEC_FAIL_ON_FAIL;
  const summary: GateSummary = {
    run_id: runId, ok: v.ok, mode: blocking ? 'blocking' : 'snapshot', started_at: startedAt.toISOString(), finished_at: new Date().toISOString(),
    checks: checks.map((c) => ({ name: c.name, status: c.status, detail: c.detail, evidence: c.evidence })),
    required_scale: requiredScale, required_scale_ok: requiredOk,
    recall_p95_ms: recall?.p95_ms ?? null, write_p95_ms: write?.p95_ms ?? null, error_rate: errorRate,
    reset_policy_ok: resetOk, purge_delete_strategy_tables_total: deleteTotal, partition_read_shadow_overlap_min: overlapMin,
    knobs: env,
  };
  await writeFile(path.join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const charts = await reportCharts(conn, o.config, bench, verifyRows, verifyMs);
  await writeFile(path.join(dir, 'report.html'), renderReportHtml({ runId, ok: v.ok, createdAt: summary.finished_at, checks, summary: summary as unknown as Record<string, unknown>, charts }));
  await writeManifest(dir, runId);
  await conn.db.insertInto('partgov.gate_run').values({ run_id: runId, started_at: startedAt, finished_at: new Date(summary.finished_at), ok: v.ok, summary: JSON.stringify(summary) }).execute();
  if (o.metricsFile) await writeFileAtomically(o.metricsFile, await figuresMetrics({ gate: summary, bench }));
  return { ok: v.ok, checks, blocking, bundle_dir: dir, summary_file: path.join(dir, 'summary.json'), summary };
}

/** The report's charts: latency per scale, the latency distribution, partition sizes, purge vs DELETE, throughput. */
async function reportCharts(conn: PartgovDatabase, config: PartgovConfig, bench: BenchResult | null, verifyRows: number, verifyMs: number): Promise<ReportChart[]> {
  const charts: ReportChart[] = [];
  const scales = bench?.scales ?? [];
  charts.push({ id: 'latency_p95', title: 'p95 latency per scale and workload', unit: 'ms', groups: scales.flatMap((s) => (['recall', 'write'] as const).map((w) => ({ label: `${s.scale} ${w}`, bars: s.results.filter((x) => x.workload === w).map((x) => ({ series: x.layout, value: x.figures.p95_ms })) }))) });
  const last = scales.at(-1);
  for (const w of ['recall', 'write'] as const) {
    const byLayout = last?.results.filter((x) => x.workload === w) ?? [];
    const buckets = byLayout[0]?.figures.histogram.map((b, i) => ({ label: Number.isFinite(b.le_ms) ? `≤${b.le_ms}` : `>${byLayout[0]!.figures.histogram[i - 1]?.le_ms}`, i })) ?? [];
    const used = buckets.filter(({ i }) => byLayout.some((x) => x.figures.histogram[i]!.count > 0));
    charts.push({ id: `latency_distribution_${w}`, title: `${w} latency distribution at ${last?.scale ?? '-'} rows`, unit: 'operations', groups: used.map(({ label, i }) => ({ label, bars: byLayout.map((x) => ({ series: x.layout, value: x.figures.histogram[i]!.count })) })) });
  }
  const sizes: ReportChart['groups'] = [];
  for (const t of config.tables) {
    const root = await partitionedTableOf(conn.db, t);
    if (!root) continue;
    const leaves = (await readPartitionTree(conn.db, root)).filter((p) => p.isLeaf).sort((a, b) => b.totalBytes - a.totalBytes);
    sizes.push(...leaves.slice(0, 12).map((l) => ({ label: l.name.slice(-14), bars: [{ series: t.name, value: Math.round(l.totalBytes / 1024) }] })));
  }
  charts.push({ id: 'partition_sizes', title: 'largest partitions per table (skew at a glance)', unit: 'KiB', groups: sizes });
  charts.push({ id: 'purge_time', title: 'reset of the perf scope: partition purge vs DELETE', unit: 'ms', groups: scales.map((s) => ({ label: String(s.scale), bars: [{ series: 'partition purge', value: s.reset?.partition_ms ?? 0 }, { series: 'DELETE', value: s.reset?.delete_ms ?? 0 }] })) });
  const backfills = await sql<{ table_name: string; rps: string | null }>`select table_name, (rows_copied / greatest(extract(epoch from updated_at - started_at), 0.001))::int8::text as rps from partgov.backfill_checkpoint order by 1`.execute(conn.db);
  charts.push({ id: 'throughput', title: 'backfill and verify throughput', unit: 'rows/s', groups: [
    ...backfills.rows.map((r) => ({ label: `backfill ${r.table_name.split('.').at(-1)}`, bars: [{ series: 'rows/s', value: Number(r.rps ?? 0) }] })),
    ...(verifyMs > 0 ? [{ label: 'verify (both sides)', bars: [{ series: 'rows/s', value: Math.round(verifyRows / (verifyMs / 1000)) }] }] : []),
  ] });
  return charts;
}

