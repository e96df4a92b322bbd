import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { InputInvalidError } from '../errors.js';
import { parseConfig } from '../config/load-config.js';
import { packagePath } from '../package-root.js';

export interface InitResult {
  file: string;
  tables: number;
}

/**
 * `partgov init`: writes a starter config (the example memory schema's) that
 * validates as-is, with `$schema` pointing at the shipped JSON Schema for
 * editor completion. Refuses to overwrite unless `force`.
 */
export async function runInit(o: { file: string; force: boolean }): Promise<InitResult> {
  if (existsSync(o.file) && !o.force) {
    throw new InputInvalidError(`${o.file} already exists`, { fix: 'pass --force to overwrite it, or --config <other file>' });
  }
  const starter = JSON.parse(await readFile(packagePath('examples', 'memory', 'partgov.config.json'), 'utf8')) as Record<string, unknown>;
  starter.$schema = './node_modules/partgov/schema/partgov.config.schema.json';
  const config = parseConfig(starter, o.file);
  await writeFile(o.file, `${JSON.stringify(starter, null, 2)}\n`);
  return { file: o.file, tables: config.tables.length };
}
