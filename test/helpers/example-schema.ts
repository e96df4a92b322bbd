import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import type { PartgovKysely } from '../../src/db/state-tables.js';
import { packagePath } from '../../src/package-root.js';

/** Creates the example memory schema's legacy tables (empty) and returns its config. */
export async function createMemoryExample(db: PartgovKysely): Promise<PartgovConfig> {
  await sql.raw(await readFile(packagePath('examples', 'memory', 'legacy.sql'), 'utf8')).execute(db);
  await sql.raw(await readFile(packagePath('examples', 'memory', 'seed.sql'), 'utf8')).execute(db);
  return parseConfig(JSON.parse(await readFile(packagePath('examples', 'memory', 'partgov.config.json'), 'utf8')));
}

/** Applies a list of SQL statements in one transaction. */
export async function applyStatements(db: PartgovKysely, statements: readonly { sql: string }[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const s of statements) await sql.raw(s.sql).execute(trx);
  });
}
