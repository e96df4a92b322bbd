import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { parseConfig } from '../config/load-config.js';
import { startEmbeddedServer } from '../embedded/embedded-server.js';
import { openDatabase } from '../db/open-database.js';
import { runMigrate } from '../migrate/run-migrate.js';
import { runPreflight } from '../preflight/run-preflight.js';
import { runPlan } from '../plan/run-plan.js';
import { runSync } from '../sync/run-sync.js';
import { runBackfill } from '../backfill/run-backfill.js';
import { startExampleWriter } from './example-writer.js';
import { runVerify } from '../verify/run-verify.js';
import { runShadowRead } from '../shadow-read/run-shadow-read.js';
import { packagePath } from '../package-root.js';
import { runCutover, runRollback, type SwapResult } from '../cutover/run-cutover.js';
import { runStatus } from '../status/run-status.js';
import { runIsolate } from '../maintain/isolate-scope.js';
import { runMaintain } from '../maintain/run-maintain.js';
import { runPurge } from '../purge/run-purge.js';
import { runRestore } from '../purge/run-restore.js';
import { runGate } from '../gate/run-gate.js';
import { parseGateEnv } from '../config/gate-env.js';
import { stageContext } from '../stage/stage-context.js';
import { z } from 'zod';
import { flagInput, numberInput, optionalNumberInput, textInput } from '../stage/stage-input.js';

export interface DemoStep {
  step: string;
  ok: boolean;
  duration_ms: number;
  detail: string;
}

export interface DemoResult {
  ok: boolean;
  /** The gate's summary.json. */
  evidence: string | null;
  server_version: string;
  steps: DemoStep[];
  summary: string;
}

/** demo's flags: defaults and limits once, for the library and the CLI. */
export const demoInputSchema = z.object({
  nodes: numberInput({ min: 1, max: 100_000_000, integer: true, default: 100_000, describe: 'memory_nodes rows to generate' }),
  rows: optionalNumberInput({ min: 1, max: 100_000_000, integer: true, describe: 'the same as --nodes' }),
  out: textInput("where the gate's evidence bundle goes").default('artifacts/partgov/gate'),
  keep: flagInput('leave the server running afterwards (Ctrl-C stops it); its URL is printed with the password redacted and written whole to a 0600 file'),
});

export interface DemoOptions {
  nodes: number;
  /** Where the gate's evidence bundle goes (it stays after the demo). */
  evidenceDir: string;
  /** Called with the database URL (password included) once the demo is done; the server stops when it resolves. */
  onKeep?: (url: string, result: DemoResult) => Promise<void>;
  settings: RuntimeSettings;
  log: (line: string) => void;
}

/** Loads the example memory schema and its generator into a database. */
export async function loadMemoryExample(url: string, nodes: number): Promise<Record<string, number>> {
  const conn = openDatabase({ url, applicationName: 'partgov example seed' });
  try {
    // sql.raw: package-owned example files, not user input.
    await sql.raw(await readFile(packagePath('examples', 'memory', 'legacy.sql'), 'utf8')).execute(conn.db);
    await sql.raw(await readFile(packagePath('examples', 'memory', 'seed.sql'), 'utf8')).execute(conn.db);
    const r = await sql<Record<string, string>>`select * from memory_seed(${nodes})`.execute(conn.db);
    await sql`analyze`.execute(conn.db);
    return Object.fromEntries(Object.entries(r.rows[0]!).map(([k, v]) => [k, Number(v)]));
  } finally {
    await conn.close();
  }
}

/**
 * `partgov demo`: starts an embedded PostgreSQL, loads the example memory
 * schema with generated data, and runs the pipeline stages on it, printing
 * what each did with figures it measured. Refused in prod (rule
 * prod-no-embedded-database) before it gets here.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const steps: DemoStep[] = [];
  let evidence: string | null = null;
  const timed = async <T>(step: string, fn: () => Promise<T>, detail: (r: T) => string): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    const s = { step, ok: true, duration_ms: Math.round(performance.now() - t0), detail: detail(r) };
    steps.push(s);
    o.log(`demo: ${step}: ${s.detail} (${s.duration_ms} ms)`);
    return r;
  };
  const server = await timed('start embedded PostgreSQL', () => startEmbeddedServer({ fast: true }), (s) => `PostgreSQL ${s.major} on 127.0.0.1:${s.port}`);
  try {
    const { url, version } = await server.createDatabase('partgov_demo');
    await timed('load example schema and data', () => loadMemoryExample(url, o.nodes), (c) =>
      Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', '));

    const settings = { ...o.settings, databaseUrl: url };
    const config = parseConfig(JSON.parse(await readFile(packagePath('examples', 'memory', 'partgov.config.json'), 'utf8')));
    const conn = openDatabase({ url, applicationName: 'partgov demo', maxConnections: 12 });
    const ctx = stageContext(conn, { settings, config });
    try {
      await timed('migrate up (partgov state schema)', () =>
        runMigrate(ctx, { action: 'up' }),
        (r) => `${r.applied.length} migration(s) applied`);
      const pre = await timed('preflight', () => runPreflight(ctx), (r) =>
        `${r.checks.length} checks, ${r.failed} failed, ${r.warned} warnings`);
      if (!pre.ok) steps.at(-1)!.ok = false;
      const planDir = await mkdtemp(path.join(os.tmpdir(), 'partgov-demo-plan-'));
      try {
        await timed('plan (shadow DDL as migrations)', () => runPlan(ctx, { out: planDir }), (r) =>
          r.tables.map((t) => `${t.legacy_name}: ${t.layout} ${t.leaf_count} leaves`).join(', '));
        await timed('migrate up (apply the plan)', () =>
          runMigrate(ctx, { action: 'up', planFolder: planDir }),
          (r) => `${r.applied.length} plan migration(s) applied`);
      } finally {
        await rm(planDir, { recursive: true, force: true });
      }
      await timed('sync enable (change-log capture)', async () => {
        for (const table of config.tables) await runSync(ctx, { table: table.name, action: 'enable' });
      }, () => `${config.tables.length} tables log their changes for the shadow`);
      const writer = startExampleWriter(url);
      for (const table of config.tables) {
        // memory_edges shows --jobs 2: two batches in flight, still committed in key order.
        const jobs = table.name === 'memory_edges' ? 2 : 1;
        const label = `backfill ${table.name}${table.name === 'memory_nodes' ? ' (while the app writes)' : ''}${jobs > 1 ? ` (--jobs ${jobs})` : ''}`;
        await timed(label, () => runBackfill(ctx, { table: table.name, batchSize: 10_000, jobs }), (r) =>
          `${r.rows_copied} rows in ${r.batches} batches, ${r.rows_per_sec} rows/s, ${r.retries} retries`);
      }
      const verified = await timed('verify (row equality + partition health, while the app writes)', () => runVerify(ctx), (r) =>
        r.tables.map((t) => `${t.table.replace('public.', '')} ${t.equality.rows_legacy} rows ${t.equality.differing_rows} differing`).join(', ') +
        `; ${r.failed_checks} failed, ${r.warned_checks} warnings (${r.tables.flatMap((t) => t.checks.filter((c) => c.status === 'warn').map((c) => c.name)).join(', ') || 'none'})`);
      if (!verified.ok) steps.at(-1)!.ok = false;
      const nodes = config.tables.find((t) => t.name === 'memory_nodes')!;
      // Reads compare the two tables at one moment: the shadow lags by what the log holds, so the
      // writer holds still for them (a hot scope's newest rows would differ for a few milliseconds).
      await writer.pause();
      const read = await timed('shadow-read memory_nodes (writer paused)', () => runShadowRead(ctx, { table: nodes.name, samples: 20 }), (r) =>
        r.queries.map((q) => `${q.name}: overlap min ${q.overlap_min}, p95 legacy ${q.legacy_p95_ms} ms / shadow ${q.shadow_p95_ms} ms, ${q.leaves_touched_max} leaf touched`).join('; '));
      if (!read.ok) steps.at(-1)!.ok = false;
      writer.resume();
      const swapDetail = (r: SwapResult) => `exclusive locks held ${r.lock_held_ms} ms, ${r.replayed_in_lock} log entries replayed inside the lock, ${r.objects.length} dependent object(s) carried`;
      const swapInput = { table: 'memory_nodes', confirm: 'memory_nodes' };
      await timed('cutover memory_nodes (while the app writes)', () => runCutover(ctx, swapInput), swapDetail);
      await timed('rollback memory_nodes (rehearsal, while the app writes)', () => runRollback(ctx, swapInput), swapDetail);
      await timed('cutover memory_nodes again', () => runCutover(ctx, swapInput), swapDetail);
      for (const table of config.tables.filter((t) => t.name !== 'memory_nodes')) {
        await timed(`cutover ${table.name}`, () => runCutover(ctx, { table: table.name, confirm: table.name }), swapDetail);
      }
      // The writer's own scope has rows in the DEFAULT: isolate moves them out while it keeps writing.
      await timed('isolate tenant_1/scope_1 (a live scope: rows moved online, while the app writes)', () =>
        runIsolate(ctx, { tenantId: 'tenant_1', scope: 'scope_1', confirm: 'tenant_1/scope_1' }), (r) =>
        r.tables.map((t) => `${t.table.replace('public.', '')} ${t.action} ${t.rows_moved} rows, switch ${t.lock_held_ms} ms`).join('; '));
      const writes = await writer.stop();
      const archived = await timed('verify memory_nodes after cutover (the archive stays exact for a rollback)', () => runVerify(ctx, { table: 'memory_nodes' }), (r) =>
        `${r.tables[0]!.equality.rows_legacy} rows in the archive, ${r.tables[0]!.equality.differing_rows} differing, after ${writes.inserts} inserts, ${writes.updates} updates, ${writes.deletes} deletes by the app during copy, verify, cutover, rollback and isolate`);
      if (!archived.ok) steps.at(-1)!.ok = false;
      const archiveRoot = await mkdtemp(path.join(os.tmpdir(), 'partgov-demo-archive-'));
      try {
        const purged = await timed('purge perf/perf --archive (partition mode)', () =>
          runPurge(ctx, { tenantId: 'perf', scope: 'perf', confirm: 'perf/perf', archive: archiveRoot }), (r) =>
          `${r.tables.map((t) => `${t.table.replace('public.', '')} ${t.strategy} ${t.rows} rows, lock ${t.lock_held_ms} ms`).join('; ')}; tables needing a DELETE: ${r.purge_delete_strategy_tables_total}; archive ${r.archive!.rows} rows, ${r.archive!.bytes} bytes`);
        if (purged.purge_delete_strategy_tables_total !== 0) steps.at(-1)!.ok = false;
        await timed('restore perf/perf from the archive', () => runRestore(ctx, { archive: purged.archive!.dir, confirm: 'perf/perf' }), (r) =>
          `${r.rows} rows back, checksums ${r.tables.every((t) => t.checksum_matches) ? 'equal to the archive' : 'DIFFERENT'}`);
      } finally {
        await rm(archiveRoot, { recursive: true, force: true });
      }
      await timed('maintain (premake, DEFAULT rows, retention)', () => runMaintain(ctx), (r) =>
        r.tables.map((t) => `${t.table.replace('public.', '')}: ${t.created.length} created, ${t.default_rows_moved} moved, ${t.detached.length} detached${t.retention_held ? ` (${t.retention_held.replace(/:.*/, '')})` : ''}`).join('; ') || 'nothing to do');
      // The gate at a demo-sized scale (GATEC_SCALES overrides): its bundle outlives the embedded server.
      const env = { GATEC_SCALES: '10000', GATEC_BENCH_OPS: '50', ...process.env };
      const gated = await timed(`gate (perf matrix at ${parseGateEnv(env).GATEC_SCALES.join(', ')} rows)`, () => runGate(ctx, { env, out: o.evidenceDir }), (r) =>
        `${r.ok ? 'PASS' : 'FAIL'}: ${r.summary.checks.filter((c) => c.status !== 'skip').map((c) => `${c.name} ${c.status}`).join(', ')}; recall p95 ${r.summary.recall_p95_ms} ms, write p95 ${r.summary.write_p95_ms} ms; evidence ${r.summary_file}`);
      if (!gated.ok) steps.at(-1)!.ok = false;
      evidence = gated.summary_file;
      await timed('status', () => runStatus(ctx), (r) => r.tables.map((t) => `${t.table.replace('public.', '')} ${t.stage.replace('_', ' ')}`).join(', '));
    } finally {
      await conn.close();
    }
    const ok = steps.every((s) => s.ok);
    const summary = [
      `partgov demo on PostgreSQL ${version} (embedded, ${o.onKeep ? 'kept running' : 'stopped afterwards'})`,
      ...steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.detail} [${s.duration_ms} ms]`),
      ...(evidence ? [`evidence bundle: ${evidence} (check it: partgov gate --check-evidence ${path.dirname(evidence)})`] : []),
      ok ? 'demo finished: every step passed' : 'demo finished with failures',
    ].join('\n');
    const result = { ok, evidence, server_version: version, steps, summary };
    // --keep: the server stays up (for psql, or partgov against it) until the caller lets go.
    if (o.onKeep) await o.onKeep(url, result);
    return result;
  } finally {
    await server.stop();
  }
}
