import { sql, type RawBuilder } from 'kysely';
import type { PartgovConfig, TableConfig } from '../config/config-schema.js';
import { InputInvalidError, shellWord, sqlStateOf } from '../errors.js';
import type { PartgovKysely } from './state-tables.js';

/** One tenant's scope: what purge, restore and isolate act on. */
export interface ScopeTarget {
  tenantId: string;
  scope: string;
}

const maxValueBytes = 200;

/**
 * Refuses a tenant or scope value that could only be a mistake: empty, too
 * long, control characters, surrounding spaces, wildcard characters (`%`,
 * `*`, `?`), or nothing but punctuation (`_`, `.`, `-`: what a pattern looks
 * like). Values never reach SQL as text; this is about intent, not injection.
 */
function assertScopeValue(flag: string, value: string | undefined): string {
  const refuse = (problem: string): never => {
    throw new InputInvalidError(`${flag} ${problem}`, { fix: `pass ${flag} with the exact ${flag.slice(2)} value, as stored in the table` });
  };
  if (value === undefined) return refuse('is required');
  if (value.length === 0) return refuse('is empty');
  if (Buffer.byteLength(value, 'utf8') > maxValueBytes) return refuse(`is longer than ${maxValueBytes} bytes`);
  if (/[\u0000-\u001f\u007f]/.test(value)) return refuse('contains a control character');
  if (value.trim() !== value) return refuse(`has leading or trailing white space (${JSON.stringify(value)})`);
  if (/[%*?]/.test(value)) return refuse(`contains a wildcard character (${JSON.stringify(value)}): purge takes one exact value, never a pattern`);
  if (/^[\s_.\-]+$/.test(value)) return refuse(`is only punctuation (${JSON.stringify(value)}): that looks like a pattern, not a value`);
  return value;
}

/**
 * Validates `--tenant-id`, `--scope` and `--confirm`: all three required,
 * confirm equal to `<tenant>/<scope>` byte for byte. Exit 2 on any mismatch.
 */
export function parseScopeTarget(input: { tenantId?: string | undefined; scope?: string | undefined; confirm?: string | undefined }, verb: string): ScopeTarget {
  const tenantId = assertScopeValue('--tenant-id', input.tenantId);
  const scope = assertScopeValue('--scope', input.scope);
  if (tenantId.includes('/')) {
    throw new InputInvalidError('--tenant-id contains "/", which would make --confirm <tenant>/<scope> ambiguous', { fix: 'tenants with "/" in their id cannot be targeted by partgov' });
  }
  const expected = `${tenantId}/${scope}`;
  if (input.confirm !== expected) {
    throw new InputInvalidError(`${verb} needs --confirm ${JSON.stringify(expected)} exactly (${input.confirm === undefined ? 'it is missing' : `got ${JSON.stringify(input.confirm)}`})`, {
      fix: `retype the target: --confirm ${shellWord(expected)}`,
    });
  }
  return { tenantId, scope };
}

/** How one table's rows of a scope are found. */
export interface ScopeSelector {
  /** The tenant and scope columns; both null when the key column alone names the pair (a key formed from {tenant} and {scope}). */
  tenantColumn: string | null;
  scopeColumn: string | null;
  /** The column that identifies the (tenant, scope) pair and usually partitions the table; null when unknown (range without a key). */
  keyColumn: string | null;
  keyValue: string | null;
  /**
   * Whether the key value stands for this (tenant, scope) alone, so a partition
   * of that value holds no other scope's rows: not when the key is the tenant
   * column (every scope of the tenant shares it), the scope column (every
   * tenant's scope of that name), or a format without {tenant} or {scope}.
   */
  keyIdentifiesScope: boolean;
  /**
   * With scope_key_source "rows": the distinct key values of the scope's rows
   * (at most 3; NULL counts as one), and keyValue is set only when there is
   * exactly one. Then no format vouches that the key is this scope's alone:
   * purge reads every row of the key before it empties a partition. null: formed.
   */
  keysFromRows: (string | null)[] | null;
  target: ScopeTarget;
}

/** The scope key column of a table: configured, else the layout's key, else the range sub-partition key. */
export function scopeKeyColumn(table: TableConfig): string | null {
  if (table.scope_key_column) return table.scope_key_column;
  if (table.layout.type === 'range') return table.layout.subpartition?.key ?? null;
  return table.layout.key;
}

/** Fills `{tenant}` and `{scope}` in a scope key format. */
export function formatScopeKey(format: string, target: ScopeTarget): string {
  // One pass: a tenant value holding the text "{scope}" stays as it is.
  return format.replace(/\{tenant\}|\{scope\}/g, (m) => (m === '{tenant}' ? target.tenantId : target.scope));
}

/**
 * The literal text between {tenant} and {scope} in a key format (e.g. ":"), or
 * null when the format does not hold both with text between them: then a key
 * value cannot be split back into one (tenant, scope) pair.
 */
function keySeparator(format: string): string | null {
  const t = format.indexOf('{tenant}');
  const s = format.indexOf('{scope}');
  if (t < 0 || s < 0) return null;
  const between = t < s ? format.slice(t + '{tenant}'.length, s) : format.slice(s + '{scope}'.length, t);
  return between.length > 0 ? between : null;
}

/** Whether partgov can tell a table's rows of a scope (tenant and scope columns, or a key formed from both with text between them). */
export function tellsScopes(config: PartgovConfig, table: TableConfig): boolean {
  if (table.tenant_column && table.scope_column) return true;
  const keyColumn = scopeKeyColumn(table);
  return !table.tenant_column && !table.scope_column && keyColumn !== null && keySeparator(table.scope_key_format ?? config.purge.scope_key_format) !== null;
}

/**
 * Where a table's rows of the scope are: its tenant and scope columns and its
 * key column and value; or, for a table without tenant and scope columns, its
 * key column alone, when the key is formed from both.
 */
export function scopeSelector(config: PartgovConfig, table: TableConfig, target: ScopeTarget): ScopeSelector {
  const keyColumn = scopeKeyColumn(table);
  const format = table.scope_key_format ?? config.purge.scope_key_format;
  if (!table.tenant_column && !table.scope_column && keyColumn !== null) {
    const separator = keySeparator(format);
    if (separator === null) {
      throw new InputInvalidError(`${table.schema}.${table.name} has no tenant_column or scope_column, and its key format ${JSON.stringify(format)} does not hold {tenant} and {scope} apart: partgov cannot tell its rows of a scope (purge, isolate, restore and bench need them)`, {
        fix: `set tables[].tenant_column and tables[].scope_column for ${table.name}, or a scope_key_format such as "{tenant}:{scope}" that ${keyColumn} follows, or leave it out with --table`,
      });
    }
    // Without columns to check whose rows a key holds, a value containing the separator could spell
    // another pair's key ("a:b" + "c" and "a" + "b:c" are both "a:b:c").
    for (const [flag, value] of [['--tenant-id', target.tenantId], ['--scope', target.scope]] as const) {
      if (value.includes(separator)) {
        throw new InputInvalidError(`${flag} ${JSON.stringify(value)} contains ${JSON.stringify(separator)}, which ${table.schema}.${table.name} uses between tenant and scope in ${keyColumn} (${JSON.stringify(format)}), so that key could be another tenant's scope`, {
          fix: `set tables[].tenant_column and tables[].scope_column for ${table.name} (purge then checks whose rows they are), or leave it out with --table`,
        });
      }
    }
    return { tenantColumn: null, scopeColumn: null, keyColumn, keyValue: formatScopeKey(format, target), keyIdentifiesScope: true, keysFromRows: null, target };
  }
  if (!table.tenant_column || !table.scope_column) {
    throw new InputInvalidError(`${table.schema}.${table.name} has no ${table.tenant_column ? 'scope_column' : 'tenant_column'} in the config: partgov cannot tell its rows of a scope (purge, isolate, restore and bench need them)`, {
      fix: `set tables[].tenant_column and tables[].scope_column for ${table.name} (or neither, when its key is formed from {tenant} and {scope}), or leave it out with --table`,
    });
  }
  let keyValue: string | null = null;
  let keyIdentifiesScope = false;
  if (keyColumn === table.scope_column || keyColumn === table.tenant_column) {
    keyValue = keyColumn === table.scope_column ? target.scope : target.tenantId;
    keyIdentifiesScope = table.scope_column === table.tenant_column;
  } else if (keyColumn !== null) {
    keyValue = formatScopeKey(format, target);
    keyIdentifiesScope = format.includes('{tenant}') && format.includes('{scope}');
  }
  return { tenantColumn: table.tenant_column, scopeColumn: table.scope_column, keyColumn, keyValue, keyIdentifiesScope, keysFromRows: null, target };
}

/** How many key values a scope's rows hold, and the first of them: "2 values of Workspace ("a", NULL)". */
export function keysFromRowsText(column: string, keys: readonly (string | null)[]): string {
  const shown = keys.slice(0, 2).map((k) => (k === null ? 'NULL' : JSON.stringify(k))).join(', ');
  return `${keys.length > 2 ? 'more than 2' : keys.length} values of ${column} (${shown}${keys.length > 2 ? ', …' : ''})`;
}

/**
 * scopeSelector, with its key value settled by the database: a key read from
 * the scope's rows (scope_key_source "rows"), or a formed one the key column's
 * type cannot hold (a "t:s" for a uuid) refused with exit 2, naming the
 * setting, instead of failing a statement later.
 */
export async function resolveScopeSelector(db: PartgovKysely, config: PartgovConfig, table: TableConfig, target: ScopeTarget): Promise<ScopeSelector> {
  const sel = scopeSelector(config, table, target);
  const live = sql.id(table.schema, table.name);
  if (sel.keyColumn === null) return sel;
  const key = sql.id(sel.keyColumn);
  if (table.scope_key_source === 'rows' && sel.tenantColumn !== null && sel.scopeColumn !== null && sel.keyColumn !== sel.tenantColumn && sel.keyColumn !== sel.scopeColumn) {
    const found = await sql<{ k: string | null }>`select distinct ${key}::text as k from ${live}
      where ${sql.id(sel.tenantColumn)} = ${target.tenantId} and ${sql.id(sel.scopeColumn)} = ${target.scope} limit 3`.execute(db);
    const keys = found.rows.map((r) => r.k);
    const only = keys.length === 1 ? keys[0]! : null;
    return { ...sel, keyValue: only, keyIdentifiesScope: only !== null, keysFromRows: keys };
  }
  if (sel.keyValue !== null) {
    try {
      // The value binds as the column's type: a value it cannot hold fails here, reading nothing.
      await sql`select 1 from ${live} where ${key} = ${sel.keyValue} limit 0`.execute(db);
    } catch (err) {
      if (!sqlStateOf(err)?.startsWith('22')) throw err;
      const format = table.scope_key_format ?? config.purge.scope_key_format;
      throw new InputInvalidError(`${table.schema}.${table.name}: the scope key ${JSON.stringify(sel.keyValue)} (${sel.keyColumn === sel.tenantColumn ? '--tenant-id' : sel.keyColumn === sel.scopeColumn ? '--scope' : `formed by ${JSON.stringify(format)} from --tenant-id and --scope`}) is not a value of ${sel.keyColumn}: ${(err as Error).message}`, {
        fix: sel.tenantColumn !== null && sel.scopeColumn !== null
          ? `if ${sel.keyColumn} is an id of its own (a uuid, a number), set tables[].scope_key_source to "rows" for ${table.name}: the key is then read from the scope's rows by ${sel.tenantColumn} and ${sel.scopeColumn}; else set tables[].scope_key_format to how ${sel.keyColumn} is formed`
          : `set tables[].tenant_column and tables[].scope_column for ${table.name} and scope_key_source "rows" (the key is then read from the scope's rows), or a scope_key_format that ${sel.keyColumn} follows`,
        cause: err,
      });
    }
  }
  return sel;
}

/**
 * `tenant = $1 and scope = $2 [and key = $3]` (or `key = $1` alone): the values as parameters. With
 * `fromSettings` the values come from the transaction's `partgov.*` settings
 * instead (COPY cannot take parameters); see setScopeSettings.
 */
export function scopePredicate(sel: ScopeSelector, o: { alias?: string; fromSettings?: { columnTypes: ReadonlyMap<string, string> } } = {}): RawBuilder<boolean> {
  const ref = (c: string) => (o.alias ? sql.id(o.alias, c) : sql.id(c));
  const value = (column: string, setting: string, v: string) => {
    if (!o.fromSettings) return sql`${v}`;
    // sql.raw: the column's format_type() text from the catalog, not input.
    const type = o.fromSettings.columnTypes.get(column) ?? 'text';
    return sql`cast(current_setting(${sql.lit(`partgov.${setting}`)}) as ${sql.raw(type)})`;
  };
  const parts = [
    ...(sel.tenantColumn === null ? [] : [sql`${ref(sel.tenantColumn)} = ${value(sel.tenantColumn, 'tenant_id', sel.target.tenantId)}`]),
    ...(sel.scopeColumn === null ? [] : [sql`${ref(sel.scopeColumn)} = ${value(sel.scopeColumn, 'scope', sel.target.scope)}`]),
  ];
  if (sel.keyColumn !== null && sel.keyValue !== null && sel.keyColumn !== sel.tenantColumn && sel.keyColumn !== sel.scopeColumn) {
    parts.push(sql`${ref(sel.keyColumn)} = ${value(sel.keyColumn, 'scope_key', sel.keyValue)}`);
  }
  return sql<boolean>`(${sql.join(parts, sql` and `)})`;
}

/** Sets partgov.tenant_id, partgov.scope and partgov.scope_key for the current transaction (as parameters). */
export function setScopeSettings(sel: ScopeSelector): RawBuilder<unknown> {
  return sql`select set_config('partgov.tenant_id', ${sel.target.tenantId}, true), set_config('partgov.scope', ${sel.target.scope}, true), set_config('partgov.scope_key', ${sel.keyValue ?? ''}, true)`;
}
