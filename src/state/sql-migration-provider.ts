import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { InputInvalidError } from '../errors.js';
import { setLocalTimeouts } from '../db/run-guarded.js';

const upFile = /^(\d{4,}_[A-Za-z0-9_.-]+)\.up\.sql$/;

export interface SqlMigrationProviderOptions {
  folder: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/**
 * Migrations as numbered SQL files: `0001_name.up.sql` with an optional
 * `0001_name.down.sql`. Each file runs in the Migrator's transaction under
 * lock_timeout/statement_timeout. The text is executed as-is: these files are
 * partgov's own or reviewed output of `partgov plan`, never user input.
 */
export class SqlMigrationProvider implements MigrationProvider {
  constructor(private readonly options: SqlMigrationProviderOptions) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    let names: string[];
    try {
      names = await readdir(this.options.folder);
    } catch (err) {
      throw new InputInvalidError(`migrations folder ${this.options.folder} cannot be read`, {
        fix: 'run `partgov plan --out <folder>` first, or set "migrations_dir" in the config',
        cause: err,
      });
    }
    const migrations: Record<string, Migration> = {};
    for (const file of names.sort()) {
      const match = upFile.exec(file);
      if (!match) continue;
      const name = match[1]!;
      const up = await readFile(path.join(this.options.folder, file), 'utf8');
      const downPath = path.join(this.options.folder, `${name}.down.sql`);
      const down = names.includes(`${name}.down.sql`) ? await readFile(downPath, 'utf8') : undefined;
      migrations[name] = {
        up: (db) => this.run(db, up),
        ...(down === undefined ? {} : { down: (db: Kysely<unknown>) => this.run(db, down) }),
      };
    }
    return migrations;
  }

  private async run(db: Kysely<unknown>, text: string): Promise<void> {
    await setLocalTimeouts(db, this.options.lockTimeoutMs, this.options.statementTimeoutMs);
    // sql.raw: the file is package-owned or reviewed plan output (see class comment).
    await sql.raw(text).execute(db);
  }
}
