import { captureTriggerNames } from '../changelog/change-log.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Migrator, NO_MIGRATIONS, sql, type MigrationResultSet } from 'kysely';
import type { PartgovKysely } from '../db/state-tables.js';
import pRetry from 'p-retry';
import { DatabaseError, InputInvalidError, LockUnavailableError, PartgovError, SafetyRefusedError, sqlStateOf, toPartgovError } from '../errors.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { isRetryableLockError, SqlState } from '../db/sqlstate.js';
import { writeAudit } from '../steps/run-steps.js';
import { z } from 'zod';
import { judged, type StageVerdict } from '../checks/check.js';
import type { StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput } from '../stage/stage-input.js';
import { migratorFor, stateMigrationsFolder, stateSchema, type MigrationSetName } from '../state/state-schema.js';

export interface MigrationStatus {
  set: MigrationSetName;
  name: string;
  executed_at: string | null;
}

export interface MigrationStepResult {
  set: MigrationSetName;
  name: string;
  direction: 'up' | 'down';
  status: 'success' | 'error' | 'not_executed';
}

export interface MigrateResult extends StageVerdict {
  action: 'up' | 'down' | 'status';
  dry_run: boolean;
  /** With dryRun: what up (or down) would run, in order, with each file's SQL; nothing was applied. */
  planned: { set: MigrationSetName; name: string; direction: 'up' | 'down'; sql: string }[];
  applied: MigrationStepResult[];
  migrations: MigrationStatus[];
  pending: number;
}

/** migrate's input: defaults and limits once, for the library and the CLI. */
export const migrateInputSchema = z.object({
  action: z.enum(['up', 'down', 'status'], { error: 'must be up, down or status' }).describe('up | down | status'),
  all: flagInput('with down: revert every migration (plan set first, then state), not only the last'),
  dryRun: flagInput('with up/down: print the SQL of what would run, apply nothing'),
  planFolder: textInput("folder of plan migrations applied after the state schema (default: the config's migrations_dir; skipped when it does not exist)").optional(),
});
export type MigrateInput = z.input<typeof migrateInputSchema>;

interface MigrateOptions {
  action: 'up' | 'down' | 'status';
  all: boolean;
  planFolder: string | undefined;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  lockRetries: number;
  dryRun: boolean;
  appEnv: string;
  project: string | undefined;
}

/** Runs one Migrator call, retrying the whole call when a migration hit a lock timeout. */
async function runSet(
  set: MigrationSetName,
  call: () => Promise<MigrationResultSet>,
  o: MigrateOptions,
): Promise<MigrationStepResult[]> {
  try {
    const outcome = await pRetry(
      async () => {
        const r = await call();
        if (r.error) throw r.error;
        return r;
      },
      { retries: o.lockRetries, minTimeout: 200, factor: 2, randomize: true, shouldRetry: ({ error }) => isRetryableLockError(error) },
    );
    return (outcome.results ?? []).map((r) => ({
      set,
      name: r.migrationName,
      direction: r.direction === 'Up' ? 'up' : 'down',
      status: r.status === 'Success' ? 'success' : r.status === 'Error' ? 'error' : 'not_executed',
    }));
  } catch (err) {
    if (isRetryableLockError(err)) {
      throw new LockUnavailableError(`migrate ${o.action}: a ${set} migration could not get its lock within ${o.lockTimeoutMs} ms after ${o.lockRetries + 1} attempts`, {
        fix: 'another session holds a lock on a table the migration changes; run again when it is gone, or raise --lock-timeout',
        cause: err,
      });
    }
    const missing = /previously executed migration (\S+) is missing/.exec((err as Error).message ?? '');
    if (missing) {
      throw new InputInvalidError(`migrate ${o.action}: ${set} migration ${missing[1]} was applied to this database but is not in the migrations folder`, {
        fix: 'point "migrations_dir" at the folder the applied plan came from, or restore the file; a second config sharing this database needs its own "project" name in the config (each project keeps its own plan history)',
        cause: err,
      });
    }
    const e = toPartgovError(err);
    if (e instanceof PartgovError && e.code !== 'database_error') throw e;
    const denied = sqlStateOf(err) === SqlState.insufficientPrivilege;
    throw new DatabaseError(`migrate ${o.action}: a ${set} migration failed and was rolled back: ${(err as Error).message}`, {
      fix: denied && set === 'state'
        ? 'partgov keeps its state in a schema of its own, "partgov": let this role create it (GRANT CREATE ON DATABASE <db> TO <this role>, as the database owner), then run `partgov migrate up` again (`partgov preflight` checks this)'
        : denied
          ? "the plan's DDL runs as this role: run partgov as the tables' owner or a member of the owning role, with CREATE on their schema (`partgov preflight` lists what is missing), then run `partgov migrate up` again"
          : 'read the error, fix the migration file or the database, and run `partgov migrate up` again',
      cause: err,
    });
  }
}

/**
 * `migrate down` drops shadows (plan set) or the state schema the change log
 * replays into; with sync on, the application's TRUNCATE would then fail and
 * the log would grow unread. Refused until sync is disabled.
 */
async function assertNoSyncOn(db: PartgovKysely): Promise<void> {
  const r = await sql<{ t: string }>`
    select format('%s.%s', n.nspname, c.relname) as t from pg_trigger g
    join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where g.tgname in (${captureTriggerNames('forward').insert}, ${captureTriggerNames('reverse').insert}) order by 1`.execute(db);
  if (r.rows.length > 0) {
    const tables = r.rows.map((x) => x.t);
    throw new SafetyRefusedError('migrate-down-while-sync-on', `sync is enabled on ${tables.join(', ')}: migrate down would remove what its change log replays into`, {
      fix: `run \`partgov sync disable --table <t>\` for ${tables.join(', ')} first (the shadow then stops following), then migrate down`,
      details: { tables },
    });
  }
}

async function statusOf(db: PartgovKysely, sets: [MigrationSetName, Migrator][]): Promise<MigrationStatus[]> {
  const out: MigrationStatus[] = [];
  for (const [set, m] of sets) {
    for (const info of await m.getMigrations()) {
      out.push({ set, name: info.name, executed_at: info.executedAt ? info.executedAt.toISOString() : null });
    }
  }
  return out;
}

/**
 * `partgov migrate up|down|status`: the state schema first, then the plan
 * migrations. `up` twice is a no-op. A second concurrent run exits 4 at once
 * (advisory lock on ("migrate", "partgov")).
 */
export async function runMigrate(ctx: StageContext, input: MigrateInput): Promise<MigrateResult> {
  const i = parseStageInput('migrate', migrateInputSchema, input);
  const r = await migrate(ctx.database.db, {
    ...i,
    planFolder: i.planFolder ?? ctx.config?.migrations_dir,
    lockTimeoutMs: ctx.settings.lockTimeoutMs,
    statementTimeoutMs: ctx.settings.statementTimeoutMs,
    lockRetries: ctx.settings.lockRetries,
    appEnv: ctx.settings.appEnv,
    project: ctx.config?.project,
  });
  const failed = r.applied.filter((a) => a.status === 'error');
  return judged(r, [
    failed.length > 0
      ? { name: 'migrations', status: 'fail', detail: `${failed.map((a) => `${a.set}/${a.name}`).join(', ')} failed`, objects: failed.map((a) => a.name) }
      : { name: 'migrations', status: 'pass', detail: r.dry_run ? `${r.planned.length} migration(s) would run` : `${r.applied.length} applied, ${r.pending} pending`, figures: { applied: r.applied.length, pending: r.pending } },
  ]);
}

async function migrate(db: PartgovKysely, o: MigrateOptions): Promise<Omit<MigrateResult, keyof StageVerdict>> {
  const sets: [MigrationSetName, Migrator][] = [['state', migratorFor(db, 'state', stateMigrationsFolder, o)]];
  if (o.planFolder && existsSync(o.planFolder)) sets.push(['plan', migratorFor(db, 'plan', o.planFolder, o)]);

  if (o.action === 'status') {
    const migrations = await statusOf(db, sets);
    return { action: 'status', dry_run: false, planned: [], applied: [], migrations, pending: migrations.filter((m) => !m.executed_at).length };
  }
  if (o.dryRun) {
    const migrations = await statusOf(db, sets);
    const folderOf = (set: MigrationSetName) => (set === 'state' ? stateMigrationsFolder : o.planFolder!);
    const fileSql = (set: MigrationSetName, name: string, direction: 'up' | 'down') =>
      readFile(path.join(folderOf(set), `${name}.${direction}.sql`), 'utf8').catch(() => '-- (no down file)');
    let chosen: MigrationStatus[];
    if (o.action === 'up') chosen = migrations.filter((m) => !m.executed_at);
    else {
      const done = migrations.filter((m) => m.executed_at);
      const newestSet = done.some((m) => m.set === 'plan') ? 'plan' : 'state';
      const inSet = done.filter((m) => m.set === newestSet).reverse();
      chosen = o.all ? [...done.filter((m) => m.set === 'plan').reverse(), ...done.filter((m) => m.set === 'state').reverse()] : inSet.slice(0, 1);
    }
    const direction = o.action === 'up' ? 'up' : 'down';
    const planned = await Promise.all(chosen.map(async (m) => ({ set: m.set, name: m.name, direction, sql: await fileSql(m.set, m.name, direction) }) as const));
    return { action: o.action, dry_run: true, planned, applied: [], migrations, pending: migrations.filter((m) => !m.executed_at).length };
  }

  const applied = await withAdvisoryLock(db, 'migrate', stateSchema, async () => {
    const steps: MigrationStepResult[] = [];
    if (o.action === 'up') {
      for (const [set, m] of sets) steps.push(...(await runSet(set, () => m.migrateToLatest(), o)));
      return steps;
    }
    await assertNoSyncOn(db);
    // down: the plan set depends on nothing of the state set, but is newer, so it goes first.
    for (const [set, m] of [...sets].reverse()) {
      const executed = (await m.getMigrations()).filter((i) => i.executedAt);
      if (executed.length === 0) continue;
      steps.push(...(await runSet(set, () => (o.all ? m.migrateTo(NO_MIGRATIONS) : m.migrateDown()), o)));
      if (!o.all) break;
    }
    return steps;
  });
  const migrations = await statusOf(db, sets);
  if (applied.length > 0) {
    // The state schema may just have been removed (down --all): then there is no audit log to write to.
    await writeAudit(db, { command: `migrate ${o.action}`, table: null, appEnv: o.appEnv }, applied.every((a) => a.status === 'success') ? 'succeeded' : 'failed',
      applied.map((a) => ({ id: `${a.set}/${a.name}`, description: `${a.direction} ${a.set} migration ${a.name}`, sql: `-- ${a.set}/${a.name}.${a.direction}.sql`, status: a.status === 'success' ? 'succeeded' : a.status === 'error' ? 'failed' : 'not_executed' })),
      { all: o.all === true, plan_folder: o.planFolder ?? null }).catch(() => undefined);
  }
  return { action: o.action, dry_run: false, planned: [], applied, migrations, pending: migrations.filter((m) => !m.executed_at).length };
}
