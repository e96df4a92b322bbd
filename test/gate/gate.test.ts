import { appendFile, mkdtemp, mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import chromium from '@sparticuz/chromium';
import { sql } from 'kysely';
import { chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runSync } from '../../src/sync/run-sync.js';
import { repoRoot, runCli, type CliRun } from '../helpers/cli.js';
import { createMemoryExample } from '../helpers/example-schema.js';
import { prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
let dir: string;
let configFile: string;
const settings = resolveSettings({ lockTimeout: '3000' }, {}, undefined);
/** Small, fast knobs: the gate's logic, not the machine's speed, is under test. */
const knobs = { GATEC_SCALES: '2000', GATEC_BENCH_OPS: '15', GATEC_BENCH_CONCURRENCY: '2', GATEC_PARTITION_READ_SHADOW_LIMIT: '10' };

beforeAll(async () => {
  t = await createTestDatabase('gate');
  config = await createMemoryExample(t.db);
  await sql`select memory_seed(3000)`.execute(t.db);
  await prepareShadows(t, config);
  for (const table of config.tables) {
    await runSync(stageFor(t, config, { settings }), { table: table.name, action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 2000 });
  }
  await sql`analyze`.execute(t.db);
  dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-gate-'));
  configFile = path.join(dir, 'partgov.config.json');
  await writeFile(configFile, JSON.stringify({ ...JSON.parse(await readFile(path.join(repoRoot, 'examples/memory/partgov.config.json'), 'utf8')), evidence_dir: path.join(dir, 'evidence') }));
});
afterAll(async () => t.drop());

interface Summary {
  run_id: string;
  ok: boolean;
  checks: { name: string; status: string; detail: string; evidence: string | null }[];
  required_scale_ok: boolean;
  reset_policy_ok: boolean;
  purge_delete_strategy_tables_total: number;
  bundle_dir: string;
}

function gate(env: Record<string, string>, args: string[] = [], file = configFile): Promise<CliRun> {
  return runCli(['--config', file, '--database-url', t.url, '--json', 'gate', ...args], { env: { ...knobs, ...env } });
}
const statusOf = (s: Summary, name: string) => s.checks.find((c) => c.name === name)?.status;

describe('gate', () => {
  let healthy: Summary;

  it('passes on a healthy database and writes a complete bundle that --check-evidence accepts; report.html renders its charts in Chromium', async () => {
    const metrics = path.join(dir, 'gate.prom');
    const run = await gate({}, ['--metrics-file', metrics]);
    expect(run.code, run.stderr).toBe(0);
    healthy = run.json<Summary>();
    expect(healthy.ok, JSON.stringify(healthy.checks)).toBe(true);
    expect(healthy).toMatchObject({ required_scale_ok: true, reset_policy_ok: true, purge_delete_strategy_tables_total: 0 });
    for (const name of ['health_gate', 'perf_matrix', 'verify', 'shadow_read', 'reset_policy', 'perf_required_scale', 'perf_recall_p95', 'perf_write_p95', 'perf_error_rate']) {
      expect({ name, status: statusOf(healthy, name) }).toEqual({ name, status: 'pass' });
    }
    const manifest = JSON.parse(await readFile(path.join(healthy.bundle_dir, 'MANIFEST.json'), 'utf8')) as { files: { file: string }[] };
    expect(manifest.files.map((f) => f.file)).toEqual(expect.arrayContaining([
      'summary.json', '01_health_gate.json', '02_perf_matrix.log', '03_verify.json', '04_shadow_read.json', '06_reset_policy.json', '07_perf_slo.json',
      'perf/PERFORMANCE_REPORT.md', 'perf/benchmark_adapt_2000.json', 'report.html',
    ]));
    // bench's copies of the application's rows do not outlive the run.
    const copies = await sql<{ n: number }>`select count(*)::int as n from pg_tables where schemaname = 'partgov_bench'`.execute(t.db);
    expect(copies.rows[0]!.n).toBe(0);
    const rows = await sql<{ ok: boolean }>`select ok from partgov.gate_run where run_id = ${healthy.run_id}`.execute(t.db);
    expect(rows.rows).toEqual([{ ok: true }]);
    expect(await readFile(metrics, 'utf8')).toMatch(/^partgov_gate_ok 1$/m);
    const check = await runCli(['gate', '--check-evidence', healthy.bundle_dir]);
    expect(check.code, check.stdout + check.stderr).toBe(0);

    const browser = await playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const consoleErrors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      page.on('pageerror', (e) => consoleErrors.push(e.message));
      await page.goto(`file://${path.join(healthy.bundle_dir, 'report.html')}`);
      const charts = page.locator('svg.chart');
      const ids = await charts.evaluateAll((els) => els.map((e) => e.getAttribute('data-chart')));
      expect(ids).toEqual(['latency_p95', 'latency_distribution_recall', 'latency_distribution_write', 'partition_sizes', 'purge_time', 'throughput']);
      for (const id of ids) {
        const bars = page.locator(`svg.chart[data-chart="${id}"] rect.bar`);
        expect({ id, bars: await bars.count() }).toMatchObject({ id });
        expect(await bars.count(), `chart ${id} has no bars`).toBeGreaterThan(0);
        const box = await bars.first().boundingBox();
        expect(box!.width * box!.height, `chart ${id}: first bar has no area`).toBeGreaterThan(0);
      }
      await mkdir(path.join(repoRoot, '.tmp', 'artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(repoRoot, '.tmp', 'artifacts', 'gate-report.png'), fullPage: true });
      expect(consoleErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('--check-evidence catches a changed byte, a deleted file and an added file', async () => {
    const copy = async (name: string) => {
      const to = path.join(dir, name);
      await rm(to, { recursive: true, force: true });
      await (await import('node:fs/promises')).cp(healthy.bundle_dir, to, { recursive: true });
      return to;
    };
    const altered = await copy('altered');
    const bytes = await readFile(path.join(altered, '03_verify.json'));
    bytes[10] = bytes[10]! ^ 1;
    await writeFile(path.join(altered, '03_verify.json'), bytes);
    const deleted = await copy('deleted');
    await unlink(path.join(deleted, 'perf', 'PERFORMANCE_REPORT.md'));
    const added = await copy('added');
    await appendFile(path.join(added, 'perf', 'extra.txt'), 'x');
    for (const [bundle, word, file] of [[altered, 'altered', '03_verify.json'], [deleted, 'missing', 'perf/PERFORMANCE_REPORT.md'], [added, 'extra', 'perf/extra.txt']] as const) {
      const r = await runCli(['gate', '--check-evidence', bundle]);
      expect({ word, code: r.code }).toEqual({ word, code: 1 });
      expect(r.stdout).toContain(`${word}: ${file}`);
    }
  });

  it('fails, naming the check: a tiny SLO (blocking exits 1, snapshot exits 0 with ok false) and a required scale without evidence', async () => {
    const snapshot = await gate({ GATEC_SLO_RECALL_P95_MS: '0.0001' });
    expect(snapshot.code).toBe(0);
    const s = snapshot.json<Summary>();
    expect(s.ok).toBe(false);
    expect(statusOf(s, 'perf_recall_p95')).toBe('fail');
    const blocking = await gate({ GATEC_SLO_WRITE_P95_MS: '0.0001', GATEC_FAIL_ON_FAIL: 'true' });
    expect(blocking.code).toBe(1);
    expect(statusOf(blocking.json<Summary>(), 'perf_write_p95')).toBe('fail');
    const scale = await gate({ GATEC_REQUIRE_SCALE: '5000' }, ['--fail-on-fail']);
    expect(scale.code).toBe(1);
    expect(scale.json<Summary>()).toMatchObject({ required_scale_ok: false });
    expect(statusOf(scale.json<Summary>(), 'perf_required_scale')).toBe('fail');
  });

  it('fails when the reset needs a DELETE while partition-first reset is enforced', async () => {
    const hashed = JSON.parse(await readFile(configFile, 'utf8')) as { tables: { name: string; layout: unknown }[] };
    hashed.tables.find((x) => x.name === 'memory_nodes')!.layout = { type: 'hash', key: 'scope_key', partitions: 8 };
    const file = path.join(dir, 'hashed.config.json');
    await writeFile(file, JSON.stringify(hashed));
    const r = await gate({ GATEC_RESET_PURGE_MODE: 'auto', GATEC_PARTITION_READ_SHADOW_CHECK: 'false' }, [], file);
    const s = r.json<Summary>();
    expect(statusOf(s, 'reset_policy')).toBe('fail');
    expect(s).toMatchObject({ ok: false, reset_policy_ok: false });
    expect(s.purge_delete_strategy_tables_total).toBeGreaterThan(0);
    // In partition mode the reset is refused, and the check says so (not "0 table(s) needed a DELETE").
    const refused = (await gate({ GATEC_RESET_PURGE_MODE: 'partition', GATEC_PARTITION_READ_SHADOW_CHECK: 'false' }, [], file)).json<Summary>();
    expect(statusOf(refused, 'reset_policy')).toBe('fail');
    expect(refused.checks.find((c) => c.name === 'reset_policy')!.detail).toMatch(/^scope_purge, mode partition: the reset was refused: \[purge-needs-delete\] .*memory_nodes/s);
  });

  it('the perf matrix benches a table whose scopes partgov can tell, passing over one listed first without a tenant column, or the one --bench-table names; with none it fails naming the fix', async () => {
    const base = JSON.parse(await readFile(configFile, 'utf8')) as { tables: { name: string; tenant_column?: string; read_queries?: unknown[] }[] };
    // memory_outbox first, without its tenant column, and no table with read queries: bench used to take the first table.
    const outbox = { ...base.tables.find((x) => x.name === 'memory_outbox')!, tenant_column: undefined };
    const rest = base.tables.filter((x) => x.name !== 'memory_outbox').map((x) => ({ ...x, read_queries: [] }));
    const file = path.join(dir, 'unscoped-first.config.json');
    await writeFile(file, JSON.stringify({ ...base, tables: [outbox, ...rest] }));
    const r = await gate({ GATEC_PARTITION_READ_SHADOW_CHECK: 'false' }, [], file);
    const s = r.json<Summary>();
    expect(s.checks.find((c) => c.name === 'perf_matrix')).toMatchObject({ status: 'pass' });
    const perfLog = await readFile(path.join(s.bundle_dir, '02_perf_matrix.log'), 'utf8');
    expect(perfLog).toMatch(/into partgov_bench\.memory_nodes/);
    expect(perfLog).not.toContain('memory_outbox');
    // --bench-table picks another; one not in the config is bad input: exit 2, no bundle.
    const picked = (await gate({ GATEC_PARTITION_READ_SHADOW_CHECK: 'false' }, ['--bench-table', 'memory_edges'], file)).json<Summary>();
    expect(await readFile(path.join(picked.bundle_dir, '02_perf_matrix.log'), 'utf8')).toMatch(/into partgov_bench\.memory_edges/);
    const bundles = async () => (await readdir(path.join(dir, 'evidence', 'gate'))).length;
    const before = await bundles();
    const unknown = await gate({}, ['--bench-table', 'nope'], file);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/table "nope" is not in the config/);
    expect(await bundles()).toBe(before);

    const none = path.join(dir, 'unscoped.config.json');
    await writeFile(none, JSON.stringify({ ...base, tables: base.tables.map((x) => ({ ...x, tenant_column: undefined })) }));
    const refused = (await gate({ GATEC_PARTITION_READ_SHADOW_CHECK: 'false' }, [], none)).json<Summary>();
    expect(refused.checks.find((c) => c.name === 'perf_matrix')!.detail).toMatch(/^bench failed: bench seeds a perf tenant\/scope into a copy of one configured table, and partgov cannot tell a scope's rows in any of them/);
  });

  it('fails verify on a differing row and shadow-read on a changed order, naming each', async () => {
    // Shift created_at in the shadow: the top rows by created_at differ, and the rows differ.
    await sql`update memory_nodes_shadow set created_at = created_at - (id % 7) * interval '1 day'`.execute(t.db);
    try {
      const r = await gate({ GATEC_PARTITION_READ_SHADOW_LIMIT: '2' });
      const s = r.json<Summary>();
      expect(s.ok).toBe(false);
      expect(statusOf(s, 'verify')).toBe('fail');
      expect(statusOf(s, 'shadow_read')).toBe('fail');
    } finally {
      await sql`update memory_nodes_shadow set created_at = created_at + (id % 7) * interval '1 day'`.execute(t.db);
    }
  });

  it('dual_write fails on a table whose capture trigger someone disabled (installed is not on)', async () => {
    const on = (await gate({ GATEC_PARTITION_DUAL_WRITE_ENABLED: 'true' })).json<Summary>();
    expect(statusOf(on, 'dual_write')).toBe('pass');
    await sql`alter table memory_edges disable trigger partgov_capture_update`.execute(t.db);
    try {
      const off = (await gate({ GATEC_PARTITION_DUAL_WRITE_ENABLED: 'true' })).json<Summary>();
      expect(off.checks.find((c) => c.name === 'dual_write')).toMatchObject({ status: 'fail', detail: 'sync is off on public.memory_edges (partgov_capture_update disabled)' });
    } finally {
      await sql`alter table memory_edges enable always trigger partgov_capture_update`.execute(t.db);
    }
  });

  it('a bad knob exits 2 naming it, and writes no bundle', async () => {
    const r = await gate({ GATEC_SCALES: '1e5' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GATEC_SCALES');
    const typo = await gate({ GATEC_SLO_RECAL_P95_MS: '5' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('GATEC_SLO_RECAL_P95_MS');
  });
});
