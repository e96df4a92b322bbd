import { sql } from 'kysely';
import type { PartgovConfigInput, TableConfig } from '../../src/config/config-schema.js';
import type { PartgovKysely } from '../../src/db/state-tables.js';

export const schema = 'Tenant Data';

/** Scopes of the fixture: [tenant, scope, rows per table]. 'acme/perf' owns dedicated partitions. */
export const scopes: [string, string, number][] = [
  ['acme', 'perf', 400],
  ['acme', 'main', 300],
  ['globex', 'perf', 250],
  ['initech', 'ops', 150],
];

/**
 * Three already-partitioned tables with quoted mixed-case names, an
 * always-identity key, NULLs and jsonb: "Notes" LIST-partitioned with a
 * dedicated partition for acme:perf and a hashed DEFAULT (the isolatable
 * layout), "Edges" hashed by the scope key, "Outbox" ranged by month.
 */
export async function createScopedTables(db: PartgovKysely): Promise<PartgovConfigInput> {
  const s = sql.id(schema);
  await sql`create schema ${s}`.execute(db);
  const cols = sql`id bigint generated always as identity, "Tenant" text not null, "Scope" text not null, "Scope Key" text not null,
    "Body" text, "Doc" jsonb, "Updated At" timestamptz not null default now()`;
  await sql`create table ${sql.id(schema, 'Notes')} (${cols}, primary key ("Scope Key", id)) partition by list ("Scope Key")`.execute(db);
  await sql`create table ${sql.id(schema, 'Notes_iso_acme_perf')} partition of ${sql.id(schema, 'Notes')} for values in ('acme:perf')`.execute(db);
  await sql`create table ${sql.id(schema, 'Notes_default')} partition of ${sql.id(schema, 'Notes')} default partition by hash ("Scope Key")`.execute(db);
  for (let r = 0; r < 4; r++) await sql`create table ${sql.id(schema, `Notes_default_p${r}`)} partition of ${sql.id(schema, 'Notes_default')} for values with (modulus 4, remainder ${sql.lit(r)})`.execute(db);
  await sql`create table ${sql.id(schema, 'Edges')} (${cols}, primary key ("Scope Key", id)) partition by hash ("Scope Key")`.execute(db);
  for (let r = 0; r < 4; r++) await sql`create table ${sql.id(schema, `Edges_p${r}`)} partition of ${sql.id(schema, 'Edges')} for values with (modulus 4, remainder ${sql.lit(r)})`.execute(db);
  await sql`create table ${sql.id(schema, 'Outbox')} (${cols}, primary key ("Updated At", id)) partition by range ("Updated At")`.execute(db);
  await sql`create table ${sql.id(schema, 'Outbox_2026_10')} partition of ${sql.id(schema, 'Outbox')} for values from ('2026-10-01') to ('2026-11-01')`.execute(db);
  await sql`create table ${sql.id(schema, 'Outbox_2026_11')} partition of ${sql.id(schema, 'Outbox')} for values from ('2026-11-01') to ('2026-12-01')`.execute(db);
  await sql`create table ${sql.id(schema, 'Outbox_default')} partition of ${sql.id(schema, 'Outbox')} default`.execute(db);
  for (const name of ['Notes', 'Edges', 'Outbox']) {
    for (const [tenant, scope, rows] of scopes) await insertScopeRows(db, name, tenant, scope, rows, name === 'Outbox' ? "timestamptz '2026-10-20'" : 'now()');
  }
  const table = (name: string, layout: TableConfig['layout'] | { type: 'range'; column: string; interval: 'month'; default_partition: boolean }) => ({
    schema, name, layout, tenant_column: 'Tenant', scope_column: 'Scope', scope_key_column: 'Scope Key', activity_column: 'Updated At',
  });
  return {
    tables: [
      table('Notes', { type: 'isolatable', key: 'Scope Key', isolated: ['acme:perf'], partitions: 4 }),
      table('Edges', { type: 'hash', key: 'Scope Key', partitions: 4 }),
      table('Outbox', { type: 'range', column: 'Updated At', interval: 'month', default_partition: true }),
    ],
    lock_timeout_ms: 2000,
    statement_timeout_ms: 60000,
  };
}

export async function insertScopeRows(db: PartgovKysely, name: string, tenant: string, scope: string, rows: number, at = 'now()'): Promise<void> {
  // sql.raw(at): a fixed timestamp expression of this file, not input.
  await sql`insert into ${sql.id(schema, name)} ("Tenant", "Scope", "Scope Key", "Body", "Doc", "Updated At")
    select ${tenant}::text, ${scope}::text, ${`${tenant}:${scope}`}::text, case when g % 3 = 0 then null else 'b' || g end,
           case when g % 4 = 0 then null else jsonb_build_object('g', g) end, ${sql.raw(at)} - g * interval '1 second'
    from generate_series(1, ${rows}::int) g`.execute(db);
}

/** Per scope key: row count and a digest of every row's content, ordered by id. */
export async function scopeDigests(db: PartgovKysely, name: string): Promise<Record<string, string>> {
  const r = await sql<{ k: string; d: string }>`select "Scope Key" as k, count(*) || ':' || md5(string_agg(t::text, '|' order by id)) as d
    from ${sql.id(schema, name)} t group by 1`.execute(db);
  return Object.fromEntries(r.rows.map((x) => [x.k, x.d]));
}

export async function allDigests(db: PartgovKysely): Promise<Record<string, Record<string, string>>> {
  return { Notes: await scopeDigests(db, 'Notes'), Edges: await scopeDigests(db, 'Edges'), Outbox: await scopeDigests(db, 'Outbox') };
}

/**
 * Where `key` is guarded in a DEFAULT hashed into `leaves` partitions: the
 * leaves carrying a validated `CHECK (… <> key)` (found by definition, not by
 * partgov's name for it), and the leaf a row of `key` would fall into without
 * its own partition (asked of satisfies_hash_partition, not of partgov).
 */
export async function defaultGuards(db: PartgovKysely, defaultName: string, leaves: number, key: string): Promise<{ guarded: string[]; routeLeaf: string }> {
  const r = await sql<{ leaf: string }>`select c.relname::text as leaf from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and k.contype = 'c' and k.convalidated and pg_get_constraintdef(k.oid) like ${`%<> ${sqlLiteral(key)}%`} order by 1`.execute(db);
  let routeLeaf = '';
  for (let i = 0; i < leaves; i++) {
    const hit = await sql<{ ok: boolean }>`select satisfies_hash_partition(${`"${schema}"."${defaultName}"`}::regclass, ${leaves}::int, ${i}::int, ${key}::text) as ok`.execute(db);
    if (hit.rows[0]!.ok) routeLeaf = `${defaultName}_p${i}`;
  }
  return { guarded: r.rows.map((x) => x.leaf), routeLeaf };
}

const sqlLiteral = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** The DEFAULT leaves but `routeLeaf`, sorted: where a scope's guards stay. */
export const allBut = (defaultName: string, leaves: number, routeLeaf: string) =>
  Array.from({ length: leaves }, (_, i) => `${defaultName}_p${i}`).filter((l) => l !== routeLeaf).sort();
