// npm run bench:verify — verify beside its in-database ceiling, equal and with 1 or 3 differences, measured in one run.
// BENCH_ROWS (default 1000000), BENCH_REPEAT (3), BENCH_SEGMENTS (64, verify's default), BENCH_PG_MAJOR (18|15).
// --quick: 5,000 rows, 1 repetition: a smoke run (the test suite runs it), not a measurement.
import { benchmarkVerify } from '../dist/benchmarks/verify-benchmark.js';

const quick = process.argv.includes('--quick');

const r = await benchmarkVerify({
  rows: Number(process.env.BENCH_ROWS ?? (quick ? 5_000 : 1_000_000)),
  repeat: Number(process.env.BENCH_REPEAT ?? (quick ? 1 : 3)),
  segments: Number(process.env.BENCH_SEGMENTS ?? 64),
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
console.log(`verify benchmark, ${r.rows} vs ${r.rows} rows (32 hash partitions), ${r.server}, --segments ${r.segments}
  ceiling: ${r.ceiling}`);
for (const c of r.cases) {
  console.log(`  ${c.differences} difference(s): ceiling ${c.ceiling_s} s, verify ${c.verify_s} s = ${c.verify_vs_ceiling}x [${c.verify_vs_ceiling_runs.join(', ')}] (goal <= ${c.goal}: ${c.goal_met ? 'met' : 'NOT met'}); whole process ${c.process_s} s = ${c.process_vs_ceiling}x; ${c.queries} queries, ${c.keys_named} keys named`);
}
console.log(`  partgov peak RSS ${r.peak_rss_mb} MB (goal < 200)`);
console.log(JSON.stringify(r));
