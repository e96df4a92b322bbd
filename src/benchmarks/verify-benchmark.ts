import { sql } from 'kysely';
import { applyPlan, median, ratio, seconds, withBenchDatabase } from './bench-database.js';
import { runCliJson } from './run-cli-json.js';
import type { VerifyResult } from '../verify/run-verify.js';
import type { PartgovKysely } from '../db/state-tables.js';

/** One case of the benchmark: the shadow equal, or with 1 or 3 differing rows. */
export interface VerifyCase {
  differences: 0 | 1 | 3;
  /** The ceiling of this case, median of the repetitions. */
  ceiling_s: number;
  /** The command's own time (its JSON's started_at to finished_at), median. */
  verify_s: number;
  /** The whole `partgov verify` process, Node's start included, median. */
  process_s: number;
  /** verify_s / ceiling of the same repetition, median; each repetition's in `_runs`. */
  verify_vs_ceiling: number;
  verify_vs_ceiling_runs: number[];
  process_vs_ceiling: number;
  goal: number;
  goal_met: boolean;
  /** Queries of the row comparison, and the keys it named in the last repetition. */
  queries: number;
  keys_named: number;
  peak_rss_mb: number;
}

export interface VerifyBenchmarkResult {
  server: string;
  rows: number;
  segments: number;
  /** count(*) + sum(hash_record_extended(t, 0)) of legacy, then of the shadow, one after the other. */
  ceiling: string;
  cases: VerifyCase[];
  peak_rss_mb: number;
}

interface Envelope extends VerifyResult {
  started_at: string;
  finished_at: string;
}

/** The rows a case changes in the shadow, and how to put them back. */
async function makeDifferences(db: PartgovKysely, n: 0 | 1 | 3, mid: number): Promise<() => Promise<void>> {
  if (n >= 1) await sql`update bench_rows_shadow set body = 'changed' where id = ${mid}`.execute(db);
  if (n === 3) {
    await sql`delete from bench_rows_shadow where id = ${mid + 1}`.execute(db);
    await sql`insert into bench_rows_shadow select id + 10000000, scope_key, kind, body, payload, created_at from bench_rows where id = ${mid + 2}`.execute(db);
  }
  return async () => {
    await sql`delete from bench_rows_shadow where id in (${mid}, ${mid + 1}, ${mid + 10000002})`.execute(db);
    await sql`insert into bench_rows_shadow select * from bench_rows where id in (${mid}, ${mid + 1})`.execute(db);
  };
}

/**
 * `npm run bench:verify`: 1e6 legacy rows against a 1e6-row hash shadow that is
 * equal, has 1 changed row, or 3 differences (changed, missing, extra). In every
 * repetition each case runs right after its ceiling: the plain count and hash
 * sum of both tables read one after the other, what a DBA would type.
 */
export async function benchmarkVerify(o: { rows: number; repeat: number; segments: number; major: 15 | 18; log: (l: string) => void }): Promise<VerifyBenchmarkResult> {
  const tables = [{ name: 'bench_rows', layout: { type: 'hash', key: 'scope_key', partitions: 32 } }];
  return withBenchDatabase(o.major, { tables }, async ({ url, version, db, configFile, stage }) => {
    o.log(`bench: loading ${o.rows} rows twice into PostgreSQL ${version}`);
    await sql`create table bench_rows (id bigint primary key, scope_key text not null, kind text not null, body text not null, payload jsonb, created_at timestamptz not null)`.execute(db);
    await sql`insert into bench_rows select g, 'tenant_' || (g % 97) || ':scope_' || (g % 13), (array['a', 'b', 'c'])[1 + g % 3], repeat(md5(g::text), 5),
              case when g % 3 = 0 then null else jsonb_build_object('g', g) end, timestamptz '2026-01-01' + g * interval '1 second'
              from generate_series(1, ${o.rows}) g`.execute(db);
    await applyPlan(stage, 'bench_rows');
    await sql`insert into bench_rows_shadow select * from bench_rows`.execute(db);
    await sql`vacuum analyze`.execute(db);
    // Warm both tables into cache so neither measurement pays the first read.
    await sql`select count(*) from bench_rows`.execute(db);
    await sql`select count(*) from bench_rows_shadow`.execute(db);

    const mid = Math.floor(o.rows / 2);
    const runs = new Map<0 | 1 | 3, { ceilingMs: number; verifyMs: number; processMs: number; rss: number; queries: number; keys: number }[]>();
    for (let i = 0; i < o.repeat; i++) {
      for (const n of [0, 1, 3] as const) {
        const undo = await makeDifferences(db, n, mid);
        try {
          const t0 = performance.now();
          await sql`select count(*), sum(hash_record_extended(t, 0)) from bench_rows t`.execute(db);
          await sql`select count(*), sum(hash_record_extended(t, 0)) from bench_rows_shadow t`.execute(db);
          const ceilingMs = performance.now() - t0;
          const t1 = performance.now();
          const run = await runCliJson<Envelope>(['--config', configFile, '--database-url', url, 'verify', '--segments', String(o.segments)], [0, 1]);
          const processMs = performance.now() - t1;
          const verifyMs = Date.parse(run.finished_at) - Date.parse(run.started_at);
          const eq = run.tables[0]!.equality;
          if (eq.differing_rows !== n) throw new Error(`verify found ${eq.differing_rows} differing rows where the benchmark made ${n}`);
          runs.set(n, [...(runs.get(n) ?? []), { ceilingMs, verifyMs, processMs, rss: run.peak_rss_mb, queries: eq.queries, keys: eq.differences.length }]);
          o.log(`bench: repetition ${i + 1}, ${n} difference(s): ceiling ${seconds(ceilingMs)} s, verify ${seconds(verifyMs)} s = ${ratio(verifyMs, ceilingMs)}x (process ${seconds(processMs)} s), keys ${JSON.stringify(eq.differences.map((d) => d.key))}`);
        } finally {
          await undo();
        }
      }
    }
    const cases: VerifyCase[] = [...runs].map(([n, rs]) => {
      const ratios = rs.map((r) => ratio(r.verifyMs, r.ceilingMs));
      const goal = n === 0 ? 1 : 2;
      return {
        differences: n,
        ceiling_s: seconds(median(rs.map((r) => r.ceilingMs))),
        verify_s: seconds(median(rs.map((r) => r.verifyMs))),
        process_s: seconds(median(rs.map((r) => r.processMs))),
        verify_vs_ceiling: median(ratios),
        verify_vs_ceiling_runs: ratios,
        process_vs_ceiling: median(rs.map((r) => ratio(r.processMs, r.ceilingMs))),
        goal,
        goal_met: median(ratios) <= goal,
        queries: rs.at(-1)!.queries,
        keys_named: rs.at(-1)!.keys,
        peak_rss_mb: Math.max(...rs.map((r) => r.rss)),
      };
    });
    return {
      server: `PostgreSQL ${version}`,
      rows: o.rows,
      segments: o.segments,
      ceiling: 'count(*) + sum(hash_record_extended(t, 0)) of legacy, then of the shadow',
      cases,
      peak_rss_mb: Math.max(...cases.map((c) => c.peak_rss_mb)),
    };
  });
}
