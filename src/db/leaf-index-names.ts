import { sql } from 'kysely';
import type { TableRef } from './catalog.js';
import type { PartgovKysely } from './state-tables.js';

/**
 * A leaf that replaced another (purge's empty twin, isolate's copy of a
 * DEFAULT leaf) takes the old leaf's index names (run after the old leaf is
 * dropped, which frees them): matched through the partitioned index each one
 * is attached to. Without this the names drift (`…_next_pkey`, then
 * `…_next_pkey1`) with every swap of the same leaf.
 */
export async function restoreIndexNames(db: PartgovKysely, leaf: TableRef, oldNames: ReadonlyMap<string, string>): Promise<void> {
  const now = await leafIndexNames(db, leaf);
  for (const [parentIndex, name] of now) {
    const wanted = oldNames.get(parentIndex);
    if (wanted === undefined || wanted === name) continue;
    await sql`alter index ${sql.id(leaf.schema, name)} rename to ${sql.id(wanted)}`.execute(db);
  }
}

/** A leaf's index names by the oid of the partitioned index each is attached to. */
export async function leafIndexNames(db: PartgovKysely, leaf: TableRef): Promise<Map<string, string>> {
  const r = await sql<{ parent: string; name: string }>`
    select i.inhparent::int8::text as parent, x.relname as name
    from pg_index ix join pg_class x on x.oid = ix.indexrelid join pg_inherits i on i.inhrelid = ix.indexrelid
    where ix.indrelid = (select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${leaf.schema} and c.relname = ${leaf.name})`.execute(db);
  return new Map(r.rows.map((x) => [x.parent, x.name]));
}
