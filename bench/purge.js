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
console.log(`  partition mode: TRUNCATE ${r.partition_ms} ms (exclusive lock ${r.partition_lock_ms} ms, through its COMMIT); ${r.partition_total_ms} ms end to end`);
console.log(`  delete mode: DELETE ${r.delete_ms} ms (longest batch ${r.delete_longest_batch_ms} ms) + VACUUM ${r.vacuum_ms} ms; ${r.delete_total_ms} ms end to end + VACUUM`);
console.log(`  time saved by partition mode: ${(r.time_saved * 100).toFixed(1)}% of the operation (goal >= 99%), ${(r.time_saved_total * 100).toFixed(1)}% end to end`);
for (const s of r.by_scope_size) console.log(`  partition purge of a ${String(s.scope_rows).padStart(7)}-row scope: TRUNCATE ${s.ms} ms (lock ${s.lock_ms} ms), ${s.total_ms} ms end to end (goal: flat)`);
for (const s of r.isolate) console.log(`  isolate a new scope in a ${String(s.table_rows).padStart(7)}-row table: exclusive locks ${s.lock_ms} ms [${s.lock_ms_runs.join(', ')}] (goal <= 10 ms)`);
console.log(JSON.stringify(r));
