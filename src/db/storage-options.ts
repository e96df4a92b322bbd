import { sql, type RawBuilder } from 'kysely';
import { compileDdl } from './compile-ddl.js';
import type { TableRef } from './catalog.js';
import type { PartgovKysely } from './state-tables.js';

/**
 * A table's storage parameters as pg_class keeps them (`name=value` strings,
 * the TOAST table's apart), and its replica identity: neither is inherited by
 * a partition, so each leaf must be given them.
 */
export interface StorageParameters {
  readonly table: readonly string[];
  readonly toast: readonly string[];
  /** pg_class.relreplident: d(efault), f(ull), n(othing), i(ndex: not copied, its index is the table's own). */
  readonly replicaIdentity?: string;
}

/**
 * The parameters as `name = 'value'` items for `WITH (…)` or `SET (…)`:
 * fillfactor, autovacuum_* and the like, which a hot table is often tuned
 * with and a partitioned table cannot hold (each leaf must).
 */
export function storageParameterItems(p: StorageParameters): RawBuilder<unknown>[] {
  const items = (options: readonly string[], prefix: string) =>
    options.map((o) => {
      const eq = o.indexOf('=');
      const name = o.slice(0, eq);
      if (!/^[a-z_]+$/.test(name)) throw new Error(`unexpected storage option ${JSON.stringify(o)}`);
      // sql.raw: an option word from the catalog, checked above; the value goes in as a quoted literal.
      return sql.raw(`${prefix}${name} = ${compileDdl(sql`${sql.lit(o.slice(eq + 1))}`)}`);
    });
  return [...items(p.table, ''), ...items(p.toast, 'toast.')];
}

/** `REPLICA IDENTITY FULL` / `NOTHING` for a leaf, or null (the default, and USING INDEX, are left alone). */
export function replicaIdentityClause(replicaIdentity: string | undefined): RawBuilder<unknown> | null {
  return replicaIdentity === 'f' ? sql`replica identity full` : replicaIdentity === 'n' ? sql`replica identity nothing` : null;
}

/** `ALTER TABLE … SET (…), REPLICA IDENTITY …` giving `target` these settings, or null when there are none. */
export function setStorageParameters(target: TableRef, p: StorageParameters): RawBuilder<unknown> | null {
  const items = storageParameterItems(p);
  const actions = [...(items.length > 0 ? [sql`set (${sql.join(items)})`] : []), ...[replicaIdentityClause(p.replicaIdentity)].filter((x) => x !== null)];
  return actions.length > 0 ? sql`alter table ${sql.id(target.schema, target.name)} ${sql.join(actions)}` : null;
}

/** A relation's storage parameters (none for a missing one). */
export async function readStorageParameters(db: PartgovKysely, ref: TableRef): Promise<StorageParameters> {
  const r = await sql<{ table: string[] | null; toast: string[] | null; ri: string }>`
    select c.reloptions as table, (select t.reloptions from pg_class t where t.oid = c.reltoastrelid) as toast, c.relreplident as ri
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${ref.schema} and c.relname = ${ref.name}`.execute(db);
  return { table: r.rows[0]?.table ?? [], toast: r.rows[0]?.toast ?? [], replicaIdentity: r.rows[0]?.ri ?? 'd' };
}

/**
 * The storage parameters of the newest leaf under `root` (a DEFAULT last):
 * what a partition maintain or isolate adds should have, as plan gave every
 * leaf the legacy table's.
 */
export async function siblingLeafStorage(db: PartgovKysely, root: TableRef): Promise<StorageParameters> {
  const r = await sql<{ table: string[] | null; toast: string[] | null; ri: string }>`
    select c.reloptions as table, (select t.reloptions from pg_class t where t.oid = c.reltoastrelid) as toast, c.relreplident as ri
    from pg_partition_tree((quote_ident(${root.schema}) || '.' || quote_ident(${root.name}))::regclass) p
    join pg_class c on c.oid = p.relid
    where p.isleaf
    order by pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::int8 desc
    limit 1`.execute(db);
  return { table: r.rows[0]?.table ?? [], toast: r.rows[0]?.toast ?? [], replicaIdentity: r.rows[0]?.ri ?? 'd' };
}
