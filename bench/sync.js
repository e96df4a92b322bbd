// npm run bench:sync — the online copy (sync on) on every layout against one INSERT … SELECT,
// and the application's write latency with sync on vs off, measured in one run each.
// BENCH_ROWS (default 1000000), BENCH_REPEAT (3), BENCH_PG_MAJOR (18|15),
// BENCH_DATABASE_URL (a superuser URL of your own server instead of an embedded one: pg_partman, when installed there, joins the range layouts),
// BENCH_LAYOUTS (a name filter, e.g. range), BENCH_BATCH (--batch-size), BENCH_JOBS (--jobs, default 1), BENCH_WRITE_ROWS (1000000), BENCH_CONCURRENCY (8), BENCH_STATEMENTS (4000 per writer: a phase of several replay rounds), BENCH_PART (all|copy|writes).
// --quick: a few thousand rows, 1 repetition: a smoke run (the test suite runs it), not a measurement.
import { benchmarkOnlineBackfill, benchmarkWriteLatency } from '../dist/benchmarks/sync-benchmark.js';

const quick = process.argv.includes('--quick');
const env = (k, d, q = d) => Number(process.env[k] ?? (quick ? q : d));
const major = process.env.BENCH_PG_MAJOR === '15' ? 15 : 18;
const part = process.env.BENCH_PART ?? 'all';
const log = (l) => console.error(l);
if (part === 'all' || part === 'copy') {
  const r = await benchmarkOnlineBackfill({ rows: env('BENCH_ROWS', 1_000_000, 5_000), repeat: env('BENCH_REPEAT', 3, 1), major, only: process.env.BENCH_LAYOUTS, batchSize: process.env.BENCH_BATCH ? Number(process.env.BENCH_BATCH) : undefined, jobs: process.env.BENCH_JOBS ? Number(process.env.BENCH_JOBS) : undefined, log });
  console.log(`online backfill (sync on, ${process.env.BENCH_JOBS ?? 1} job(s), secondary indexes built after the copy) vs one INSERT … SELECT into the same fresh, fully indexed shadow, ${r.rows} rows of ~250 B, ${r.server}; speed ratio = ceiling time / partgov time (> 1 faster), median [runs]`);
  for (const l of r.layouts) {
    console.log(`  ${l.layout.padEnd(44)} ceiling ${l.ceiling_s} s, ${l.ceiling_wal_mb} MB WAL | online ${l.online_s} s = ${l.online_vs_ceiling}x [${l.online_vs_ceiling_runs.join(', ')}], WAL ${l.online_wal_mb} MB = ${l.online_wal_vs_ceiling}x | by-hand bulk load (indexes after) ${l.bulk_s} s: online = ${l.online_vs_bulk}x [${l.online_vs_bulk_runs.join(', ')}]${l.bulk_writers ? `, with ${l.bulk_writers.writers} writers ${l.bulk_writers.seconds} s: online = ${l.bulk_writers.online_vs}x [${l.bulk_writers.online_vs_runs.join(', ')}]` : ''} | online --keep-indexes ${l.online_keep_s} s = ${l.online_keep_vs_ceiling}x [${l.online_keep_vs_ceiling_runs.join(', ')}] | offline ${l.offline_s} s = ${l.offline_vs_ceiling}x [${l.offline_vs_ceiling_runs.join(', ')}]${l.pg_partman ? ` | pg_partman partition_data_proc ${l.pg_partman.seconds} s = ${l.pg_partman.vs_ceiling}x [${l.pg_partman.vs_ceiling_runs.join(', ')}], WAL ${l.pg_partman.wal_mb} MB` : ''}`);
  }
  console.log(JSON.stringify(r));
}
if (part === 'all' || part === 'writes') {
  const w = await benchmarkWriteLatency({ rows: env('BENCH_WRITE_ROWS', 1_000_000, 5_000), concurrency: env('BENCH_CONCURRENCY', 8, 2), statements: env('BENCH_STATEMENTS', 4000, 60), repeat: env('BENCH_REPEAT', 3, 1), major, log });
  console.log(`application single-row writes (update/insert/delete), ${w.rows} rows, concurrency ${w.concurrency}, ${w.server}`);
  console.log(`  sync off: p50 ${w.off.p50_ms} ms, p95 ${w.off.p95_ms} ms, p99 ${w.off.p99_ms} ms, ${w.off.errors} errors`);
  console.log(`  sync on:  p50 ${w.on.p50_ms} ms, p95 ${w.on.p95_ms} ms, p99 ${w.on.p99_ms} ms, ${w.on.errors} errors; p95 on/off = ${w.p95_on_vs_off}x [${w.p95_on_vs_off_runs.join(', ')}] (goal <= 1.3x)`);
  console.log(`  replay beside the writers: at most ${w.max_log_entries} log entries waiting; drained ${w.drain_after_stop_ms} ms after the last write`);
  console.log(JSON.stringify(w));
}
