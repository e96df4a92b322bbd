import { sql } from 'kysely';
import { runGuarded, type GuardOptions } from './run-guarded.js';
import type { PartgovKysely } from './state-tables.js';

/**
 * Drops the partitions a run detached and renamed aside
 * (objectNames.retiredPartition) but died before dropping: never attached
 * again, only garbage (a whole copy of a leaf's rows). purge, isolate and
 * maintain each call it for the schemas they work in; returns what went.
 */
export async function dropRetiredPartitions(db: PartgovKysely, schemas: readonly string[], guard: Omit<GuardOptions, 'label'>, command: string): Promise<string[]> {
  const r = await sql<{ schema: string; name: string }>`select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${[...schemas]}::text[]) and c.relkind in ('r', 'p') and not c.relispartition and c.relname like 'partgov\_purged\_%'`.execute(db);
  for (const t of r.rows) {
    await runGuarded(db, (trx) => sql`drop table if exists ${sql.id(t.schema, t.name)}`.execute(trx), { ...guard, label: `${command}: drop ${t.name}, set aside by a run that died before dropping it` });
  }
  return r.rows.map((t) => `${t.schema}.${t.name}`);
}
