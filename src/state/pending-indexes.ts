import type { PartgovKysely } from '../db/state-tables.js';

/**
 * The shadow indexes a backfill dropped for its copy and has not built yet
 * (its checkpoint's list, cleared when the build completes); none without a
 * checkpoint. cutover refuses while any is pending, verify and status name them.
 */
export async function pendingIndexNames(db: PartgovKysely, label: string): Promise<string[]> {
  const cp = await db.selectFrom('partgov.backfill_checkpoint').select('deferred_indexes').where('table_name', '=', label).executeTakeFirst();
  return ((cp?.deferred_indexes ?? []) as { name: string }[]).map((i) => i.name);
}
