// npm run bench:cutover — the swap's exclusive-lock hold at each size while an application writes.
// BENCH_SIZES (default 100000,1000000), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
import { benchmarkCutover } from '../dist/benchmarks/sync-benchmark.js';

const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const r = await benchmarkCutover({ sizes, repeat: Number(process.env.BENCH_REPEAT ?? 3), major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18, log: (l) => console.error(l) });
console.log(`cutover and rollback with an application writing (4 connections), ${r.server}; median of ${process.env.BENCH_REPEAT ?? 3} [runs]`);
for (const s of r.sizes) {
  console.log(`  ${String(s.rows).padStart(8)} rows: cutover holds its exclusive locks ${s.cutover_lock_ms} ms [${s.cutover_lock_ms_runs.join(', ')}], rollback ${s.rollback_lock_ms} ms [${s.rollback_lock_ms_runs.join(', ')}] (goal <= 20 ms, flat); writer p99 ${s.writer_p99_ms} ms, longest stall ${s.writer_max_stall_ms} ms, ${s.writer_errors} errors in ${s.writer_statements} statements`);
}
console.log(JSON.stringify(r));
