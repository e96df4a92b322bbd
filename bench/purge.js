// npm run bench:purge — partition-first purge against DELETE + VACUUM, purge time per scope size, isolate's lock hold.
// BENCH_TABLE_ROWS (1000000), BENCH_SCOPE_ROWS (100000), BENCH_SIZES (10000,100000,300000),
// BENCH_ISOLATE_SIZES (200000,1000000), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
import { benchmarkPurge } from '../dist/benchmarks/purge-benchmark.js';

const list = (v, d) => (v ?? d).split(',').map(Number);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const r = await benchmarkPurge({
  tableRows: Number(process.env.BENCH_TABLE_ROWS ?? 1000000),
  scopeRows: Number(process.env.BENCH_SCOPE_ROWS ?? 100000),
  sizes: list(process.env.BENCH_SIZES, '10000,100000,300000'),
  isolateSizes: list(process.env.BENCH_ISOLATE_SIZES, '200000,1000000'),
  repeat,
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
console.log(`purge of a ${r.scope_rows}-row scope in a ${r.table_rows}-row table, ${r.server}; median of ${repeat}`);
console.log(`  partition mode (TRUNCATE of its partition, guards included): ${r.partition_ms} ms, exclusive lock ${r.partition_lock_ms} ms`);
console.log(`  delete mode: ${r.delete_ms} ms (longest batch ${r.delete_longest_batch_ms} ms) + VACUUM ${r.vacuum_ms} ms`);
console.log(`  time saved by partition mode: ${(r.time_saved * 100).toFixed(1)}% (goal >= 99%)`);
for (const s of r.by_scope_size) console.log(`  partition purge of a ${String(s.scope_rows).padStart(7)}-row scope: ${s.ms} ms (lock ${s.lock_ms} ms) (goal: flat)`);
for (const s of r.isolate) console.log(`  isolate a new scope in a ${String(s.table_rows).padStart(7)}-row table: exclusive locks ${s.lock_ms} ms [${s.lock_ms_runs.join(', ')}] (goal <= 10 ms)`);
console.log(JSON.stringify(r));
