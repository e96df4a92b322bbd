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

/**
 * Runs `work` against a fresh database on a throwaway embedded server with
 * the benchmark settings, partgov's state schema applied and `config` written
 * to a file; stops the server and removes the scratch files afterwards.
 */
export async function withBenchDatabase<T>(major: 15 | 18, config: unknown, work: (b: BenchDatabase) => Promise<T>): Promise<T> {
  const server = await startEmbeddedServer({ major, settings: benchServerSettings });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-bench-'));
  try {
    const { url, version } = await server.createDatabase('bench');
    const conn = openDatabase({ url, maxConnections: 6 });
    try {
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
    await server.stop();
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
  await sql`drop table if exists ${sql.id(`${name}_shadow`)}`.execute(db);
  await sql`delete from partgov.backfill_checkpoint where table_name = ${`public.${name}`}`.execute(db);
  await sql`delete from partgov.backfill_batch where table_name = ${`public.${name}`}`.execute(db);
  await applyPlan(stage, name);
  await sql`checkpoint`.execute(db);
}

export const seconds = (ms: number) => Math.round(ms / 10) / 100;
/** a / b to two decimals. */
export const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
