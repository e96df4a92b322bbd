// npm run bench:backfill — prints backfill figures beside their ceiling, measured in one run.
// BENCH_ROWS (default 1000000), BENCH_SMALL_ROWS (200000), BENCH_BATCH (10000), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
import { benchmarkBackfill } from '../dist/bench/backfill-benchmark.js';

const env = (k, d) => Number(process.env[k] ?? d);
const r = await benchmarkBackfill({
  rows: env('BENCH_ROWS', 1_000_000),
  smallRows: env('BENCH_SMALL_ROWS', 200_000),
  batchSize: env('BENCH_BATCH', 10_000),
  repeat: env('BENCH_REPEAT', 3),
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
console.log(`backfill benchmark, ${r.rows} rows (~250 B) into ${r.partitions} hash partitions, ${r.server}
  ceiling: single INSERT … SELECT into the indexed shadow   ${r.ceiling_insert_select_s} s (median)
  (a) partgov backfill (checkpoint per batch)              ${r.backfill_s} s  ${r.backfill_rows_per_s} rows/s  = ${r.backfill_vs_ceiling}x the ceiling's speed, median of ${r.backfill_vs_ceiling_runs.join(' / ')} (goal >= 0.95)
  (b) partgov backfill --defer-indexes (build included)    ${r.defer_indexes_s} s  = ${r.defer_indexes_speedup}x the ceiling's speed, median of ${r.defer_indexes_speedup_runs.join(' / ')} (goal >= 1.5)
  (c) partgov peak RSS: ${r.peak_rss_mb_small} MB at ${r.small_rows} rows, ${r.peak_rss_mb_large} MB at ${r.rows} rows (goal: flat, < 200 MB)`);
console.log(JSON.stringify(r));
