import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { changeLogNames } from '../changelog/change-log.js';
import { replayChanges, startReplayLoop } from '../changelog/replay-changes.js';
import { resolveShadowPair } from '../db/shadow-pair.js';
import type { BackfillResult } from '../backfill/run-backfill.js';
import { openDatabase } from '../db/open-database.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { applyPlan, median, ratio, recreateShadow, seconds, timeBulkLoad, warmUp, withBenchDatabase } from './bench-database.js';
import { runCliJson } from './run-cli-json.js';

export interface OnlineBackfillBenchmarkOptions {
  rows: number;
  repeat: number;
  major: 15 | 18;
  /** Only layouts whose name contains this text (all when undefined). */
  only?: string | undefined;
  /** --batch-size for the backfills (partgov's default when undefined). */
  batchSize?: number | undefined;
  /** partgov backfill --jobs (default 1). */
  jobs?: number | undefined;
  log: (line: string) => void;
}

export interface LayoutFigures {
  layout: string;
  ceiling_s: number;
  ceiling_wal_mb: number;
  online_s: number;
  /** Ceiling time / online time (> 1: faster than one INSERT … SELECT), median of repetitions. */
  online_vs_ceiling: number;
  online_vs_ceiling_runs: number[];
  online_wal_mb: number;
  online_wal_vs_ceiling: number;
  offline_s: number;
  offline_vs_ceiling: number;
  offline_vs_ceiling_runs: number[];
  /** Online with --keep-indexes: the copy into the fully indexed shadow, like the ceiling's. */
  online_keep_s: number;
  online_keep_vs_ceiling: number;
  online_keep_vs_ceiling_runs: number[];
  /** The by-hand bulk load (secondary indexes dropped, INSERT … SELECT, CREATE INDEX), and the online default against it. */
  bulk_s: number;
  online_vs_bulk: number;
  online_vs_bulk_runs: number[];
  /** With --jobs N > 1: the by-hand bulk load with N writers at once (null at 1 job), and the online default against it. */
  bulk_writers: { writers: number; seconds: number; online_vs: number; online_vs_runs: number[] } | null;
  /** pg_partman's partition_data_proc moving a copy of the rows in (range layouts, when the server has pg_partman). */
  pg_partman: { seconds: number; vs_ceiling: number; vs_ceiling_runs: number[]; wal_mb: number } | null;
}

/** pg_partman's version when the server can install it (`apt install postgresql-15-partman`), else null. */
async function installPartman(db: PartgovKysely): Promise<string | null> {
  const available = await sql<{ v: string }>`select default_version as v from pg_available_extensions where name = 'pg_partman'`.execute(db);
  if (available.rows.length === 0) return null;
  await sql`create schema if not exists partman`.execute(db);
  await sql`create extension if not exists pg_partman schema partman`.execute(db);
  return (await sql<{ v: string }>`select extversion as v from pg_extension where extname = 'pg_partman'`.execute(db)).rows[0]!.v;
}

/**
 * pg_partman's way to fill a partitioned table, as its documentation gives it: a
 * parent it manages (monthly children, the shadow's key and index), and
 * `partition_data_proc` moving the rows out of a source table in batches of one
 * partition interval, each committed, without the default 1 s wait between them.
 * The source is a copy of the legacy table with an index on the control column
 * (partman deletes from it by range), made before the clock starts.
 */
async function partmanFill(db: PartgovKysely, legacy: string, version: string): Promise<{ ms: number; wal: number }> {
  const [target, source] = [`${legacy}_partman`, `${legacy}_partman_src`];
  await sql`create table ${sql.id(source)} as select * from ${sql.id(legacy)}`.execute(db);
  await sql`create index on ${sql.id(source)} (created_at)`.execute(db);
  await sql`vacuum analyze ${sql.id(source)}`.execute(db);
  await sql`create table ${sql.id(target)} (like ${sql.id(legacy)} including defaults, primary key (id, created_at)) partition by range (created_at)`.execute(db);
  await sql`create index on ${sql.id(target)} (scope_key, created_at)`.execute(db);
  // 4.x calls native partitioning 'native', 5.x 'range'.
  const type = version.startsWith('4.') ? 'native' : 'range';
  await sql`select partman.create_parent(p_parent_table := ${`public.${target}`}, p_control := 'created_at', p_type := ${type}, p_interval := '1 month', p_start_partition := '2026-01-01', p_premake := 12)`.execute(db);
  await sql`checkpoint`.execute(db);
  try {
    const t0 = performance.now();
    const r = await walBytes(db, () => sql`call partman.partition_data_proc(p_parent_table := ${`public.${target}`}, p_wait := 0, p_source_table := ${`public.${source}`}, p_quiet := true)`.execute(db));
    const ms = performance.now() - t0;
    const moved = await sql<{ n: string }>`select count(*)::text as n from ${sql.id(target)}`.execute(db);
    const left = await sql<{ n: string }>`select count(*)::text as n from ${sql.id(source)}`.execute(db);
    if (left.rows[0]!.n !== '0') throw new Error(`pg_partman left ${left.rows[0]!.n} rows in its source (moved ${moved.rows[0]!.n})`);
    return { ms, wal: r.wal };
  } finally {
    await sql`drop table if exists ${sql.id(target)}, ${sql.id(source)}`.execute(db);
    await sql`delete from partman.part_config where parent_table = ${`public.${target}`}`.execute(db);
  }
}

/** The layouts of the online-copy goal: every one of them, range with rising and with random timestamps. */
const layouts = [
  { name: 'hash x32', table: 'l_hash', layout: { type: 'hash', key: 'scope_key', partitions: 32 }, randomTime: false },
  { name: 'isolatable (2 isolated + hash x16 default)', table: 'l_iso', layout: { type: 'isolatable', key: 'scope_key', isolated: ['tenant_1:scope_1', 'tenant_2:scope_2'], partitions: 16 }, randomTime: false },
  { name: 'range by month, timestamps in id order', table: 'l_range', layout: { type: 'range', column: 'created_at', interval: 'month', start: '2025-12-01', premake: 1, default_partition: true }, randomTime: false },
  { name: 'range by month, timestamps in random order', table: 'l_range_rnd', layout: { type: 'range', column: 'created_at', interval: 'month', start: '2025-12-01', premake: 1, default_partition: true }, randomTime: true },
] as const;

async function createLegacy(db: PartgovKysely, name: string, rows: number, randomTime: boolean): Promise<void> {
  await sql`create table ${sql.id(name)} (
      id bigint generated by default as identity,
      scope_key text not null,
      kind text not null,
      body text not null,
      created_at timestamptz not null,
      primary key (id, created_at))`.execute(db);
  await sql`create index ${sql.id(`${name}_scope_idx`)} on ${sql.id(name)} (scope_key, created_at)`.execute(db);
  // ~250-byte rows over ~11 months (about a year of monthly partitions).
  const at = randomTime ? sql`timestamptz '2026-01-01' + (hashtext(g::text)::bigint % 28000000 + 28000000) * interval '0.5 second'` : sql`timestamptz '2026-01-01' + g * (interval '28000000 second' / ${rows}::int)`;
  await sql`insert into ${sql.id(name)} (scope_key, kind, body, created_at)
            select 'tenant_' || (g % 97) || ':scope_' || (g % 13), (array['fact', 'episode', 'summary'])[1 + g % 3], repeat(md5(g::text), 6), ${at}
            from generate_series(1, ${rows}::int) g`.execute(db);
  await sql`vacuum analyze ${sql.id(name)}`.execute(db);
}


/**
 * WAL written by `work`: the insert position, not pg_current_wal_lsn() (the write position),
 * which lags behind asynchronous commits (backfill's batches, a fast test server) and
 * read 0 bytes for a small copy.
 */
async function walBytes<T>(db: PartgovKysely, work: () => Promise<T>): Promise<{ result: T; wal: number }> {
  const before = (await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(db)).rows[0]!.lsn;
  const result = await work();
  const after = await sql<{ bytes: string }>`select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), ${before}::pg_lsn)::text as bytes`.execute(db);
  return { result, wal: Number(after.rows[0]!.bytes) };
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/**
 * `npm run bench:sync` (part 1): per layout, interleaved `repeat` times: one
 * INSERT … SELECT into the fresh shadow (the ceiling), the by-hand bulk load
 * (indexes after), partgov backfill with sync on (the default online path:
 * change log installed, 1 job, indexes built after the copy), the same with
 * --keep-indexes, and with sync off, each into a fresh shadow, with the WAL
 * the ceiling and the default wrote.
 */
export async function benchmarkOnlineBackfill(o: OnlineBackfillBenchmarkOptions): Promise<{ server: string; rows: number; layouts: LayoutFigures[] }> {
  const chosen = layouts.filter((l) => o.only === undefined || l.name.includes(o.only));
  const tables = chosen.map((l) => ({ name: l.table, layout: l.layout }));
  return withBenchDatabase(o.major, { tables }, async ({ url, version, db, configFile, stage }) => {
    const cli = (args: string[]) => runCliJson<BackfillResult>(['--config', configFile, '--database-url', url, ...args]);
    const batchArgs = [...(o.batchSize === undefined ? [] : ['--batch-size', String(o.batchSize)]), ...(o.jobs === undefined || o.jobs === 1 ? [] : ['--jobs', String(o.jobs)])];
    const out: LayoutFigures[] = [];
    const writers = o.jobs ?? 1;
    const partman = chosen.some((l) => l.layout.type === 'range') ? await installPartman(db) : null;
    if (chosen.some((l) => l.layout.type === 'range')) {
      o.log(partman ? `bench: pg_partman ${partman} found: its partition_data_proc runs on the range layouts too` : `bench: pg_partman is not installed on ${version}: its contender is skipped (install it, e.g. apt install postgresql-15-partman, and point BENCH_DATABASE_URL at that server)`);
    }
    for (const l of chosen) {
      o.log(`bench: ${l.name}: loading ${o.rows} rows`);
      await createLegacy(db, l.table, o.rows, l.randomTime);
      await warmUp(stage, l.table);
      const runs = { ceiling: [] as number[], ceilingWal: [] as number[], online: [] as number[], onlineWal: [] as number[], offline: [] as number[], on: [] as number[], off: [] as number[], keep: [] as number[], keepMs: [] as number[], bulk: [] as number[], onBulk: [] as number[], bulkN: [] as number[], onBulkN: [] as number[], partman: [] as number[], partmanMs: [] as number[], partmanWal: [] as number[] };
      for (let i = 0; i < o.repeat; i++) {
        await recreateShadow(stage, l.table);
        const t0 = performance.now();
        const c = await walBytes(db, () => sql`insert into ${sql.id(`${l.table}_shadow`)} select * from ${sql.id(l.table)}`.execute(db));
        const ceilingMs = performance.now() - t0;
        runs.ceiling.push(ceilingMs);
        runs.ceilingWal.push(c.wal);

        await recreateShadow(stage, l.table);
        const bulkMs = await timeBulkLoad(db, l.table);
        runs.bulk.push(bulkMs);
        let bulkNMs: number | undefined;
        if (writers > 1) {
          await recreateShadow(stage, l.table);
          bulkNMs = await timeBulkLoad(db, l.table, writers, url);
          runs.bulkN.push(bulkNMs);
        }

        await recreateShadow(stage, l.table);
        await cli(['sync', 'enable', '--table', l.table]);
        const on = await walBytes(db, () => cli(['backfill', '--table', l.table, ...batchArgs]));
        await cli(['sync', 'disable', '--table', l.table]);
        runs.online.push(on.result.duration_ms);
        runs.onlineWal.push(on.wal);
        runs.on.push(ratio(ceilingMs, on.result.duration_ms));
        runs.onBulk.push(ratio(bulkMs, on.result.duration_ms));
        if (bulkNMs !== undefined) runs.onBulkN.push(ratio(bulkNMs, on.result.duration_ms));

        await recreateShadow(stage, l.table);
        await cli(['sync', 'enable', '--table', l.table]);
        const keep = await cli(['backfill', '--table', l.table, '--keep-indexes', ...batchArgs]);
        await cli(['sync', 'disable', '--table', l.table]);
        runs.keepMs.push(keep.duration_ms);
        runs.keep.push(ratio(ceilingMs, keep.duration_ms));

        await recreateShadow(stage, l.table);
        const off = await cli(['backfill', '--table', l.table, ...batchArgs]);
        runs.offline.push(off.duration_ms);
        runs.off.push(ratio(ceilingMs, off.duration_ms));
        let partmanNote = '';
        if (partman && l.layout.type === 'range') {
          const pm = await partmanFill(db, l.table, partman);
          runs.partman.push(ratio(ceilingMs, pm.ms));
          runs.partmanMs.push(pm.ms);
          runs.partmanWal.push(pm.wal);
          partmanNote = `, pg_partman ${seconds(pm.ms)} s (${mb(pm.wal)} MB WAL) = ${ratio(ceilingMs, pm.ms)}x`;
        }
        o.log(`bench: ${l.name}: repetition ${i + 1}: INSERT … SELECT ${seconds(ceilingMs)} s (${mb(c.wal)} MB WAL), by-hand bulk load ${seconds(bulkMs)} s, online ${seconds(on.result.duration_ms)} s (of which ${seconds(on.result.deferred_indexes.build_ms)} s index build; ${mb(on.wal)} MB WAL) = ${ratio(ceilingMs, on.result.duration_ms)}x (${ratio(bulkMs, on.result.duration_ms)}x the bulk load${bulkNMs === undefined ? '' : `, ${ratio(bulkNMs, on.result.duration_ms)}x the ${writers}-writer bulk load of ${seconds(bulkNMs)} s`}), online --keep-indexes ${seconds(keep.duration_ms)} s = ${ratio(ceilingMs, keep.duration_ms)}x, offline ${seconds(off.duration_ms)} s = ${ratio(ceilingMs, off.duration_ms)}x${partmanNote}`);
      }
      await sql`drop table ${sql.id(`${l.table}_shadow`)}, ${sql.id(l.table)}`.execute(db);
      out.push({
        layout: l.name,
        ceiling_s: seconds(median(runs.ceiling)),
        ceiling_wal_mb: mb(median(runs.ceilingWal)),
        online_s: seconds(median(runs.online)),
        online_vs_ceiling: median(runs.on),
        online_vs_ceiling_runs: runs.on,
        online_wal_mb: mb(median(runs.onlineWal)),
        online_wal_vs_ceiling: ratio(median(runs.onlineWal), median(runs.ceilingWal)),
        offline_s: seconds(median(runs.offline)),
        offline_vs_ceiling: median(runs.off),
        offline_vs_ceiling_runs: runs.off,
        online_keep_s: seconds(median(runs.keepMs)),
        online_keep_vs_ceiling: median(runs.keep),
        online_keep_vs_ceiling_runs: runs.keep,
        bulk_s: seconds(median(runs.bulk)),
        online_vs_bulk: median(runs.onBulk),
        online_vs_bulk_runs: runs.onBulk,
        bulk_writers: writers > 1 ? { writers, seconds: seconds(median(runs.bulkN)), online_vs: median(runs.onBulkN), online_vs_runs: runs.onBulkN } : null,
        pg_partman: runs.partman.length === 0 ? null : { seconds: seconds(median(runs.partmanMs)), vs_ceiling: median(runs.partman), vs_ceiling_runs: runs.partman, wal_mb: mb(median(runs.partmanWal)) },
      });
    }
    return { server: `PostgreSQL ${version}`, rows: o.rows, layouts: out };
  });
}

export interface WriteLatencyOptions {
  rows: number;
  concurrency: number;
  /** Statements per writer per phase. */
  statements: number;
  repeat: number;
  major: 15 | 18;
  log: (line: string) => void;
}

export interface WriteLatencyFigures {
  server: string;
  rows: number;
  concurrency: number;
  off: { p50_ms: number; p95_ms: number; p99_ms: number; errors: number };
  on: { p50_ms: number; p95_ms: number; p99_ms: number; errors: number };
  p95_on_vs_off: number;
  p95_on_vs_off_runs: number[];
  /** Most change-log entries waiting at any sample while `sync replay` ran in a loop beside the writers. */
  max_log_entries: number;
  /** Time from the writers' last statement until the replay had drained the log. */
  drain_after_stop_ms: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 1000) / 1000;
}

/**
 * `npm run bench:sync` (part 2): the application's single-row writes
 * (an UPDATE, an INSERT, a DELETE in turn, prepared, on `concurrency`
 * connections) against a `rows`-row table with sync off and with sync on,
 * interleaved, the order alternating between repetitions; with sync on a replay loop runs beside them (as during a
 * backfill), and the log's high-water mark and drain time are recorded.
 */
export async function benchmarkWriteLatency(o: WriteLatencyOptions): Promise<WriteLatencyFigures> {
  const table = 'app_writes';
  const config = { tables: [{ name: table, layout: { type: 'hash', key: 'scope_key', partitions: 32 } }] };
  return withBenchDatabase(o.major, config, async ({ url, version, db, config: parsed, configFile, stage }) => {
    await sql`create table app_writes (id bigint generated by default as identity primary key, scope_key text not null, body text not null, n int not null default 0)`.execute(db);
    await sql`create index app_writes_scope on app_writes (scope_key)`.execute(db);
    await sql`insert into app_writes (scope_key, body) select 's' || (g % 200), repeat(md5(g::text), 4) from generate_series(1, ${o.rows}::int) g`.execute(db);
    await sql`vacuum analyze app_writes`.execute(db);
    await applyPlan(stage, table);
    const cli = (args: string[]) => runCliJson<BackfillResult>(['--config', configFile, '--database-url', url, ...args]);
    await cli(['backfill', '--table', table]);
    const app = openDatabase({ url, maxConnections: o.concurrency, applicationName: 'bench app' });
    const phase = async () => {
      const latencies: number[] = [];
      let errors = 0;
      await Promise.all(
        Array.from({ length: o.concurrency }, async (_, w) => {
          for (let i = 0; i < o.statements; i++) {
            const id = 1 + ((w * 7_919 + i * 104_729) % o.rows);
            const t0 = performance.now();
            try {
              if (i % 3 === 0) await sql`update app_writes set n = n + 1 where id = ${id}`.execute(app.db);
              else if (i % 3 === 1) await sql`insert into app_writes (scope_key, body) values (${`s${w}`}, 'new')`.execute(app.db);
              else await sql`delete from app_writes where id = ${id + 1}`.execute(app.db);
            } catch {
              errors++;
            }
            latencies.push(performance.now() - t0);
          }
        }),
      );
      return { p50_ms: percentile(latencies, 50), p95_ms: percentile(latencies, 95), p99_ms: percentile(latencies, 99), errors, all: latencies };
    };
    const offAll: number[] = [];
    const onAll: number[] = [];
    const ratios: number[] = [];
    let errorsOff = 0;
    let errorsOn = 0;
    let maxLog = 0;
    let drainMs = 0;
    try {
      const withSyncOn = async () => {
        await cli(['sync', 'enable', '--table', table]);
        // Mark the copy done, so the replay loop applies entries as they come (what follows a backfill).
        await sql`update partgov.backfill_checkpoint set done = true where table_name = ${`public.${table}`}`.execute(db);
        const pair = await resolveShadowPair(db, parsed.tables[0]!);
        const logTable = sql.id('partgov', changeLogNames(pair.legacy).table.name);
        const replayOptions = { lockTimeoutMs: 5000, statementTimeoutMs: 0 };
        // The replay loop a backfill runs beside the copy, in-process on its own connection; the log's size sampled beside it.
        const replayer = startReplayLoop(db, pair, replayOptions);
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            maxLog = Math.max(maxLog, (await sql<{ n: number }>`select count(*)::int as n from ${logTable}`.execute(db)).rows[0]!.n);
            await sleep(250);
          }
        })();
        const on = await phase();
        const stopped = performance.now();
        sampling = false;
        await sampler;
        await replayer.stop();
        await replayChanges(db, pair, replayOptions);
        drainMs = Math.max(drainMs, performance.now() - stopped);
        await cli(['sync', 'disable', '--table', table]);
        return on;
      };
      for (let r = 0; r < o.repeat; r++) {
        // Alternate which phase runs first, so drift during a repetition (bloat, autovacuum, cache) favours neither.
        let off: Awaited<ReturnType<typeof phase>>;
        let on: Awaited<ReturnType<typeof phase>>;
        if (r % 2 === 0) {
          off = await phase();
          on = await withSyncOn();
        } else {
          on = await withSyncOn();
          off = await phase();
        }
        offAll.push(...off.all);
        onAll.push(...on.all);
        errorsOff += off.errors;
        errorsOn += on.errors;
        ratios.push(ratio(on.p95_ms, off.p95_ms));
        o.log(`bench: writes repetition ${r + 1}: p95 off ${off.p95_ms} ms, on ${on.p95_ms} ms (${ratio(on.p95_ms, off.p95_ms)}x); errors ${off.errors}/${on.errors}`);
      }
    } finally {
      await app.close();
    }
    const summary = (xs: number[], errors: number) => ({ p50_ms: percentile(xs, 50), p95_ms: percentile(xs, 95), p99_ms: percentile(xs, 99), errors });
    return {
      server: `PostgreSQL ${version}`,
      rows: o.rows,
      concurrency: o.concurrency,
      off: summary(offAll, errorsOff),
      on: summary(onAll, errorsOn),
      p95_on_vs_off: median(ratios),
      p95_on_vs_off_runs: ratios,
      max_log_entries: maxLog,
      drain_after_stop_ms: Math.round(drainMs),
    };
  });
}

export interface CutoverBenchmarkOptions {
  sizes: number[];
  repeat: number;
  major: 15 | 18;
  log: (line: string) => void;
}

export interface CutoverFigures {
  rows: number;
  cutover_lock_ms: number;
  cutover_lock_ms_runs: number[];
  rollback_lock_ms: number;
  rollback_lock_ms_runs: number[];
  writer_p99_ms: number;
  writer_max_stall_ms: number;
  writer_errors: number;
  writer_statements: number;
}

/**
 * `npm run bench:cutover`: at each size, a steady application writer (4
 * connections: insert, update, key move, delete) runs while partgov cuts
 * over, rolls back, and cuts over again `repeat` times; reports the swap
 * transaction's exclusive-lock hold (median) and the writer's p99 and longest
 * stall across all swaps.
 */
export async function benchmarkCutover(o: CutoverBenchmarkOptions): Promise<{ server: string; sizes: CutoverFigures[] }> {
  const tables = o.sizes.map((n) => ({ name: `swap_${n}`, layout: { type: 'hash', key: 'scope_key', partitions: 32 }, cutover: { acknowledge_key_change: ['scope_key', 'id'] } }));
  return withBenchDatabase(o.major, { tables }, async ({ url, version, db, config, stage }) => {
    const { runCutover, runRollback } = await import('../cutover/run-cutover.js');
    const { runSync } = await import('../sync/run-sync.js');
    const { runBackfill } = await import('../backfill/run-backfill.js');
    const { runVerify } = await import('../verify/run-verify.js');
    const { resolveSettings } = await import('../config/runtime-settings.js');
    const { stageContext } = await import('../stage/stage-context.js');
    const ctx = stageContext(stage.database, { settings: resolveSettings({ lockTimeout: '2000' }, {}, config), config });
    const out: CutoverFigures[] = [];
    for (const [i, rows] of o.sizes.entries()) {
      const table = config.tables[i]!;
      const t = sql.id(table.name);
      o.log(`bench: cutover at ${rows} rows: loading`);
      await sql`create table ${t} (id bigint generated always as identity primary key, scope_key text not null, body text not null, n int not null default 0)`.execute(db);
      await sql`insert into ${t} (scope_key, body) select 's' || (g % 500), repeat(md5(g::text), 4) from generate_series(1, ${rows}::int) g`.execute(db);
      await sql`vacuum analyze ${t}`.execute(db);
      await applyPlan(stage, table.name);
      await runSync(ctx, { table: table.name, action: 'enable' });
      await runBackfill(ctx, { table: table.name });
      await runVerify(ctx, { table: table.name });
      const app = openDatabase({ url, maxConnections: 4, applicationName: 'bench app' });
      const latencies: number[] = [];
      let errors = 0;
      let running = true;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let k = 0; running; k++) {
          const id = 1 + ((w * 7919 + k * 104_729) % rows);
          const t0 = performance.now();
          try {
            if (k % 4 === 0) await sql`insert into ${t} (scope_key, body) values (${`s${k % 500}`}, 'live')`.execute(app.db);
            else if (k % 4 === 1) await sql`update ${t} set n = n + 1 where id = ${id}`.execute(app.db);
            else if (k % 4 === 2) await sql`update ${t} set scope_key = ${`s${(k + 1) % 500}`} where id = ${id}`.execute(app.db);
            else await sql`delete from ${t} where id = ${id + 1}`.execute(app.db);
          } catch {
            errors++;
          }
          latencies.push(performance.now() - t0);
          await sleep(5);
        }
      });
      const cut: number[] = [];
      const back: number[] = [];
      try {
        await sleep(500);
        for (let r = 0; r < o.repeat; r++) {
          const c = await runCutover(ctx, { table: table.name, confirm: table.name });
          cut.push(c.lock_held_ms);
          await sleep(300);
          const b = await runRollback(ctx, { table: table.name, confirm: table.name });
          back.push(b.lock_held_ms);
          await sleep(300);
          const slowest = (m: Record<string, number>) => Object.entries(m).sort((x, y) => y[1] - x[1]).slice(0, 3).map(([k, v]) => `${k} ${v}`).join(', ');
          o.log(`bench: ${rows} rows: repetition ${r + 1}: cutover held ${c.lock_held_ms} ms (${slowest(c.step_ms)}), rollback held ${b.lock_held_ms} ms (${slowest(b.step_ms)})`);
        }
      } finally {
        running = false;
        await Promise.all(writers);
        await app.close();
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      out.push({
        rows,
        cutover_lock_ms: median(cut),
        cutover_lock_ms_runs: cut,
        rollback_lock_ms: median(back),
        rollback_lock_ms_runs: back,
        writer_p99_ms: Math.round(sorted[Math.floor(sorted.length * 0.99)]! * 10) / 10,
        writer_max_stall_ms: Math.round(sorted.at(-1)! * 10) / 10,
        writer_errors: errors,
        writer_statements: latencies.length,
      });
    }
    return { server: `PostgreSQL ${version}`, sizes: out };
  });
}
