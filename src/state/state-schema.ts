import { Migrator, sql } from 'kysely';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError } from '../errors.js';
import { packagePath } from '../package-root.js';
import { SqlMigrationProvider } from './sql-migration-provider.js';

/** partgov's own state schema migrations ship in the package's migrations/ folder. */
export const stateMigrationsFolder = packagePath('migrations');
export const stateSchema = 'partgov';

/** The two migration sets partgov manages: its own state, and the DDL `partgov plan --out` wrote. */
export type MigrationSetName = 'state' | 'plan';

/** kysely's Migrator over a folder of numbered SQL files, its bookkeeping in schema partgov. */
export function migratorFor(db: PartgovKysely, set: MigrationSetName, folder: string, o: { lockTimeoutMs: number; statementTimeoutMs: number; project?: string | undefined }): Migrator {
  // One plan history per project: configs sharing a database keep their plans apart.
  const plan = o.project === undefined ? 'plan_migration' : `plan_migration_${o.project}`;
  return new Migrator({
    db,
    provider: new SqlMigrationProvider({
      folder,
      lockTimeoutMs: o.lockTimeoutMs,
      statementTimeoutMs: o.statementTimeoutMs,
    }),
    migrationTableSchema: stateSchema,
    migrationTableName: set === 'state' ? 'state_migration' : plan,
    migrationLockTableName: set === 'state' ? 'state_migration_lock' : `${plan}_lock`,
  });
}

/** State migrations shipped with partgov and not yet applied to this database (all of them when the schema is missing). */
export async function pendingStateMigrations(db: PartgovKysely): Promise<number> {
  const all = await migratorFor(db, 'state', stateMigrationsFolder, { lockTimeoutMs: 0, statementTimeoutMs: 0 }).getMigrations();
  return all.filter((m) => !m.executedAt).length;
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
