// npm run bench:perf — `partgov bench` on the example schema: recall and write p50/p95/p99, partitioned vs legacy, per scale.
// BENCH_NODES (100000), BENCH_SCALES (100000,1000000), BENCH_PG_MAJOR (18|15); GATEC_BENCH_CONCURRENCY (8), GATEC_BENCH_OPS (200),
// GATEC_PERF_PROFILE and the other GATEC_* knobs as for `partgov bench`.
import { benchmarkPerfMatrix } from '../dist/benchmarks/perf-matrix-benchmark.js';

const r = await benchmarkPerfMatrix({
  nodes: Number(process.env.BENCH_NODES ?? 100000),
  scales: (process.env.BENCH_SCALES ?? '100000,1000000').split(',').map(Number),
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
const b = r.result;
console.log(`partgov bench on ${b.table}, ${r.server}, profile ${b.profile}, ${b.concurrency} connections x ${b.ops_per_worker} ops per workload and layout`);
for (const s of b.scales) {
  for (const w of ['recall', 'write']) {
    const p = s.results.find((x) => x.workload === w && x.layout === 'partitioned').figures;
    const l = s.results.find((x) => x.workload === w && x.layout === 'legacy').figures;
    console.log(`  ${String(s.scale).padStart(8)} ${w.padEnd(6)} partitioned p50/p95/p99 ${p.p50_ms}/${p.p95_ms}/${p.p99_ms} ms, legacy ${l.p50_ms}/${l.p95_ms}/${l.p99_ms} ms, p95 ratio ${(p.p95_ms / l.p95_ms).toFixed(2)} (goal <= 1.1, p95 <= 2 ms), errors ${p.error_rate}/${l.error_rate}`);
  }
  console.log(`  ${String(s.scale).padStart(8)} reset: ${s.reset.strategies.map((x) => `${x.strategy} ${x.ms} ms`).join(', ') || s.reset.error}; DELETE from legacy ${s.reset.delete_ms} ms`);
}
console.log(`report: ${r.out_dir}/PERFORMANCE_REPORT.md`);
console.log(JSON.stringify({ server: r.server, scales: b.scales.map((s) => ({ scale: s.scale, results: s.results.map((x) => ({ layout: x.layout, workload: x.workload, p50: x.figures.p50_ms, p95: x.figures.p95_ms, p99: x.figures.p99_ms, errors: x.figures.error_rate })), reset: s.reset })) }));
