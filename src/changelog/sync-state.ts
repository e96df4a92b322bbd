import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import { findTableOid } from '../db/catalog.js';
import { archiveNameOf, resolveShadowPair, type ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { captureTriggerNames, type SyncDirection } from './change-log.js';

/** Whether sync (the change-log capture triggers of that direction) is on the table. */
export async function isSyncEnabled(db: PartgovKysely, schema: string, table: string, direction: SyncDirection = 'forward'): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and t.tgname = ${captureTriggerNames(direction).insert}`.execute(db);
  return r.rows[0]!.n > 0;
}

/** Cut over and not retired: the archive exists and the reverse change log feeds it. */
export async function isCutOver(db: PartgovKysely, table: TableConfig): Promise<boolean> {
  return (await isSyncEnabled(db, table.schema, table.name, 'reverse')) && (await findTableOid(db, { schema: table.schema, name: archiveNameOf(table) })) !== null;
}

/**
 * The two tables verify and shadow-read compare, and the change log between
 * them: the legacy table and its shadow before cutover (forward); after it, the
 * archive (legacy-shaped) and the partitioned table under the name (reverse).
 */
export async function comparedPair(db: PartgovKysely, table: TableConfig): Promise<{ pair: ShadowPair; direction: SyncDirection }> {
  if (await isCutOver(db, table)) return { pair: await resolveShadowPair(db, table, { legacy: archiveNameOf(table), shadow: table.name }), direction: 'reverse' };
  return { pair: await resolveShadowPair(db, table), direction: 'forward' };
}
