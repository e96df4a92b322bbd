import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/open-database.js';
import { repoRoot, runCli } from '../helpers/cli.js';
import type { VerifyBenchmarkResult } from '../../src/benchmarks/verify-benchmark.js';
import type { LayoutFigures, WriteLatencyFigures } from '../../src/benchmarks/sync-benchmark.js';
import type { BackfillBenchmarkResult } from '../../src/benchmarks/backfill-benchmark.js';
import type { PurgeBenchmarkResult } from '../../src/benchmarks/purge-benchmark.js';

/**
 * The benchmark scripts' `--quick` runs, on the suite's server (BENCH_DATABASE_URL: each
 * makes and drops a scratch database there). A smoke run, not a measurement: it proves the
 * scripts run end to end and report every figure, so a broken benchmark fails CI.
 */
async function runBench(script: string, env: Record<string, string> = {}) {
  const run = await runCli(['--quick'], { script: path.join(repoRoot, 'bench', script), env: { BENCH_DATABASE_URL: inject('adminUrl'), ...env } });
  // The report's JSON lines, in order (the human-readable lines are around them).
  return { ...run, json: <T>() => run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T) };
}

/** Runs a query on the suite's server (its maintenance database). */
async function onServer<T>(query: (db: ReturnType<typeof openDatabase>['db']) => Promise<T>): Promise<T> {
  const admin = openDatabase({ url: inject('adminUrl'), maxConnections: 1 });
  try {
    return await query(admin.db);
  } finally {
    await admin.close();
  }
}

describe('benchmark scripts, --quick', () => {
  it('bench:verify measures equal, 1 and 3 differences against the ceiling and names the keys', async () => {
    const r = await runBench('verify.js');
    expect(r.code, r.stderr).toBe(0);
    const [v] = r.json<VerifyBenchmarkResult>();
    expect(v!.rows).toBe(5000);
    expect(v!.cases.map((c) => [c.differences, c.keys_named])).toEqual([[0, 0], [1, 1], [3, 3]]);
    for (const c of v!.cases) {
      // 5,000 rows: the ceiling may round to 0.00 s, but it was timed, so the ratio is a number.
      expect(c.ceiling_s).toBeGreaterThanOrEqual(0);
      expect(c.verify_vs_ceiling).toBeGreaterThan(0);
      expect(c.verify_vs_ceiling_runs).toHaveLength(1);
    }
    expect(v!.peak_rss_mb).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/3 difference\(s\): ceiling .* s, verify .* s = .*x/);
    // The scratch database is gone again.
    const left = await onServer((db) => sql<{ n: number }>`select count(*)::int as n from pg_database where datname like 'partgov_bench_%'`.execute(db));
    expect(left.rows[0]!.n).toBe(0);
  });

  it('bench:sync copies on every layout online and offline with WAL figures, and measures writes with sync on and off without an error', async () => {
    const r = await runBench('sync.js');
    expect(r.code, r.stderr).toBe(0);
    const [copy, writes] = r.json<{ layouts: LayoutFigures[] } & WriteLatencyFigures>();
    expect(copy!.layouts.map((l) => l.layout)).toEqual(['hash x32', 'isolatable (2 isolated + hash x16 default)', 'range by month, timestamps in id order', 'range by month, timestamps in random order']);
    for (const l of copy!.layouts) {
      expect(l.online_vs_ceiling).toBeGreaterThan(0);
      expect(l.offline_vs_ceiling).toBeGreaterThan(0);
      expect(l.online_keep_vs_ceiling).toBeGreaterThan(0);
      expect(l.online_vs_bulk).toBeGreaterThan(0);
      expect(l.online_wal_mb).toBeGreaterThanOrEqual(0);
      expect(l.online_wal_vs_ceiling).toBeGreaterThan(0);
      expect(l.bulk_writers).toBeNull(); // 1 job: no several-writer load to compare with
    }
    // pg_partman joins the range layouts where the server has it; elsewhere it is skipped, saying so.
    const partman = await onServer((db) => sql<{ n: number }>`select count(*)::int as n from pg_available_extensions where name = 'pg_partman'`.execute(db));
    if (partman.rows[0]!.n > 0) {
      expect(copy!.layouts.map((l) => l.pg_partman !== null)).toEqual([false, false, true, true]);
    } else {
      expect(copy!.layouts.every((l) => l.pg_partman === null)).toBe(true);
      expect(r.stderr).toContain('pg_partman is not installed');
    }
    expect(writes!.off.errors).toBe(0);
    expect(writes!.on.errors).toBe(0);
    expect(writes!.p95_on_vs_off).toBeGreaterThan(0);
  });

  it('bench:sync with BENCH_JOBS=2 also times the by-hand load with two writers, which copies every row once', async () => {
    const r = await runBench('sync.js', { BENCH_JOBS: '2', BENCH_PART: 'copy', BENCH_LAYOUTS: 'id order' });
    expect(r.code, r.stderr).toBe(0);
    const [copy] = r.json<{ layouts: LayoutFigures[] }>();
    expect(copy!.layouts).toHaveLength(1);
    expect(copy!.layouts[0]!.bulk_writers).toMatchObject({ writers: 2 });
    expect(copy!.layouts[0]!.bulk_writers!.online_vs).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/with 2 writers .* s: online = .*x/);
  });

  it('bench:backfill reports every variant against its ceiling', async () => {
    const r = await runBench('backfill.js');
    expect(r.code, r.stderr).toBe(0);
    const [b] = r.json<BackfillBenchmarkResult>();
    expect(b!.variants.length).toBeGreaterThanOrEqual(3);
    for (const v of b!.variants) expect(v.vs_ceiling, v.name).toBeGreaterThan(0);
    expect(b!.peak_rss_mb_large).toBeGreaterThan(0);
  });

  it('bench:purge measures partition mode against DELETE + VACUUM, and isolate of a new uuid scope by copy (no scan under the lock) and by scan', async () => {
    const r = await runBench('purge.js');
    expect(r.code, r.stderr).toBe(0);
    const [p] = r.json<PurgeBenchmarkResult>();
    expect(p!.by_scope_size.map((s) => s.scope_rows)).toEqual([1000]);
    expect(Number.isFinite(p!.saved.swap_lock)).toBe(true);
    expect(p!.bare_truncate_ms).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/floor: a bare TRUNCATE of the scope's partition, no partgov, [\d.]+ ms/);
    expect(p!.isolate.map((x) => x.table_rows)).toEqual([20000]);
    expect(p!.isolate_uuid).toMatchObject({ table_rows: 20000 });
    expect(p!.isolate_uuid!.scan.rows_scanned).toBeGreaterThan(0);
    expect(p!.isolate_uuid!.copy.lock_ms_runs).toHaveLength(1);
    expect(r.stdout).toMatch(/keyed by a uuid .* leaf copied online .* ms locked/);
  });
});
