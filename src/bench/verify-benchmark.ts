import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { parseConfig } from '../config/load-config.js';
import { startEmbeddedServer } from '../db/embedded-server.js';
import { benchServerSettings } from './bench-server-settings.js';
import { openDatabase } from '../db/open-database.js';
import { runMigrate } from '../migrate/run-migrate.js';
import { runPlan } from '../plan/run-plan.js';
import { runCliJson } from './run-cli-json.js';
import type { VerifyResult } from '../verify/run-verify.js';

export interface VerifyBenchmarkResult {
  server: string;
  rows: number;
  /** sum(hashtextextended(t::text, 0)) over legacy, then over the shadow: the in-database ceiling. */
  ceiling_full_hash_both_s: number;
  verify_s: number;
  /** verify / ceiling, median of the repetitions: goal <= 1.3. */
  verify_vs_ceiling: number;
  verify_vs_ceiling_runs: number[];
  bisect_one_row_s: number;
  bisect_queries: number;
  /** Time to find the one differing row's key, over the ceiling: goal <= 2. */
  bisect_vs_ceiling: number;
  peak_rss_mb: number;
}

interface Envelope extends VerifyResult {
  started_at: string;
  finished_at: string;
}

function verifyCli(url: string, configFile: string): Promise<Envelope> {
  return runCliJson<Envelope>(['--config', configFile, '--database-url', url, 'verify'], [0, 1]);
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;

/**
 * `npm run bench:verify`: 1e6 legacy rows against an exact 1e6-row hash shadow.
 * Times the plain full-table hash of both tables (the ceiling), `partgov
 * verify`, and verify again with one changed row (the bisect), in one run.
 */
export async function benchmarkVerify(o: { rows: number; repeat: number; major: 15 | 18; log: (l: string) => void }): Promise<VerifyBenchmarkResult> {
  const server = await startEmbeddedServer({ major: o.major, settings: benchServerSettings });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-bench-verify-'));
  try {
    const { url, version } = await server.createDatabase('bench');
    const conn = openDatabase({ url, maxConnections: 2 });
    const db = conn.db;
    const config = parseConfig({ tables: [{ name: 'bench_rows', layout: { type: 'hash', key: 'scope_key', partitions: 32 } }] });
    const configFile = path.join(dir, 'partgov.config.json');
    await writeFile(configFile, JSON.stringify({ tables: config.tables }));
    await runMigrate(db, { action: 'up', lockTimeoutMs: 5000, statementTimeoutMs: 0, lockRetries: 2 });
    o.log(`bench: loading ${o.rows} rows twice into PostgreSQL ${version}`);
    await sql`create table bench_rows (id bigint primary key, scope_key text not null, kind text not null, body text not null, payload jsonb, created_at timestamptz not null)`.execute(db);
    await sql`insert into bench_rows select g, 'tenant_' || (g % 97) || ':scope_' || (g % 13), (array['a', 'b', 'c'])[1 + g % 3], repeat(md5(g::text), 5),
              case when g % 3 = 0 then null else jsonb_build_object('g', g) end, timestamptz '2026-01-01' + g * interval '1 second'
              from generate_series(1, ${o.rows}) g`.execute(db);
    const plan = await runPlan(db, config);
    await db.transaction().execute(async (trx) => {
      // sql.raw: statements partgov's own plan generated.
      for (const s of plan.tables[0]!.statements) await sql.raw(s.sql).execute(trx);
    });
    await sql`insert into bench_rows_shadow select * from bench_rows`.execute(db);
    await sql`vacuum analyze`.execute(db);
    // Warm both tables into cache so neither measurement pays the first read.
    await sql`select count(*) from bench_rows`.execute(db);
    await sql`select count(*) from bench_rows_shadow`.execute(db);

    // Interleaved repetitions of the ceiling and verify; medians reported (this 2-core VM is noisy).
    const reps: { ceilingMs: number; verifyMs: number; rss: number }[] = [];
    for (let i = 0; i < o.repeat; i++) {
      const t0 = performance.now();
      await sql`select sum(hashtextextended(t::text, 0)) from bench_rows t`.execute(db);
      await sql`select sum(hashtextextended(t::text, 0)) from bench_rows_shadow t`.execute(db);
      const ceilingMs = performance.now() - t0;
      const run = await verifyCli(url, configFile);
      const verifyMs = Date.parse(run.finished_at) - Date.parse(run.started_at);
      reps.push({ ceilingMs, verifyMs, rss: run.peak_rss_mb });
      o.log(`bench: repetition ${i + 1}: hash of both tables ${seconds(ceilingMs)} s, verify ${seconds(verifyMs)} s = ${(verifyMs / ceilingMs).toFixed(2)}x, ${run.tables[0]!.equality.differing_rows} differing`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratios = reps.map((r) => Math.round((r.verifyMs / r.ceilingMs) * 100) / 100);
    const ceilingMs = median(reps.map((r) => r.ceilingMs));
    const verifyMs = median(reps.map((r) => r.verifyMs));
    const equal = { peak_rss_mb: Math.max(...reps.map((r) => r.rss)) };

    await sql`update bench_rows_shadow set body = 'changed' where id = ${Math.floor(o.rows / 2)}`.execute(db);
    const t0 = performance.now();
    const diff = await verifyCli(url, configFile);
    const diffMs = performance.now() - t0;
    const eq = diff.tables[0]!.equality;
    o.log(`bench: verify with one changed row: ${seconds(diffMs)} s total, bisect ${seconds(eq.bisect_ms)} s in ${eq.queries - 2} extra queries, found ${JSON.stringify(eq.differences)}`);
    await conn.close();
    return {
      server: `PostgreSQL ${version}`,
      rows: o.rows,
      ceiling_full_hash_both_s: seconds(ceilingMs),
      verify_s: seconds(verifyMs),
      verify_vs_ceiling: median(ratios),
      verify_vs_ceiling_runs: ratios,
      bisect_one_row_s: seconds(eq.bisect_ms),
      bisect_queries: eq.queries - 2,
      bisect_vs_ceiling: Math.round((eq.bisect_ms / ceilingMs) * 100) / 100,
      peak_rss_mb: Math.max(equal.peak_rss_mb, diff.peak_rss_mb),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await server.stop();
  }
}
