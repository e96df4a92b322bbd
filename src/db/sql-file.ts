import { readFileSync } from 'node:fs';
import { CompiledQuery, type Kysely } from 'kysely';
import { packagePath } from '../package-root.js';

const cache = new Map<string, string>();

/** The text of a file under sql/, read once. */
export function sqlFileText(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(packagePath('sql', name), 'utf8');
    cache.set(name, text);
  }
  return text;
}

/**
 * Runs a parameterised query kept in sql/ ($1, $2 … placeholders). The text is
 * package-owned and reviewed; every input goes in as a bound parameter.
 */
// Kysely<any>: any database type may run a package SQL file; rows are typed by Row.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function querySqlFile<Row>(db: Kysely<any>, name: string, parameters: readonly unknown[]): Promise<Row[]> {
  const result = await db.executeQuery<Row>(CompiledQuery.raw(sqlFileText(name), [...parameters]));
  return result.rows;
}
