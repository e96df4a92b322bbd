import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import { findTableOid } from '../db/catalog.js';
import { archiveNameOf, resolveShadowPair, type ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { captureTriggerNames, type SyncDirection } from './change-log.js';
import type { Check } from '../checks/check.js';
import { shellWord } from '../errors.js';

/** Whether sync (the change-log capture triggers of that direction) is on the table. */
export async function isSyncEnabled(db: PartgovKysely, schema: string, table: string, direction: SyncDirection = 'forward'): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and t.tgname = ${captureTriggerNames(direction).insert}`.execute(db);
  return r.rows[0]!.n > 0;
}

/** How that direction's capture triggers on the table fire: pg_trigger.tgenabled, 'A' always, 'O' origin (the default), 'D' disabled. */
export async function captureTriggerModes(db: PartgovKysely, schema: string, table: string, direction: SyncDirection): Promise<{ name: string; mode: string }[]> {
  const r = await sql<{ name: string; mode: string }>`
    select t.tgname as name, t.tgenabled as mode from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and t.tgname = any(${Object.values(captureTriggerNames(direction))}::text[])
    order by 1`.execute(db);
  return r.rows;
}

/** That direction's capture triggers on the table that are disabled (ALTER TABLE … DISABLE TRIGGER): writes pass them by, unlogged. */
export async function disabledCaptureTriggers(db: PartgovKysely, schema: string, table: string, direction: SyncDirection): Promise<string[]> {
  return (await captureTriggerModes(db, schema, table, direction)).filter((t) => t.mode === 'D').map((t) => t.name);
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

/**
 * Whether renaming or dropping the columns a table's capture reads is refused
 * (partgov's event trigger, which only a superuser can create, and the table's
 * row in partgov.sync_guard). Without it such an ALTER TABLE would make the
 * application's writes fail while sync is on: a warning with the way out.
 */
export async function ddlGuardCheck(db: PartgovKysely, table: { schema: string; name: string }): Promise<Check> {
  const label = `${table.schema}.${table.name}`;
  const r = await sql<{ columns: string[] | null; trigger: boolean }>`
    select (select g.key_columns from partgov.sync_guard g join pg_class c on c.oid = g.relid join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = ${table.schema} and c.relname = ${table.name}) as columns,
           exists (select 1 from pg_event_trigger where evtname = 'partgov_guard_synced_ddl' and evtenabled <> 'D') as trigger`.execute(db);
  const { columns, trigger } = r.rows[0]!;
  const cols = columns ?? [];
  if (trigger && columns !== null) {
    return { name: `ddl_guard:${label}`, status: 'pass', detail: `renaming or dropping ${cols.join(', ')} of ${label} is refused while sync is on`, objects: cols };
  }
  return {
    name: `ddl_guard:${label}`,
    status: 'warn',
    detail: `nothing refuses renaming or dropping ${cols.length > 0 ? cols.join(', ') : 'the key columns'} of ${label} while sync is on, and such an ALTER TABLE would make the application's writes fail (${trigger ? 'the table is not registered in partgov.sync_guard' : 'partgov\'s event trigger is not installed: creating one needs a superuser'})`,
    objects: cols,
    fix: `have a superuser run \`partgov sync enable --table ${shellWord(label)}\` once (it installs the event trigger; later runs by any role are then guarded), or freeze DDL on ${label} until cutover (runbooks/sync-and-backfill.md)`,
  };
}
