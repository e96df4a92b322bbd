import { sql } from 'kysely';
import type { TableRef } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { SafetyRefusedError, sqlStateOf } from '../errors.js';
import { SqlState } from '../db/sqlstate.js';

/**
 * partgov's writes into a copy (backfill batches, replay rounds, maintain's
 * DEFAULT moves, restore) are replication, not the application's writes: the
 * application's triggers already ran on the table the rows come from. Fired
 * again on the copy, a `BEFORE` trigger rewrites the copied row (an
 * `updated_at := now()` made every row differ) and an `AFTER` trigger repeats
 * its side effects (an audit row per copied row). So into a copy with such
 * triggers these writes run with `session_replication_role = replica`, as a
 * logical-replication apply worker does: ordinary triggers stay quiet;
 * partgov's capture triggers fire ALWAYS (see quietWrites for when).
 */
export const replicaWrites: Readonly<Record<string, string>> = { session_replication_role: 'replica' };

/**
 * Whether this role may set session_replication_role: a superuser, a role
 * granted `SET ON PARAMETER session_replication_role` (PostgreSQL 15+), or
 * whatever a managed service allows its admin role. Asked of the server by
 * trying, in a transaction of its own that is rolled back (so `db` must not
 * be inside one).
 */
export async function mayWriteAsReplica(db: PartgovKysely): Promise<boolean> {
  try {
    await db.transaction().execute(async (trx) => {
      await sql`select set_config('session_replication_role', 'replica', true)`.execute(trx);
      throw new TriedOnly();
    });
  } catch (err) {
    if (err instanceof TriedOnly) return true;
    if (sqlStateOf(err) === SqlState.insufficientPrivilege) return false;
    throw err;
  }
  return false;
}

/** Rolls back the transaction that only tried a setting. */
class TriedOnly extends Error {}

export interface TargetTrigger {
  table: string;
  name: string;
  /** pg_trigger.tgenabled: O (ordinary), A (ALWAYS), R (REPLICA only). */
  mode: 'O' | 'A' | 'R';
}

/** The application's enabled triggers on a table and its partitions (partgov's own and internal ones left out). */
export async function appTriggersOn(db: PartgovKysely, table: TableRef): Promise<TargetTrigger[]> {
  const rel = sql`(quote_ident(${table.schema}) || '.' || quote_ident(${table.name}))::regclass`;
  // pg_partition_tree gives no row for a table that is not partitioned: the table itself is added.
  const r = await sql<TargetTrigger>`
    with p as (select ${rel}::oid as relid, null::regclass as parentrelid union select relid, parentrelid from pg_partition_tree(${rel}))
    select p.relid::regclass::text as table, t.tgname as name, t.tgenabled as mode
    from p join pg_trigger t on t.tgrelid = p.relid
    where not t.tgisinternal and t.tgenabled <> 'D' and t.tgname not like 'partgov\\_%'
      -- a row trigger of a partitioned table is cloned to each partition: named once, on the table
      and (p.parentrelid is null or not exists (select 1 from pg_trigger pt where pt.oid = t.tgparentid))
    order by 1, 2`.execute(db);
  return r.rows;
}

/**
 * Whether partgov's writes into `target` must run as a replica to keep the
 * application's triggers there quiet (it has ordinary ones), after refusing
 * (exit 3) when they cannot be kept quiet: a trigger set to fire ALWAYS or in
 * REPLICA mode, or ordinary ones when this role may not write as a replica.
 * Without such triggers the writes run as usual: a replica would also skip the
 * foreign-key checks and the deferred unique checks, which are triggers too.
 */
export async function quietWrites(db: PartgovKysely, target: TableRef, mayReplica: boolean, ruleId: string): Promise<boolean> {
  const all = await appTriggersOn(db, target);
  const triggers = all.filter((t) => t.mode !== 'O' || !mayReplica);
  if (triggers.length === 0) return all.length > 0;
  const ids = triggers.map((t) => `${t.name} on ${t.table}${t.mode === 'A' ? ' (ENABLE ALWAYS)' : t.mode === 'R' ? ' (ENABLE REPLICA)' : ''}`);
  const special = triggers.filter((t) => t.mode !== 'O');
  const fixes = [
    ...(special.length > 0
      ? // sql.raw(t.table): regclass text from the catalog, quoted by the server.
        [`make ${special.map((t) => t.name).join(', ')} ordinary triggers on the copy while partgov writes it (${special.map((t) => compileDdl(sql`alter table ${sql.raw(t.table)} enable trigger ${sql.id(t.name)}`)).join('; ')}), and set the mode again after cutover`]
      : []),
    ...(triggers.some((t) => t.mode === 'O')
      ? ['let partgov write as a replica, which keeps ordinary triggers quiet: run it as a superuser, or (PostgreSQL 15+) GRANT SET ON PARAMETER session_replication_role TO <partgov role>; or drop the triggers from the copy until cutover (create them inside the window, before `partgov cutover`)']
      : []),
  ];
  throw new SafetyRefusedError(ruleId, `partgov's writes into ${target.schema}.${target.name} would fire the application's trigger(s) ${ids.join(', ')}: each copied or replayed row would run them again (a BEFORE trigger rewrites the copy, an AFTER trigger repeats its side effects)`, {
    fix: fixes.join('; or '),
    details: { triggers },
  });
}
