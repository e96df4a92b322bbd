// npm run bench:backfill — prints backfill figures beside their ceiling, measured in one run.
// BENCH_ROWS (default 1000000), BENCH_SMALL_ROWS (200000), BENCH_BATCH (50000, the default), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
// --quick: 5,000 rows, 1 repetition: a smoke run (the test suite runs it), not a measurement.
import { benchmarkBackfill } from '../dist/benchmarks/backfill-benchmark.js';

const quick = process.argv.includes('--quick');
const env = (k, d, q) => Number(process.env[k] ?? (quick ? q : d));
const r = await benchmarkBackfill({
  rows: env('BENCH_ROWS', 1_000_000, 5_000),
  smallRows: env('BENCH_SMALL_ROWS', 200_000, 2_000),
  batchSize: env('BENCH_BATCH', 50_000, 1_000),
  repeat: env('BENCH_REPEAT', 3, 1),
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
const pad = (text, n) => String(text).padEnd(n);
console.log(`backfill benchmark, ${r.rows} rows (~250 B) into ${r.partitions} hash partitions, ${r.server}, --batch-size ${r.batch_size}
  ceiling: one INSERT … SELECT into the indexed shadow  ${r.ceiling_insert_select_s} s (median)`);
for (const v of r.variants) {
  const goal = v.goal === undefined ? '' : `  goal >= ${v.goal}: ${v.goal_met ? 'met' : 'NOT met'}`;
  console.log(`  ${pad(v.name, 40)} ${pad(`${v.seconds} s`, 9)} ${pad(`${v.rows_per_s} rows/s`, 15)} = ${v.vs_ceiling}x the ceiling's speed [${v.vs_ceiling_runs.join(', ')}]${goal}`);
}
console.log(`  (c) peak RSS of partgov: ${r.peak_rss_mb_small} MB at ${r.small_rows} rows, ${r.peak_rss_mb_large} MB at ${r.rows} rows, 1 job (goal: flat, < 200 MB); at most ${r.peak_rss_mb_any_variant} MB in any variant`);
console.log(JSON.stringify(r));
