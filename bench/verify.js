// npm run bench:verify — verify's time beside the in-database ceiling, measured in one run.
// BENCH_ROWS (default 1000000), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
import { benchmarkVerify } from '../dist/benchmarks/verify-benchmark.js';

const r = await benchmarkVerify({
  rows: Number(process.env.BENCH_ROWS ?? 1_000_000),
  repeat: Number(process.env.BENCH_REPEAT ?? 3),
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
console.log(`verify benchmark, ${r.rows} vs ${r.rows} rows (32 hash partitions), ${r.server}
  ceiling: sum(hashtextextended(t::text, 0)) over both tables     ${r.ceiling_full_hash_both_s} s
  partgov verify (equality + health)                              ${r.verify_s} s = ${r.verify_vs_ceiling}x the ceiling, median of ${r.verify_vs_ceiling_runs.join(' / ')} (goal <= 1.3)
  bisect one changed row to its key                               ${r.bisect_one_row_s} s in ${r.bisect_queries} queries = ${r.bisect_vs_ceiling}x the ceiling (goal <= 2)
  partgov peak RSS                                                ${r.peak_rss_mb} MB`);
console.log(JSON.stringify(r));
