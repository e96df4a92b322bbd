import { sql } from 'kysely';
import type { PartgovKysely } from '../db/state-tables.js';
import { captureTriggerNames, type SyncDirection } from './change-log.js';

/** Whether sync (the change-log capture triggers of that direction) is on the table. */
export async function isSyncEnabled(db: PartgovKysely, schema: string, table: string, direction: SyncDirection = 'forward'): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and t.tgname = ${captureTriggerNames(direction).insert}`.execute(db);
  return r.rows[0]!.n > 0;
}
