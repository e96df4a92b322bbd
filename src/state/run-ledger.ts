import { sql } from 'kysely';
import type { PartgovKysely } from '../db/state-tables.js';

export interface RunRecord {
  command: string;
  table: string | null;
  appEnv: string;
  startedAt: Date;
  status: 'succeeded' | 'failed';
  args: Record<string, unknown>;
  result: unknown;
  error?: string | null;
}

/** Whether partgov.run exists (the state schema is applied): a command before `migrate up` records nothing. */
async function ledgerExists(db: PartgovKysely): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`select to_regclass('partgov.run') is not null and has_table_privilege('partgov.run', 'INSERT') as ok`.execute(db);
  return r.rows[0]!.ok;
}

/**
 * Appends one row to partgov.run: what ran, on which table, with which
 * flags, and its whole result, so a later stage can ask "did the latest
 * verify of T pass, and when" from the database. Returns the row id, or null
 * when the state schema is not there (yet).
 */
export async function recordRun(db: PartgovKysely, r: RunRecord): Promise<string | null> {
  if (!(await ledgerExists(db))) return null;
  const row = await db
    .insertInto('partgov.run')
    .values({
      command: r.command,
      table_name: r.table,
      app_env: r.appEnv,
      status: r.status,
      started_at: r.startedAt,
      finished_at: new Date(),
      args: JSON.stringify(r.args),
      result: JSON.stringify(r.result ?? null),
      error: r.error ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface LatestRun {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  started_at: Date;
  finished_at: Date | null;
  result: unknown;
}

/** The newest recorded run of `command` on `table`, or undefined. */
export async function latestRun(db: PartgovKysely, command: string, table: string): Promise<LatestRun | undefined> {
  if (!(await ledgerExists(db))) return undefined;
  return (await db
    .selectFrom('partgov.run')
    .select(['id', 'status', 'started_at', 'finished_at', 'result'])
    .where('command', '=', command)
    .where('table_name', '=', table)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()) as LatestRun | undefined;
}

/** When `command` last succeeded on `table`, from partgov.audit_log (stages that change things write it themselves). */
export async function lastSucceeded(db: PartgovKysely, command: string, table: string): Promise<Date | undefined> {
  const r = await sql<{ at: Date }>`
    select at from partgov.audit_log where command = ${command} and table_name = ${table} and outcome = 'succeeded'
    order by id desc limit 1`.execute(db).catch(() => ({ rows: [] as { at: Date }[] }));
  return r.rows[0]?.at;
}
