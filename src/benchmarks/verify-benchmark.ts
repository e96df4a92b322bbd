import { sql } from 'kysely';
import { applyPlan, median, ratio, seconds, withBenchDatabase } from './bench-database.js';
import { runCliJson } from './run-cli-json.js';
import type { VerifyResult } from '../verify/run-verify.js';

export interface VerifyBenchmarkResult {
  server: string;
  rows: number;
  /** sum(hashtextextended(t::text, 0)) over legacy, then over the shadow: the in-database ceiling. */
  ceiling_full_hash_both_s: number;
  verify_s: number;
  /** verify / ceiling, median of the repetitions: goal <= 1.3. */
  verify_vs_ceiling: number;
  verify_vs_ceiling_runs: number[];
  bisect_one_row_s: number;
  bisect_queries: number;
  /** Time to find the one differing row's key, over the ceiling: goal <= 2. */
  bisect_vs_ceiling: number;
  peak_rss_mb: number;
}

interface Envelope extends VerifyResult {
  started_at: string;
  finished_at: string;
}

function verifyCli(url: string, configFile: string): Promise<Envelope> {
  return runCliJson<Envelope>(['--config', configFile, '--database-url', url, 'verify'], [0, 1]);
}

/**
 * `npm run bench:verify`: 1e6 legacy rows against an exact 1e6-row hash shadow.
 * Times the plain full-table hash of both tables (the ceiling), `partgov
 * verify`, and verify again with one changed row (the bisect), in one run.
 */
export async function benchmarkVerify(o: { rows: number; repeat: number; major: 15 | 18; log: (l: string) => void }): Promise<VerifyBenchmarkResult> {
  const tables = [{ name: 'bench_rows', layout: { type: 'hash', key: 'scope_key', partitions: 32 } }];
  return withBenchDatabase(o.major, { tables }, async ({ url, version, db, configFile, stage }) => {
    o.log(`bench: loading ${o.rows} rows twice into PostgreSQL ${version}`);
    await sql`create table bench_rows (id bigint primary key, scope_key text not null, kind text not null, body text not null, payload jsonb, created_at timestamptz not null)`.execute(db);
    await sql`insert into bench_rows select g, 'tenant_' || (g % 97) || ':scope_' || (g % 13), (array['a', 'b', 'c'])[1 + g % 3], repeat(md5(g::text), 5),
              case when g % 3 = 0 then null else jsonb_build_object('g', g) end, timestamptz '2026-01-01' + g * interval '1 second'
              from generate_series(1, ${o.rows}) g`.execute(db);
    await applyPlan(stage, 'bench_rows');
    await sql`insert into bench_rows_shadow select * from bench_rows`.execute(db);
    await sql`vacuum analyze`.execute(db);
    // Warm both tables into cache so neither measurement pays the first read.
    await sql`select count(*) from bench_rows`.execute(db);
    await sql`select count(*) from bench_rows_shadow`.execute(db);

    // Interleaved repetitions of the ceiling and verify; medians reported (this 2-core VM is noisy).
    const reps: { ceilingMs: number; verifyMs: number; rss: number }[] = [];
    for (let i = 0; i < o.repeat; i++) {
      const t0 = performance.now();
      await sql`select sum(hashtextextended(t::text, 0)) from bench_rows t`.execute(db);
      await sql`select sum(hashtextextended(t::text, 0)) from bench_rows_shadow t`.execute(db);
      const ceilingMs = performance.now() - t0;
      const run = await verifyCli(url, configFile);
      const verifyMs = Date.parse(run.finished_at) - Date.parse(run.started_at);
      reps.push({ ceilingMs, verifyMs, rss: run.peak_rss_mb });
      o.log(`bench: repetition ${i + 1}: hash of both tables ${seconds(ceilingMs)} s, verify ${seconds(verifyMs)} s = ${(verifyMs / ceilingMs).toFixed(2)}x, ${run.tables[0]!.equality.differing_rows} differing`);
    }
    const ratios = reps.map((r) => ratio(r.verifyMs, r.ceilingMs));
    const ceilingMs = median(reps.map((r) => r.ceilingMs));
    const verifyMs = median(reps.map((r) => r.verifyMs));
    const equal = { peak_rss_mb: Math.max(...reps.map((r) => r.rss)) };

    await sql`update bench_rows_shadow set body = 'changed' where id = ${Math.floor(o.rows / 2)}`.execute(db);
    const t0 = performance.now();
    const diff = await verifyCli(url, configFile);
    const diffMs = performance.now() - t0;
    const eq = diff.tables[0]!.equality;
    o.log(`bench: verify with one changed row: ${seconds(diffMs)} s total, bisect ${seconds(eq.bisect_ms)} s in ${eq.queries - 2} extra queries, found ${JSON.stringify(eq.differences)}`);
    return {
      server: `PostgreSQL ${version}`,
      rows: o.rows,
      ceiling_full_hash_both_s: seconds(ceilingMs),
      verify_s: seconds(verifyMs),
      verify_vs_ceiling: median(ratios),
      verify_vs_ceiling_runs: ratios,
      bisect_one_row_s: seconds(eq.bisect_ms),
      bisect_queries: eq.queries - 2,
      bisect_vs_ceiling: ratio(eq.bisect_ms, ceilingMs),
      peak_rss_mb: Math.max(equal.peak_rss_mb, diff.peak_rss_mb),
    };
  });
}
