// npm run bench:purge — partition-first purge against DELETE + VACUUM, purge time per scope size, isolate's lock hold.
// BENCH_TABLE_ROWS (1000000), BENCH_SCOPE_ROWS (100000), BENCH_SIZES (10000,100000,300000),
// BENCH_ISOLATE_SIZES (200000,1000000: the largest also for a uuid-keyed table), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15).
// --quick: 2e4 rows, 1 repetition: a smoke run (the test suite runs it), not a measurement.
import { benchmarkPurge } from '../dist/benchmarks/purge-benchmark.js';

const quick = process.argv.includes('--quick');
const list = (v, d, q) => (v ?? (quick ? q : d)).split(',').map(Number);
const env = (k, d, q) => Number(process.env[k] ?? (quick ? q : d));
const repeat = env('BENCH_REPEAT', 3, 1);
const r = await benchmarkPurge({
  tableRows: env('BENCH_TABLE_ROWS', 1000000, 20000),
  scopeRows: env('BENCH_SCOPE_ROWS', 100000, 2000),
  sizes: list(process.env.BENCH_SIZES, '10000,100000,300000', '1000'),
  isolateSizes: list(process.env.BENCH_ISOLATE_SIZES, '200000,1000000', '20000'),
  repeat,
  major: process.env.BENCH_PG_MAJOR === '15' ? 15 : 18,
  log: (l) => console.error(l),
});
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const fig = (f) => `${f.ms} ms, exclusive lock ${f.lock_ms} ms`;
console.log(`purge of a ${r.scope_rows}-row scope in a ${r.table_rows}-row table, ${r.server}; median of ${repeat}`);
console.log(`  partition mode, TRUNCATE: ${fig(r.truncate)} (held through the COMMIT that unlinks the files)`);
console.log(`  partition mode, swap:     ${fig(r.swap)}, ${r.swap.default_leaves_read} DEFAULT leaf read (old files dropped after COMMIT)`);
console.log(`    the scope's first swap:  ${fig(r.swap_first)}, ${r.swap_first.default_leaves_read} DEFAULT leaves read (its guards were not in place yet)`);
console.log(`  delete mode: DELETE ${r.delete_ms} ms (longest batch ${r.delete_longest_batch_ms} ms) + VACUUM ${r.vacuum_ms} ms`);
console.log(`  less time than DELETE + VACUUM (goal >= 99%): TRUNCATE ${pct(r.saved.truncate_time)} of the time, ${pct(r.saved.truncate_lock)} as lock; swap ${pct(r.saved.swap_time)} of the time, ${pct(r.saved.swap_lock)} as lock`);
console.log(`  floor: a bare TRUNCATE of the scope's partition, no partgov, ${r.bare_truncate_ms} ms (${pct(r.saved.bare_truncate_time)} less than DELETE + VACUUM): no partition-mode purge can take less time than that`);
for (const s of r.by_scope_size) console.log(`  ${String(s.scope_rows).padStart(7)}-row scope: TRUNCATE ${fig(s.truncate)}; swap ${fig(s.swap)} (goal: flat)`);
for (const s of r.isolate) console.log(`  isolate a new scope in a ${String(s.table_rows).padStart(7)}-row table: exclusive locks ${s.lock_ms} ms [${s.lock_ms_runs.join(', ')}] (goal <= 10 ms)`);
if (r.isolate_uuid) {
  const u = r.isolate_uuid;
  console.log(`  isolate a new scope keyed by a uuid in a ${u.table_rows}-row table (DEFAULT leaves of ~${u.leaf_mb} MB): leaf copied online ${u.copy.lock_ms} ms locked [${u.copy.lock_ms_runs.join(', ')}], ${u.copy.total_ms} ms in all; the leaf's CHECK instead ${u.scan.lock_ms} ms locked [${u.scan.lock_ms_runs.join(', ')}] (~${u.scan.rows_scanned} rows scanned under the lock)`);
}
console.log(JSON.stringify(r));
