import { sql, type RawBuilder } from 'kysely';
import { resolveSettings } from '../config/runtime-settings.js';
import { openDatabase, type PartgovDatabase } from '../db/open-database.js';
import type { PartgovConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { runIsolate } from '../maintain/isolate-scope.js';
import { runPurge } from '../purge/run-purge.js';
import { median, withBenchDatabase } from './bench-database.js';
import { stageContext } from '../stage/stage-context.js';

/** One partition-mode purge: the whole table step and the exclusive-lock hold (grant through COMMIT). */
export interface PartitionPurgeFigure {
  ms: number;
  lock_ms: number;
  total_ms: number;
  /** DEFAULT leaves the purge read to prove them free of the scope (see PurgeTableResult.default_leaves_read). */
  default_leaves_read: number;
}

export interface PurgeBenchmarkResult {
  server: string;
  table_rows: number;
  scope_rows: number;
  /** partition mode emptying the scope's partition by TRUNCATE (purge.swap_min_mb above its size). */
  truncate: PartitionPurgeFigure;
  /** partition mode swapping in an empty twin (purge.swap_min_mb 0): guards validated online, catalog changes under the lock, old files dropped after COMMIT. */
  swap: PartitionPurgeFigure;
  /** The scope's first swap: its guards were not in place yet, so every DEFAULT leaf was read (the median is of swaps that read one). */
  swap_first: PartitionPurgeFigure;
  /** delete mode: batched DELETE of the same rows, then the VACUUM it needs. */
  delete_ms: number;
  delete_longest_batch_ms: number;
  vacuum_ms: number;
  delete_total_ms: number;
  /**
   * The floor of any partition-mode purge: a bare `TRUNCATE` of the scope's
   * partition in its own transaction, no partgov around it (most of it is the
   * COMMIT handing the files' blocks back to the filesystem).
   */
  bare_truncate_ms: number;
  /** 1 - x / (delete + vacuum): the operation's time, and the time the application is locked out (goal >= 0.99). */
  saved: { truncate_time: number; swap_time: number; truncate_lock: number; swap_lock: number; bare_truncate_time: number };
  /** Partition-mode purge per scope size, both ways: goal flat. */
  by_scope_size: { scope_rows: number; truncate: PartitionPurgeFigure; swap: PartitionPurgeFigure }[];
  /** isolate of a new scope: exclusive-lock hold per table size (goal <= 10 ms). */
  isolate: { table_rows: number; lock_ms: number; lock_ms_runs: number[] }[];
  /**
   * isolate of a new scope keyed by a uuid at the largest size: its DEFAULT leaf copied online
   * (isolate.copy_leaf_min_mb 0) against the leaf's CHECK scanned under the lock, interleaved.
   */
  isolate_uuid: { table_rows: number; leaf_mb: number; copy: { lock_ms: number; total_ms: number; lock_ms_runs: number[] }; scan: { lock_ms: number; total_ms: number; rows_scanned: number; lock_ms_runs: number[] } } | null;
}

const tenant = 'bench';

/** The key is the text `tenant:scope`, or with `uuidKey` md5 of it as a uuid (an id of its own, as a workspace id is). */
const keyOf = (uuidKey: boolean, tenantId: string, scope: RawBuilder<unknown>) => (uuidKey ? sql`md5(${tenantId}::text || ':' || ${scope})::uuid` : sql`${tenantId}::text || ':' || ${scope}`);

async function createScopedTable(db: PartgovKysely, name: string, isolated: string[], uuidKey = false, leaves = 32): Promise<void> {
  const t = sql.id(name);
  await sql`create table ${t} (id bigint generated always as identity, tenant_id text not null, scope text not null, scope_key ${uuidKey ? sql`uuid` : sql`text`} not null,
    body text not null, payload jsonb not null, created_at timestamptz not null default now(), primary key (scope_key, id)) partition by list (scope_key)`.execute(db);
  for (const s of isolated) await sql`create table ${sql.id(`${name}_iso_${s}`)} partition of ${t} for values in (${sql.lit(`${tenant}:${s}`)})`.execute(db);
  await sql`create table ${sql.id(`${name}_default`)} partition of ${t} default partition by hash (scope_key)`.execute(db);
  for (let r = 0; r < leaves; r++) await sql`create table ${sql.id(`${name}_default_p${r}`)} partition of ${sql.id(`${name}_default`)} for values with (modulus ${sql.lit(leaves)}, remainder ${sql.lit(r)})`.execute(db);
  // The example's memory_nodes indexes: what a DELETE leaves VACUUM to clean.
  await sql`create index ${sql.id(`${name}_created_idx`)} on ${t} (scope_key, created_at desc)`.execute(db);
  await sql`create index ${sql.id(`${name}_payload_idx`)} on ${t} using gin (payload jsonb_path_ops)`.execute(db);
}

async function fill(db: PartgovKysely, name: string, tenantId: string, scope: string | null, rows: number, uuidKey = false): Promise<void> {
  // scope null: background rows spread over 500 other scopes.
  const scopeOf = sql`coalesce(${scope}::text, 's' || (g % 500))`;
  await sql`insert into ${sql.id(name)} (tenant_id, scope, scope_key, body, payload)
    select ${tenantId}::text, ${scopeOf}, ${keyOf(uuidKey, tenantId, scopeOf)}, repeat(md5(g::text), 4),
           jsonb_build_object('g', g, 'kind', (array['fact', 'episode', 'summary'])[1 + g % 3], 'tags', jsonb_build_array('t' || (g % 17), 't' || (g % 29)))
    from generate_series(1, ${rows}::int) g`.execute(db);
}

/**
 * `npm run bench:purge`: a scope of `scopeRows` in a table of `tableRows`
 * purged in partition mode, by TRUNCATE and by swap, against delete mode plus
 * its VACUUM, interleaved; both partition-mode ways per scope size; and
 * isolate's exclusive-lock hold for a new scope at each table size.
 */
export async function benchmarkPurge(o: { tableRows: number; scopeRows: number; sizes: number[]; isolateSizes: number[]; repeat: number; major: 15 | 18; log: (l: string) => void }): Promise<PurgeBenchmarkResult> {
  const tables = [{ name: 'scoped', layout: { type: 'isolatable', key: 'scope_key', partitions: 32 }, tenant_column: 'tenant_id', scope_column: 'scope' }];
  return withBenchDatabase(o.major, { tables }, async ({ url, version, db, config }) => {
    const settings = resolveSettings({ lockTimeout: '5000' }, {}, undefined);
    const conn = openDatabase({ url, maxConnections: 4 });
    try {
      const sizeScopes = o.sizes.map((n) => `n${n}`);
      await createScopedTable(db, 'scoped', ['big', ...sizeScopes]);
      o.log(`bench: loading ${o.tableRows} background rows into PostgreSQL ${version}`);
      await fill(db, 'scoped', 'other', null, o.tableRows);
      await sql`vacuum analyze scoped`.execute(db);
      const truncateConfig = { ...config, purge: { ...config.purge, swap_min_mb: 1e9 } };
      const swapConfig = { ...config, purge: { ...config.purge, swap_min_mb: 0 } };
      const purge = (scope: string, mode: 'partition' | 'delete', cfg = truncateConfig) => runPurge(stageContext(conn, { settings, config: cfg }), { tenantId: tenant, scope, confirm: `${tenant}/${scope}`, mode });
      const figure = (r: Awaited<ReturnType<typeof purge>>): PartitionPurgeFigure => ({ ms: r.tables[0]!.ms, lock_ms: r.tables[0]!.lock_held_ms, total_ms: r.duration_ms, default_leaves_read: r.tables[0]!.default_leaves_read });
      const medianFigure = (xs: PartitionPurgeFigure[]): PartitionPurgeFigure => ({ ms: median(xs.map((x) => x.ms)), lock_ms: median(xs.map((x) => x.lock_ms)), total_ms: median(xs.map((x) => x.total_ms)), default_leaves_read: median(xs.map((x) => x.default_leaves_read)) });
      /** Fills the scope afresh and purges it one way (the checkpoint first, so no purge pays for another's dirty pages). */
      const purgeFresh = async (scope: string, rows: number, how: 'truncate' | 'swap' | 'delete') => {
        await fill(db, 'scoped', tenant, scope, rows);
        await sql`checkpoint`.execute(db);
        return how === 'delete' ? purge(scope, 'delete') : purge(scope, 'partition', how === 'swap' ? swapConfig : truncateConfig);
      };

      const reps: { truncate: PartitionPurgeFigure; swap: PartitionPurgeFigure; del: number; delTotal: number; batch: number; vacuum: number; bare: number }[] = [];
      for (let i = 0; i < o.repeat; i++) {
        await fill(db, 'scoped', tenant, 'big', o.scopeRows);
        await sql`checkpoint`.execute(db);
        const b0 = performance.now();
        await sql`truncate scoped_iso_big`.execute(db);
        const bare = Math.round((performance.now() - b0) * 10) / 10;
        const tr = figure(await purgeFresh('big', o.scopeRows, 'truncate'));
        const sw = figure(await purgeFresh('big', o.scopeRows, 'swap'));
        const d = await purgeFresh('big', o.scopeRows, 'delete');
        const t0 = performance.now();
        await sql`vacuum scoped_iso_big`.execute(db);
        const vacuum = performance.now() - t0;
        reps.push({ truncate: tr, swap: sw, del: d.tables[0]!.ms, delTotal: d.duration_ms, batch: d.tables[0]!.lock_held_ms, vacuum, bare });
        o.log(`bench: repetition ${i + 1}: bare TRUNCATE ${bare} ms, truncate ${tr.ms} ms (lock ${tr.lock_ms} ms), swap ${sw.ms} ms (lock ${sw.lock_ms} ms, ${sw.default_leaves_read} DEFAULT leaves read), delete ${d.tables[0]!.ms} ms + vacuum ${Math.round(vacuum)} ms`);
      }
      const truncate = medianFigure(reps.map((r) => r.truncate));
      const swap = medianFigure(reps.map((r) => r.swap));
      const deleteMs = median(reps.map((r) => r.del));
      const vacuumMs = median(reps.map((r) => r.vacuum));
      const bareMs = median(reps.map((r) => r.bare));
      const saved = (x: number) => Math.round((1 - x / (deleteMs + vacuumMs)) * 1000) / 1000;

      const bySize: PurgeBenchmarkResult['by_scope_size'] = [];
      for (const [j, n] of o.sizes.entries()) {
        const runs: { truncate: PartitionPurgeFigure; swap: PartitionPurgeFigure }[] = [];
        for (let i = 0; i < o.repeat; i++) {
          runs.push({ truncate: figure(await purgeFresh(sizeScopes[j]!, n, 'truncate')), swap: figure(await purgeFresh(sizeScopes[j]!, n, 'swap')) });
        }
        bySize.push({ scope_rows: n, truncate: medianFigure(runs.map((r) => r.truncate)), swap: medianFigure(runs.map((r) => r.swap)) });
        o.log(`bench: ${n}-row scope: truncate lock ${bySize.at(-1)!.truncate.lock_ms} ms, swap lock ${bySize.at(-1)!.swap.lock_ms} ms`);
      }

      const isolate: PurgeBenchmarkResult['isolate'] = [];
      for (const size of o.isolateSizes) {
        const name = `iso${size}`;
        await createScopedTable(db, name, []);
        await fill(db, name, 'other', null, size);
        await sql`vacuum analyze ${sql.id(name)}`.execute(db);
        const isoConfig = { ...config, tables: [{ ...config.tables[0]!, name }] };
        const runs: number[] = [];
        for (let i = 0; i < o.repeat; i++) {
          const r = await runIsolate(stageContext(conn, { settings, config: isoConfig }), { tenantId: tenant, scope: `new${i}`, confirm: `${tenant}/new${i}` });
          runs.push(r.tables[0]!.lock_held_ms);
        }
        isolate.push({ table_rows: size, lock_ms: median(runs), lock_ms_runs: runs });
        o.log(`bench: isolate a new scope in ${size} rows: exclusive locks ${median(runs)} ms [${runs.join(', ')}]`);
      }
      const isolateUuid = o.isolateSizes.length > 0 ? await benchmarkUuidIsolate(db, conn, config, settings, Math.max(...o.isolateSizes), o.repeat, o.log) : null;
      return {
        server: `PostgreSQL ${version}`,
        table_rows: o.tableRows + o.scopeRows,
        scope_rows: o.scopeRows,
        truncate,
        swap,
        swap_first: reps[0]!.swap,
        delete_ms: deleteMs,
        delete_longest_batch_ms: median(reps.map((r) => r.batch)),
        vacuum_ms: Math.round(vacuumMs),
        delete_total_ms: median(reps.map((r) => r.delTotal)),
        bare_truncate_ms: bareMs,
        saved: { truncate_time: saved(truncate.ms), swap_time: saved(swap.ms), truncate_lock: saved(truncate.lock_ms), swap_lock: saved(swap.lock_ms), bare_truncate_time: saved(bareMs) },
        by_scope_size: bySize,
        isolate,
        isolate_uuid: isolateUuid,
      };
    } finally {
      await conn.close();
    }
  });
}


/**
 * A new scope of a uuid-keyed table of `rows` rows (DEFAULT hashed 4 ways: leaves well above
 * isolate.copy_leaf_min_mb, as in a bigger table hashed 32 ways), isolated `repeat`
 * times each way, interleaved: its DEFAULT leaf copied online, and its leaf's CHECK scanned
 * under the lock (isolate.copy_leaf_min_mb above the leaf's size).
 */
async function benchmarkUuidIsolate(db: PartgovKysely, conn: PartgovDatabase, config: PartgovConfig, settings: RuntimeSettings, rows: number, repeat: number, log: (l: string) => void): Promise<NonNullable<PurgeBenchmarkResult['isolate_uuid']>> {
  const name = `isou${rows}`;
  await createScopedTable(db, name, [], true, 4);
  await fill(db, name, 'other', null, rows, true);
  await sql`vacuum analyze ${sql.id(name)}`.execute(db);
  const table = { ...config.tables[0]!, name, layout: { ...config.tables[0]!.layout, partitions: 4 }, tenant_column: 'tenant_id', scope_column: 'scope_key' };
  const copyConfig = { ...config, tables: [table], isolate: { copy_leaf_min_mb: 0 } };
  const scanConfig = { ...config, tables: [table], isolate: { copy_leaf_min_mb: 1e9 } };
  const runs = { copy: [] as { lock: number; total: number }[], scan: [] as { lock: number; total: number; rows: number }[] };
  let leafMb = 0;
  for (let i = 0; i < repeat; i++) {
    for (const way of ['copy', 'scan'] as const) {
      const key = (await sql<{ k: string }>`select md5(${`new-${way}-${i}`}::text)::uuid::text as k`.execute(db)).rows[0]!.k;
      const t0 = performance.now();
      const r = await runIsolate(stageContext(conn, { settings, config: way === 'copy' ? copyConfig : scanConfig }), { tenantId: tenant, scope: key, confirm: `${tenant}/${key}` });
      const total = performance.now() - t0;
      const t = r.tables[0]!;
      if ((way === 'copy') !== (t.rows_scanned_under_lock === 0)) throw new Error(`isolate (${way}) scanned ${t.rows_scanned_under_lock} rows under the lock`);
      if (way === 'copy') runs.copy.push({ lock: t.lock_held_ms, total });
      else runs.scan.push({ lock: t.lock_held_ms, total, rows: t.rows_scanned_under_lock });
      const leaf = t.default_leaf!;
      leafMb = Number((await sql<{ b: string }>`select pg_relation_size(${leaf}::regclass)::text as b`.execute(db)).rows[0]!.b) / 1024 / 1024;
    }
    log(`bench: isolate a new uuid scope in ${rows} rows, repetition ${i + 1}: leaf copied ${runs.copy.at(-1)!.lock} ms locked (${Math.round(runs.copy.at(-1)!.total)} ms in all); leaf scanned ${runs.scan.at(-1)!.lock} ms locked`);
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    table_rows: rows,
    leaf_mb: round(leafMb),
    copy: { lock_ms: median(runs.copy.map((x) => x.lock)), total_ms: round(median(runs.copy.map((x) => x.total))), lock_ms_runs: runs.copy.map((x) => x.lock) },
    scan: { lock_ms: median(runs.scan.map((x) => x.lock)), total_ms: round(median(runs.scan.map((x) => x.total))), rows_scanned: median(runs.scan.map((x) => x.rows)), lock_ms_runs: runs.scan.map((x) => x.lock) },
  };
}
