import { sql } from 'kysely';
import type { TableModel } from '../db/catalog.js';
import { objectNames } from '../db/object-names.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';

/** An application statement pg_stat_statements saw that would fail on the partitioned table. */
export interface FailingStatement {
  queryid: string;
  userid: string;
  dbid: string;
  calls: number;
  query: string;
  why: string;
}

export interface StatementEvidence {
  /** pg_stat_statements is installed in this database (null: it is not, nothing could be read). */
  source: string | null;
  /** Statement texts with ON CONFLICT or ONLY that were judged. */
  examined: number;
  /** Statement texts this role could not read (pg_read_all_stats lets it): not judged. */
  hidden: number;
  failing: FailingStatement[];
}

// An identifier as a query names it: "Quoted ""Name""" (exact) or unquoted (folded to lower case).
const ident = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const unquote = (t: string) => (t.startsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t.toLowerCase());
const insertInto = new RegExp(String.raw`\binsert\s+into\s+(${ident})(?:\s*\.\s*(${ident}))?`, 'gi');
const onlyTable = new RegExp(String.raw`\b(from|update|join|truncate(?:\s+table)?)\s+only\s+(${ident})(?:\s*\.\s*(${ident}))?`, 'gi');
const onConflict = /\bon\s+conflict\s*(?:\(([^()]*(?:\([^()]*\)[^()]*)*)\)|on\s+constraint\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?/i;

/**
 * Why an `INSERT … ON CONFLICT` text would fail on the partitioned table, or
 * null: its conflict target names columns no unique index of the shadow has
 * exactly (PostgreSQL infers the arbiter from such an index: "there is no
 * unique or exclusion constraint matching the ON CONFLICT specification"), or
 * a constraint the table will not have. Texts that insert into another table,
 * have no target, or name expressions are left alone.
 */
export function onConflictFailure(query: string, table: { schema: string; name: string }, uniqueKeys: readonly (readonly string[])[], constraintsAfterSwap: ReadonlySet<string>): string | null {
  const into = [...query.matchAll(insertInto)].some((m) => {
    const [first, second] = [m[1]!, m[2]];
    return second === undefined ? unquote(first) === table.name : unquote(first) === table.schema && unquote(second) === table.name;
  });
  if (!into) return null;
  const m = onConflict.exec(query);
  if (!m) return null;
  if (m[2] !== undefined) {
    const name = unquote(m[2]);
    return constraintsAfterSwap.has(name) ? null : `ON CONFLICT ON CONSTRAINT ${name}: the partitioned table has no constraint of that name`;
  }
  if (m[1] === undefined) return null; // ON CONFLICT DO NOTHING without a target: any unique index serves
  const parts = m[1].split(',').map((p) => p.trim());
  if (!parts.every((p) => new RegExp(`^${ident}$`).test(p))) return null; // expressions, opclasses, collations: not judged
  const target = new Set(parts.map(unquote));
  if (uniqueKeys.some((k) => k.length === target.size && k.every((c) => target.has(c)))) return null;
  const keys = uniqueKeys.map((k) => `(${k.join(', ')})`).join(' or ');
  return `ON CONFLICT (${[...target].join(', ')}): no unique index of the partitioned table has exactly these columns${keys ? `; it has ${keys}` : ''}`;
}

/**
 * Why a text naming `ONLY <table>` would misbehave on the partitioned table,
 * or null: there ONLY means the parent alone, which holds no row, so a SELECT
 * finds nothing and an UPDATE or DELETE changes nothing, without an error
 * (TRUNCATE ONLY fails).
 */
export function onlyFailure(query: string, table: { schema: string; name: string }): string | null {
  for (const m of query.matchAll(onlyTable)) {
    const [first, second] = [m[2]!, m[3]];
    const hit = second === undefined ? unquote(first) === table.name : unquote(first) === table.schema && unquote(second) === table.name;
    if (hit) {
      const verb = m[1]!.toLowerCase().replace(/\s+/g, ' ');
      return verb.startsWith('truncate') ? `TRUNCATE ONLY: refused on a partitioned table` : `${verb.toUpperCase()} ONLY: on the partitioned table it reaches the parent alone, which holds no row (no error, no row)`;
    }
  }
  return null;
}

/**
 * The application's statements on the table, from pg_stat_statements, that
 * would fail or silently miss once the partitioned table takes the name (an
 * ON CONFLICT target it lacks, `ONLY`): evidence for the key change plan
 * announced, not a promise in the config.
 */
export async function statementEvidence(db: PartgovKysely, pair: ShadowPair, table: { schema: string; name: string }): Promise<StatementEvidence> {
  const ext = await sql<{ schema: string }>`select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_stat_statements'`.execute(db);
  const schema = ext.rows[0]?.schema;
  if (!schema) return { source: null, examined: 0, hidden: 0, failing: [] };
  // The view errors when the library is not preloaded: then there is nothing to read either.
  const rows = await sql<{ queryid: string; userid: string; dbid: string; calls: string; query: string | null }>`
    select s.queryid::text as queryid, s.userid::text as userid, s.dbid::text as dbid, s.calls::text as calls, s.query
    from ${sql.id(schema, 'pg_stat_statements')} s
    where s.dbid = (select oid from pg_database where datname = current_database())
      and (s.query is null or s.query ilike '%on%conflict%' or s.query ilike '%only%' or s.query = '<insufficient privilege>')`.execute(db).catch(() => null);
  if (rows === null) return { source: null, examined: 0, hidden: 0, failing: [] };
  // After the swap the table keeps the legacy index names (so the constraint names) whose copy the shadow has (see indexRenames).
  const shadowIndexes = new Set(pair.shadow.indexes.map((i) => i.name));
  const constraintsAfterSwap = new Set(pair.legacy.indexes.filter((i) => shadowIndexes.has(objectNames.shadowIndex(table.name, i))).map((i) => i.name));
  let hidden = 0;
  const failing: FailingStatement[] = [];
  for (const r of rows.rows) {
    if (r.query === null || r.query === '<insufficient privilege>') {
      hidden++;
      continue;
    }
    const why = onConflictFailure(r.query, table, uniqueKeysOf(pair.shadow), constraintsAfterSwap) ?? onlyFailure(r.query, table);
    if (why) failing.push({ queryid: r.queryid, userid: r.userid, dbid: r.dbid, calls: Number(r.calls), query: r.query, why });
  }
  return { source: `${schema}.pg_stat_statements`, examined: rows.rows.length - hidden, hidden, failing };
}

/** The column sets of a table's unique indexes that can arbitrate ON CONFLICT (no predicate, no expression). */
export function uniqueKeysOf(t: TableModel): string[][] {
  return t.indexes.filter((i) => i.isUnique && i.predicate === null && i.keyColumns.every((c) => c !== null)).map((i) => i.keyColumns as string[]);
}
