import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { ConfigInvalidError, type ConfigIssue, InputInvalidError } from '../errors.js';
import { configSchema, type PartgovConfig, type TableConfig } from './config-schema.js';

/** Renders a zod path as a JSON path, e.g. `tables[0].layout.partitions`. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

function fixFor(issue: z.core.$ZodIssue): string {
  const params = (issue as { params?: { fix?: string } }).params;
  if (params?.fix) return params.fix;
  switch (issue.code) {
    case 'invalid_type':
      return `give a value of type ${issue.expected}`;
    case 'unrecognized_keys':
      return `remove ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (check the spelling against schema/partgov.config.schema.json)`;
    case 'invalid_union':
      return 'set "type" to one of the documented layouts: "hash", "isolatable" or "range"';
    case 'invalid_value':
      return `use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `use a value of at least ${String(issue.minimum)}`;
    case 'too_big':
      return `use a value of at most ${String(issue.maximum)}`;
    default:
      return 'correct the value; see schema/partgov.config.schema.json';
  }
}

function toConfigIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = formatJsonPath(issue.path);
    let problem = issue.message;
    if (issue.code === 'invalid_union' && issue.path.includes('layout')) {
      problem = 'layout "type" must be "hash", "isolatable" or "range"';
    }
    return { path, problem, fix: fixFor(issue) };
  });
}

/** Validates an already-parsed config object. Throws ConfigInvalidError (exit 2). */
export function parseConfig(raw: unknown, file = '<inline>'): PartgovConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigInvalidError(file, toConfigIssues(result.error));
  const quoted = quotedNameIssues(result.data.tables);
  if (quoted.length > 0) throw new ConfigInvalidError(file, quoted);
  return result.data;
}

/**
 * A table name written as SQL quotes it (`"Sales & Ops"."Order Lines"`), which
 * would be looked up as that literal text in schema public: named, with the
 * split the config wants, instead of a "table does not exist" later.
 */
function quotedNameIssues(tables: readonly TableConfig[]): ConfigIssue[] {
  return tables.flatMap((t, i) => {
    const parts = parseQuotedTableName(t.name);
    if (parts === null) return [];
    const [schema, name] = parts.length === 2 ? parts : [t.schema, parts[0]!];
    return [{
      path: `tables[${i}].name`,
      problem: `${JSON.stringify(t.name)} is written as SQL quotes a name; the config takes names as they are, without quotes`,
      fix: `write ${JSON.stringify({ schema, name })}`,
    }];
  });
}

/** Reads and validates a config file. Every failure is exit 2 and names the file. */
export async function loadConfig(file: string): Promise<PartgovConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputInvalidError(`config file ${file} cannot be read: ${(err as Error).message}`, {
      fix: 'pass --config <file>, or run `partgov init` to write a starter partgov.config.json',
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigInvalidError(file, [
      { path: '(root)', problem: `is not valid JSON: ${(err as Error).message}`, fix: 'fix the JSON syntax' },
    ]);
  }
  return parseConfig(raw, file);
}

/**
 * A table name as SQL writes it (`"Tenant Data"."Doc-Chunks"`, `public."Notes"`):
 * its parts, quoted ones exact ("" for a quote), bare ones folded to lower
 * case; null when the text holds no quote (then it is matched as written) or
 * is not such a name.
 */
export function parseQuotedTableName(text: string): string[] | null {
  if (!text.includes('"')) return null;
  const parts: string[] = [];
  const part = /\s*(?:"((?:[^"]|"")+)"|([^".\s]+))\s*(\.|$)/y;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) return null;
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.toLowerCase());
    at = part.lastIndex;
    if (m[3] === '') break;
    if (at === text.length) return null; // a trailing dot
  }
  return parts.length >= 1 && parts.length <= 2 && at === text.length ? parts : null;
}

/** Whether `text` names the configured table: `name`, `schema.name`, or either quoted as SQL writes it. */
export function namesTable(t: TableConfig, text: string): boolean {
  const quoted = parseQuotedTableName(text);
  if (quoted === null) return t.name === text || `${t.schema}.${t.name}` === text;
  return quoted.length === 1 ? t.name === quoted[0] : t.schema === quoted[0] && t.name === quoted[1];
}

/** The configured tables, or the one named by --table (exit 2 when it is not configured). */
export function selectTables(config: PartgovConfig, table: string | undefined): TableConfig[] {
  if (table === undefined) return config.tables;
  const match = config.tables.filter((t) => namesTable(t, table));
  if (match.length === 0) {
    throw new InputInvalidError(`table ${JSON.stringify(table)} is not in the config`, {
      fix: `use one of: ${config.tables.map((t) => `${t.schema}.${t.name}`).join(', ')}`,
    });
  }
  return match;
}
