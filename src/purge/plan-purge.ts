import { sql } from 'kysely';
import type { PartgovConfig, TableConfig } from '../config/config-schema.js';
import { findTableOid, readPartitionTree, requireTable, type ColumnModel, type TableModel, type TableRef } from '../db/catalog.js';
import { archiveNameOf } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError, sqlStateOf } from '../errors.js';
import { defaultBeside, defaultLeavesForKey, isDedicatedLeaf, leavesForKey } from '../db/partition-routing.js';
import { keysFromRowsText, resolveScopeSelector, scopePredicate, scopeSelector, type ScopeSelector, type ScopeTarget } from '../db/scope-target.js';
import { scopeGuardNames } from '../db/scope-partition.js';
import { planLeafSwap, type LeafSwap } from './leaf-swap.js';

/**
 * How one table's rows of a scope go: `truncate_partition` / `drop_partition`
 * (the scope owns dedicated partitions: O(1)), `pruned_delete` (a DELETE that
 * the scope key prunes to the leaves that can hold it), `delete` (a DELETE
 * over the whole table), or `none` (no partition can hold the scope).
 */
export type PurgeStrategy = 'truncate_partition' | 'drop_partition' | 'pruned_delete' | 'delete' | 'none';

export interface LeafRef extends TableRef {
  oid: string;
  parentSchema: string | null;
  parentName: string | null;
}

export interface TablePurgePlan {
  /** schema.name of the configured table. */
  table: string;
  config: TableConfig;
  /** The table the application uses under that name (partitioned after cutover). */
  live: TableRef;
  oid: string;
  partitioned: boolean;
  selector: ScopeSelector;
  strategy: PurgeStrategy;
  /** The leaves the purge touches: dedicated ones for truncate/drop, the ones the key prunes to for a delete. */
  leaves: LeafRef[];
  /** Rows of the scope now (a count; for truncate/drop, the leaves' row estimate). */
  rows: number;
  rows_exact: boolean;
  /** Columns copied to an archive and checksummed (generated columns are recomputed, not stored). */
  columns: ColumnModel[];
  /** After cutover: the kept legacy table, fed by the reverse change log; its rows of the scope go too, so a rollback cannot bring them back. */
  archiveTable: (TableRef & { oid: string; keyColumns: string[] }) | null;
  /** Configured tables whose foreign keys point at this one. */
  referencedBy: string[];
  /** Why the strategy is not the obvious one. */
  note?: string;
  /** truncate_partition: the leaves emptied by swapping in an empty twin (the rest of `leaves` are TRUNCATEd). */
  swaps: LeafSwap[];
  /**
   * Leaves carrying the scope's `CHECK (key <> K)` guard. `routed`: a leaf the
   * scope's rows would fall into without its partition (only an interrupted
   * run leaves a guard there): dropped under the lock that drops the partition,
   * else after COMMIT. The others are kept while the scope has a partition (no
   * write can meet them; they spare the next swap a read of the DEFAULT) and
   * go after COMMIT when its partition is dropped.
   */
  guardedLeaves: (TableRef & { constraint: string; routed: boolean })[];
  /** The DEFAULT leaves beside the scope's partitions that its rows fall into once they are dropped. */
  routeLeaves: TableRef[];
}

/** The live table's primary-key columns (after cutover: the shadow's, which the kept legacy table has too). */
const liveKeyColumns = (model: TableModel): string[] => [...(model.constraints.find((c) => c.kind === 'primary_key')?.columns ?? [])];

/** Configured tables whose foreign keys reference `oid` (among `oids`), by label. */
async function referencingTables(db: PartgovKysely, oid: string, labelsByOid: ReadonlyMap<string, string>): Promise<string[]> {
  const r = await sql<{ conrelid: string }>`
    select distinct conrelid::int8::text as conrelid from pg_constraint
    where contype = 'f' and conparentid = 0 and confrelid = ${oid}::oid and conrelid <> confrelid`.execute(db);
  return r.rows.map((x) => labelsByOid.get(x.conrelid)).filter((x): x is string => x !== undefined);
}

async function planTable(db: PartgovKysely, config: PartgovConfig, table: TableConfig, target: ScopeTarget, dropPartitions: boolean): Promise<Omit<TablePurgePlan, 'referencedBy'>> {
  const noSwaps = { swaps: [], guardedLeaves: [], routeLeaves: [] };
  const live: TableRef = { schema: table.schema, name: table.name };
  const model = await requireTable(db, live);
  const named = scopeSelector(config, table, target);
  for (const c of [named.tenantColumn, named.scopeColumn, named.keyColumn]) {
    if (c !== null && !model.columns.some((x) => x.name === c)) {
      throw new InputInvalidError(`${table.schema}.${table.name} has no column ${JSON.stringify(c)} (named in its config)`, { fix: `fix tables[].tenant_column / scope_column / scope_key_column for ${table.name}` });
    }
  }
  const selector = await resolveScopeSelector(db, config, table, target);
  const columns = model.columns.filter((c) => c.generated === null);
  const archiveOid = await findTableOid(db, { schema: table.schema, name: archiveNameOf(table) });
  const base = {
    table: `${table.schema}.${table.name}`,
    config: table,
    live,
    oid: model.oid,
    partitioned: model.partitioned,
    selector,
    columns,
    archiveTable: model.partitioned && archiveOid !== null ? { schema: table.schema, name: archiveNameOf(table), oid: archiveOid, keyColumns: liveKeyColumns(model) } : null,
    ...noSwaps,
  };
  const count = async () => Number((await sql<{ n: string }>`select count(*)::text as n from ${sql.id(live.schema, live.name)} where ${scopePredicate(selector)}`.execute(db)).rows[0]!.n);
  if (!model.partitioned) {
    return { ...base, strategy: 'delete', leaves: [{ ...live, oid: model.oid, parentSchema: null, parentName: null }], rows: await count(), rows_exact: true };
  }
  const tree = await readPartitionTree(db, live);
  const leaves = tree.filter((p) => p.isLeaf);
  const toLeaf = (p: (typeof tree)[number]): LeafRef => ({ schema: p.schema, name: p.name, oid: p.oid, parentSchema: p.parentSchema, parentName: p.parentName });
  let candidates = leaves;
  if (selector.keyColumn !== null && selector.keyValue !== null) {
    candidates = await leavesForKey(db, live, leaves, selector.keyColumn, selector.keyValue);
  }
  if (candidates.length === 0) return { ...base, strategy: 'none', leaves: [], rows: 0, rows_exact: true };
  const ownsLeaves =
    selector.keyColumn !== null &&
    selector.keyValue !== null &&
    (await Promise.all(candidates.map((l) => isDedicatedLeaf(db, l, selector.keyColumn!, selector.keyValue!)))).every(Boolean);
  // A partition of a key that is the tenant alone (or the scope alone) holds the tenant's other
  // scopes too: emptying it would take their rows. Only the scope's own rows may go: a DELETE.
  // A key read from the scope's rows has no format vouching that it is the scope's alone: every row of its partitions is read (no lock).
  const sharedRows = ownsLeaves && selector.keysFromRows !== null && selector.tenantColumn !== null && selector.scopeColumn !== null
    && (await sql<{ x: boolean }>`select exists (select 1 from (${sql.join(candidates.map((l) => sql`(select ${sql.id(selector.tenantColumn!)} as t, ${sql.id(selector.scopeColumn!)} as s from only ${sql.id(l.schema, l.name)})`), sql` union all `)}) r
        where r.t is distinct from ${target.tenantId} or r.s is distinct from ${target.scope}) as x`.execute(db)).rows[0]!.x;
  if (ownsLeaves && (!selector.keyIdentifiesScope || sharedRows)) {
    const shared = sharedRows ? `rows of another tenant or scope too` : selector.keyColumn === table.tenant_column ? `every scope of tenant ${JSON.stringify(target.tenantId)}` : selector.keyColumn === table.scope_column ? `scope ${JSON.stringify(target.scope)} of every tenant` : `every scope whose key is ${JSON.stringify(selector.keyValue)}`;
    return {
      ...base, strategy: 'pruned_delete', leaves: candidates.map(toLeaf), rows: await count(), rows_exact: true,
      note: `its partition for ${selector.keyColumn} = ${JSON.stringify(selector.keyValue)} holds ${shared}, so a TRUNCATE would take other scopes' rows`,
    };
  }
  const dedicated = ownsLeaves;
  // A foreign key into a partition makes PostgreSQL refuse its TRUNCATE (the referencing parent would have to be
  // truncated too): such a scope is DELETEd, referencing rows first, and partition mode says why.
  const referenced = dedicated
    ? await sql<{ name: string; by: string }>`select c.conname as name, c.conrelid::regclass::text as by from pg_constraint c
        where c.contype = 'f' and c.confrelid = any(${candidates.map((l) => l.oid)}::oid[]) limit 1`.execute(db)
    : { rows: [] };
  if (referenced.rows.length > 0) {
    const fk = referenced.rows[0]!;
    return { ...base, strategy: 'pruned_delete', leaves: candidates.map(toLeaf), rows: await count(), rows_exact: true, note: `its partitions are referenced by foreign key ${fk.name} of ${fk.by}, so PostgreSQL refuses their TRUNCATE` };
  }
  if (dedicated) {
    const key = { column: selector.keyColumn!, value: selector.keyValue! };
    // The DEFAULT leaves beside the scope's partitions that its rows would fall into without them.
    const routed = new Map<string, TableRef>();
    for (const l of candidates) {
      const def = defaultBeside(tree, l);
      if (def) for (const r of await defaultLeavesForKey(db, def, tree, key.column, key.value)) routed.set(`${r.schema}.${r.name}`, { schema: r.schema, name: r.name });
    }
    const swaps: LeafSwap[] = [];
    const reasons: string[] = [];
    if (!dropPartitions) {
      for (const l of candidates) {
        const s = await planLeafSwap(db, toLeaf(l), tree, key, new Set(routed.keys()), config.purge.swap_min_mb * 1024 * 1024);
        if (s.swap) swaps.push(s.swap);
        else if (!s.small) reasons.push(`${l.name}: ${s.reason}`);
      }
    }
    const guarded = await sql<{ schema: string; name: string; constraint: string }>`select n.nspname as schema, c.relname as name, k.conname as constraint from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
      where k.conname = any(${scopeGuardNames(key.value)}::text[]) and k.conrelid = any(${leaves.map((l) => l.oid)}::oid[])`.execute(db);
    return {
      ...base,
      strategy: dropPartitions ? 'drop_partition' : 'truncate_partition',
      leaves: candidates.map(toLeaf),
      rows: candidates.reduce((n, l) => n + l.rowEstimate, 0),
      rows_exact: false,
      swaps,
      guardedLeaves: guarded.rows.map((g) => ({ schema: g.schema, name: g.name, constraint: g.constraint, routed: routed.has(`${g.schema}.${g.name}`) })),
      routeLeaves: [...routed.values()],
      ...(reasons.length > 0 ? { note: `TRUNCATE, not a swap, for ${reasons.join('; ')}` } : {}),
    };
  }
  const keys = selector.keysFromRows;
  return {
    ...base, strategy: candidates.length < leaves.length ? 'pruned_delete' : 'delete', leaves: candidates.map(toLeaf), rows: await count(), rows_exact: true,
    ...(keys !== null && keys.length > 1 ? { note: `the scope's rows hold ${keysFromRowsText(selector.keyColumn!, keys)}, so no one partition is the scope's` } : {}),
  };
}

/**
 * Plans the purge of a scope from each table, in foreign-key-safe order
 * (tables that reference others first). Reads only. A value the key column
 * cannot hold (text into an integer key) is bad input (exit 2).
 */
export async function planScopePurge(db: PartgovKysely, config: PartgovConfig, tables: readonly TableConfig[], target: ScopeTarget, o: { dropPartitions: boolean }): Promise<TablePurgePlan[]> {
  let plans: Omit<TablePurgePlan, 'referencedBy'>[];
  try {
    plans = [];
    for (const t of tables) plans.push(await planTable(db, config, t, target, o.dropPartitions));
  } catch (err) {
    const state = sqlStateOf(err);
    if (state?.startsWith('22')) {
      throw new InputInvalidError(`the tenant or scope value does not fit its column: ${(err as Error).message}`, { fix: 'pass the values exactly as stored', cause: err });
    }
    throw err;
  }
  const labels = new Map(plans.map((p) => [p.oid, p.table]));
  const withRefs: TablePurgePlan[] = [];
  for (const p of plans) withRefs.push({ ...p, referencedBy: await referencingTables(db, p.oid, labels) });
  return orderForForeignKeys(withRefs);
}

/** Referencing tables before the tables they reference (a DELETE order that never trips a foreign key). */
export function orderForForeignKeys(plans: readonly TablePurgePlan[]): TablePurgePlan[] {
  const out: TablePurgePlan[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byLabel = new Map(plans.map((p) => [p.table, p]));
  const visit = (p: TablePurgePlan) => {
    if (placed.has(p.table) || visiting.has(p.table)) return;
    visiting.add(p.table);
    for (const r of p.referencedBy) {
      const child = byLabel.get(r);
      if (child) visit(child);
    }
    visiting.delete(p.table);
    placed.add(p.table);
    out.push(p);
  };
  plans.forEach(visit);
  return out;
}
