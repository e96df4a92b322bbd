import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { parseConfig } from '../config/load-config.js';
import type { PartgovConfig } from '../config/config-schema.js';
import { startEmbeddedServer } from '../embedded/embedded-server.js';
import { openDatabase } from '../db/open-database.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { runMigrate } from '../migrate/run-migrate.js';
import { runPlan } from '../plan/run-plan.js';
import { benchServerSettings } from './bench-server-settings.js';
import { SqlState } from '../db/sqlstate.js';
import { sqlStateOf } from '../errors.js';
import { resolveSettings } from '../config/runtime-settings.js';
import { stageContext, type StageContext } from '../stage/stage-context.js';

export interface BenchDatabase {
  url: string;
  /** The server's version text, e.g. "18.4". */
  version: string;
  db: PartgovKysely;
  config: PartgovConfig;
  /** The stages' context over that database and config (lock_timeout 5 s). */
  stage: StageContext;
  /** The config written to a scratch file, for the CLI runs the benchmark times. */
  configFile: string;
}

/** A fresh database to benchmark in, and how to be rid of it. */
interface ScratchDatabase {
  url: string;
  close(): Promise<void>;
}

/**
 * With BENCH_DATABASE_URL (a superuser URL of a server you run, e.g. one with
 * pg_partman installed): a scratch database on that server, dropped afterwards.
 * Otherwise a throwaway embedded server with the benchmark settings.
 */
async function scratchDatabase(major: 15 | 18): Promise<ScratchDatabase> {
  const external = process.env.BENCH_DATABASE_URL;
  if (!external) {
    const server = await startEmbeddedServer({ major, settings: benchServerSettings });
    try {
      const { url } = await server.createDatabase('bench');
      return { url, close: () => server.stop() };
    } catch (err) {
      await server.stop();
      throw err;
    }
  }
  const name = `partgov_bench_${process.pid}`;
  const admin = openDatabase({ url: external, maxConnections: 1 });
  try {
    await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
  const url = new URL(external);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    close: async () => {
      const again = openDatabase({ url: external, maxConnections: 1 });
      try {
        await sql`drop database if exists ${sql.id(name)} with (force)`.execute(again.db);
      } finally {
        await again.close();
      }
    },
  };
}

/**
 * Runs `work` against a fresh database (see scratchDatabase) with partgov's
 * state schema applied and `config` written to a file; removes the database
 * and the scratch files afterwards.
 */
export async function withBenchDatabase<T>(major: 15 | 18, config: unknown, work: (b: BenchDatabase) => Promise<T>): Promise<T> {
  const scratch = await scratchDatabase(major);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-bench-'));
  try {
    const { url } = scratch;
    const conn = openDatabase({ url, maxConnections: 6 });
    try {
      const version = (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(conn.db)).rows[0]!.v;
      const parsed = parseConfig(config);
      const configFile = path.join(dir, 'partgov.config.json');
      await writeFile(configFile, JSON.stringify({ tables: parsed.tables }));
      const stage = stageContext(conn, { settings: resolveSettings({ lockTimeout: '5000' }, {}, parsed), config: parsed });
      await runMigrate(stage, { action: 'up' });
      return await work({ url, version, db: conn.db, config: parsed, configFile, stage });
    } finally {
      await conn.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await scratch.close();
  }
}

/** Creates `table`'s shadow from partgov's own plan, in one transaction. */
export async function applyPlan(stage: StageContext, table: string): Promise<void> {
  const plan = await runPlan(stage, { table });
  await stage.database.db.transaction().execute(async (trx) => {
    // sql.raw: statements partgov's own plan generated.
    for (const s of plan.tables[0]!.statements) await sql.raw(s.sql).execute(trx);
  });
}

/** Drops `name`'s shadow and its checkpoint, applies partgov's plan again, and checkpoints the server. */
export async function recreateShadow(stage: StageContext, name: string): Promise<void> {
  const { db } = stage.database;
  // An autovacuum of a leaf can deadlock with the drop (the detector then picks either side): try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`drop table if exists ${sql.id(`${name}_shadow`)}`.execute(db);
      break;
    } catch (err) {
      if (sqlStateOf(err) !== SqlState.deadlockDetected || attempt === 3) throw err;
    }
  }
  await sql`delete from partgov.backfill_checkpoint where table_name = ${`public.${name}`}`.execute(db);
  await sql`delete from partgov.backfill_batch where table_name = ${`public.${name}`}`.execute(db);
  await applyPlan(stage, name);
  await sql`checkpoint`.execute(db);
}

/**
 * One untimed INSERT … SELECT into a fresh shadow before the repetitions. The
 * first statement after a table's load wrote its WAL into new segments
 * (zero-filled first) where later ones reuse recycled segments: the first
 * ceiling took 4.7–5.0 s against 3.7–4.0 s for the rest, which flattered
 * whatever ran after it in that repetition by ~20%.
 */
export async function warmUp(stage: StageContext, name: string): Promise<void> {
  await recreateShadow(stage, name);
  await sql`insert into ${sql.id(`${name}_shadow`)} select * from ${sql.id(name)}`.execute(stage.database.db);
}

/**
 * The bulk load a DBA would do by hand, timed: the shadow's secondary indexes
 * dropped, one INSERT … SELECT (or, with `writers` > 1, that many at once on
 * their own connections, each over its share of `id`), then each index
 * created on the parent (which builds it on every partition). The shadow must
 * be fresh.
 */
export async function timeBulkLoad(db: PartgovKysely, name: string, writers = 1, url?: string): Promise<number> {
  const shadow = `${name}_shadow`;
  // pg_get_indexdef of a partitioned index says ON ONLY (no partition built): the by-hand build has it build them.
  const defs = await sql<{ def: string; name: string }>`
    select replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') as def, i.indexrelid::regclass::text as name
    from pg_index i where i.indrelid = ${shadow}::regclass and not i.indisunique
      and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`.execute(db);
  for (const d of defs.rows) await sql`drop index ${sql.raw(d.name)}`.execute(db); // sql.raw: regclass text, quoted by PostgreSQL
  const copy = (d: PartgovKysely, lower: string | null, upper: string | null) =>
    sql`insert into ${sql.id(shadow)} select * from ${sql.id(name)} where (${lower}::bigint is null or id > ${lower}::bigint) and (${upper}::bigint is null or id <= ${upper}::bigint)`.execute(d);
  let t0: number;
  if (writers <= 1) {
    t0 = performance.now();
    await sql`insert into ${sql.id(shadow)} select * from ${sql.id(name)}`.execute(db);
  } else {
    if (url === undefined) throw new Error('timeBulkLoad: several writers need the database URL');
    const fractions = Array.from({ length: writers - 1 }, (_, i) => (i + 1) / writers);
    const cuts = (await sql<{ cuts: string[] }>`select percentile_disc(${fractions}::float8[]) within group (order by id)::text[] as cuts from ${sql.id(name)}`.execute(db)).rows[0]!.cuts;
    const bounds = [null, ...cuts, null];
    const pool = openDatabase({ url, maxConnections: writers });
    try {
      await Promise.all(Array.from({ length: writers }, () => sql`select 1`.execute(pool.db))); // connections opened before the clock
      t0 = performance.now();
      await Promise.all(Array.from({ length: writers }, (_, i) => copy(pool.db, bounds[i] ?? null, bounds[i + 1] ?? null)));
    } finally {
      await pool.close();
    }
  }
  for (const d of defs.rows) await sql.raw(d.def).execute(db); // sql.raw: pg_get_indexdef text of the index just dropped
  const ms = performance.now() - t0;
  // The writers' shares must cover the table once: a wrong cut would time a partial copy.
  const counts = await sql<{ copied: string; legacy: string }>`select (select count(*) from ${sql.id(shadow)})::text as copied, (select count(*) from ${sql.id(name)})::text as legacy`.execute(db);
  if (counts.rows[0]!.copied !== counts.rows[0]!.legacy) throw new Error(`the by-hand bulk load copied ${counts.rows[0]!.copied} of ${counts.rows[0]!.legacy} rows`);
  return ms;
}

export const seconds = (ms: number) => Math.round(ms / 10) / 100;
/** a / b to two decimals. */
export const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
