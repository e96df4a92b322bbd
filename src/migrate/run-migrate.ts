import { captureTriggerNames } from '../changelog/change-log.js';
import { existsSync } from 'node:fs';
import { Migrator, NO_MIGRATIONS, sql, type MigrationResultSet } from 'kysely';
import type { PartgovKysely } from '../db/state-tables.js';
import pRetry from 'p-retry';
import { DatabaseError, InputInvalidError, LockUnavailableError, PartgovError, SafetyRefusedError, toPartgovError } from '../errors.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { isRetryableLockError } from '../db/sqlstate.js';
import { packagePath } from '../package-root.js';
import { SqlMigrationProvider } from './sql-migration-provider.js';

/** partgov's own state schema migrations ship in the package's migrations/ folder. */
export const stateMigrationsFolder = packagePath('migrations');
export const stateSchema = 'partgov';

/** The two migration sets partgov manages: its own state, and the DDL `partgov plan --out` wrote. */
export type MigrationSetName = 'state' | 'plan';

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

export interface MigrateResult {
  action: 'up' | 'down' | 'status';
  applied: MigrationStepResult[];
  migrations: MigrationStatus[];
  pending: number;
}

export interface MigrateOptions {
  action: 'up' | 'down' | 'status';
  /** With down: revert everything (plan set first, then state) instead of one step. */
  all?: boolean;
  /** Folder of plan migrations to apply after the state schema; skipped when it does not exist. */
  planFolder?: string | undefined;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  lockRetries: number;
}

function migratorFor(db: PartgovKysely, set: MigrationSetName, folder: string, o: MigrateOptions): Migrator {
  return new Migrator({
    db,
    provider: new SqlMigrationProvider({
      folder,
      lockTimeoutMs: o.lockTimeoutMs,
      statementTimeoutMs: o.statementTimeoutMs,
    }),
    migrationTableSchema: stateSchema,
    migrationTableName: set === 'state' ? 'state_migration' : 'plan_migration',
    migrationLockTableName: set === 'state' ? 'state_migration_lock' : 'plan_migration_lock',
  });
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
        fix: 'point "migrations_dir" at the folder the applied plan came from (one folder per database), or restore the file',
        cause: err,
      });
    }
    const e = toPartgovError(err);
    if (e instanceof PartgovError && e.code !== 'database_error') throw e;
    throw new DatabaseError(`migrate ${o.action}: a ${set} migration failed and was rolled back: ${(err as Error).message}`, {
      fix: 'read the error, fix the migration file or the database, and run `partgov migrate up` again',
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
    where g.tgname = ${captureTriggerNames.insert} order by 1`.execute(db);
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
export async function runMigrate(db: PartgovKysely, o: MigrateOptions): Promise<MigrateResult> {
  const sets: [MigrationSetName, Migrator][] = [['state', migratorFor(db, 'state', stateMigrationsFolder, o)]];
  if (o.planFolder && existsSync(o.planFolder)) sets.push(['plan', migratorFor(db, 'plan', o.planFolder, o)]);

  if (o.action === 'status') {
    const migrations = await statusOf(db, sets);
    return { action: 'status', applied: [], migrations, pending: migrations.filter((m) => !m.executed_at).length };
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
  return { action: o.action, applied, migrations, pending: migrations.filter((m) => !m.executed_at).length };
}

/** Exit 2 unless partgov's state schema is fully migrated (checkpoints and audit rows need it). */
export async function assertStateSchema(db: PartgovKysely): Promise<void> {
  const files = (await new SqlMigrationProvider({ folder: stateMigrationsFolder, lockTimeoutMs: 0, statementTimeoutMs: 0 }).getMigrations());
  const latest = Object.keys(files).sort().at(-1)!;
  const r = await sql<{ applied: boolean }>`
    select to_regclass('partgov.state_migration') is not null
       and exists (select 1 from partgov.state_migration where name = ${latest}) as applied`.execute(db).catch(() => ({ rows: [{ applied: false }] }));
  if (!r.rows[0]?.applied) {
    throw new InputInvalidError(`partgov's state schema is missing or out of date (latest migration ${latest} not applied)`, {
      fix: 'run `partgov migrate up`',
    });
  }
}
