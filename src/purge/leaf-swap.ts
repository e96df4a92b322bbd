import { sql } from 'kysely';
import { constraintState, requireTable, type PartitionModel, type TableRef } from '../db/catalog.js';
import { setStorageParameters } from '../db/storage-options.js';
import { compileDdl } from '../db/compile-ddl.js';
import { fitIdentifier, objectNames, shortHash } from '../db/object-names.js';
import { leavesUnder } from '../db/partition-routing.js';
import { scopeConstraintNames, scopeGuardDdl } from '../db/scope-partition.js';
import { querySqlFile } from '../db/sql-file.js';
import type { PartgovKysely } from '../db/state-tables.js';
import type { Step } from '../steps/run-steps.js';
import type { LeafRef } from './plan-purge.js';

/**
 * Emptying a big dedicated partition by swapping in an empty twin: TRUNCATE
 * holds its exclusive lock until COMMIT has unlinked the old files, which
 * grows with the partition (6 ms at 1e4 rows, 46 ms at 3e5 here). The swap
 * holds it for catalog changes only (DETACH, ATTACH of a twin built and
 * indexed beforehand, renames), whatever the size; the old files go after
 * COMMIT, when the application no longer sees them.
 */
export interface LeafSwap {
  leaf: LeafRef;
  parent: TableRef;
  /** pg_get_expr(relpartbound) of the leaf: PostgreSQL's own text, attached again verbatim. */
  bound: string;
  /** Built empty beside the table before the lock. */
  twin: TableRef;
  /** The old leaf's name from the switch until it is dropped after COMMIT. */
  retired: TableRef;
  /** DEFAULT leaves under the parent: a validated `CHECK (key <> K)` lets ATTACH skip their scan. */
  guarded: TableRef[];
  /**
   * The guarded leaves K would be routed to if its partition went: their guard
   * is dropped after the switch (it would fail K's writes then). The others
   * keep theirs, which no write can ever meet (K hashes elsewhere), so the
   * next purge or isolate of K validates one leaf instead of the whole DEFAULT.
   */
  routed: TableRef[];
  /** The guarded leaves without a validated guard yet: each is read once, by its VALIDATE, before the lock. */
  unproven: TableRef[];
  guardName: string;
  keyColumn: string;
  keyValue: string;
  bytes: number;
  /** DDL that builds the twin: columns, constraints and indexes like the parent; owner, grants, storage options and comment like the leaf. */
  build: string[];
}

/** `small`: refused only for its size (TRUNCATE is as quick); else `reason` is worth telling the DBA. */
export type LeafSwapPlan = { swap: LeafSwap } | { swap: null; reason: string; small: boolean };

interface LeafSwapRow {
  name: string;
  bound: string;
  parent_schema: string;
  parent_name: string;
  parent_list_single: boolean;
  parent_key_column: string | null;
  parent_default_oid: string | null;
  total_bytes: string;
  owner: string;
  owned_by_us: boolean;
  owner_is_us: boolean;
  reloptions: string[] | null;
  replica_identity: string;
  tablespace: string | null;
  toast_reloptions: string[] | null;
  grants: { grantee: string; privilege: string; grantable: boolean }[];
  comment: string | null;
  blockers: string[];
}

/** The deterministic names of a leaf's twin and of the old leaf after the switch: a crashed run's leftovers are found by name. */
export function swapNames(leaf: TableRef): { twin: TableRef; retired: TableRef } {
  const h = shortHash(`${leaf.schema}.${leaf.name}`);
  return { twin: { schema: leaf.schema, name: fitIdentifier('partgov_twin', `_${h}`) }, retired: { schema: leaf.schema, name: objectNames.retiredPartition(leaf) } };
}

/**
 * Whether a dedicated leaf can be swapped, and how. Refused (TRUNCATE is used)
 * when it is smaller than `minBytes`, when anything lives on the leaf itself
 * that a twin would not get back, or when its parent has a DEFAULT partition
 * that is not listed by the scope key (no constraint could spare its scan).
 * `routeLeaves`: schema.name of the DEFAULT leaves the key would fall into
 * without its partition (defaultLeavesForKey), whose guard is transient.
 */
export async function planLeafSwap(db: PartgovKysely, leaf: LeafRef, tree: readonly PartitionModel[], key: { column: string; value: string }, routeLeaves: ReadonlySet<string>, minBytes: number): Promise<LeafSwapPlan> {
  const [r] = await querySqlFile<LeafSwapRow>(db, 'catalog/leaf-swap.sql', [leaf.oid]);
  if (!r) return { swap: null, reason: 'it is not a partition', small: false };
  const bytes = Number(r.total_bytes);
  if (bytes < minBytes) return { swap: null, reason: `${Math.round(bytes / 1024)} kB, under purge.swap_min_mb: TRUNCATE holds its lock as briefly`, small: true };
  if (r.blockers.length > 0) return { swap: null, reason: `the partition has ${r.blockers.join(', ')}, which a swapped-in twin would not get back`, small: false };
  if (!r.owner_is_us) return { swap: null, reason: `it is owned by ${r.owner}, and partgov's role cannot create a twin for that owner`, small: false };
  const parent = { schema: r.parent_schema, name: r.parent_name };
  let guarded: TableRef[] = [];
  let routed: TableRef[] = [];
  const unproven: TableRef[] = [];
  const guardName = scopeConstraintNames(key.value).notScope;
  if (r.parent_default_oid !== null) {
    const def = tree.find((p) => p.oid === r.parent_default_oid);
    if (!def || !r.parent_list_single || r.parent_key_column !== key.column) {
      return { swap: null, reason: `its parent ${parent.name} has a DEFAULT partition and is not listed by ${key.column} alone, so attaching a twin would scan the DEFAULT under the lock`, small: false };
    }
    const ref = (l: TableRef) => ({ schema: l.schema, name: l.name });
    guarded = leavesUnder(tree, def.oid).map(ref);
    routed = guarded.filter((g) => routeLeaves.has(`${g.schema}.${g.name}`));
    for (const g of guarded) if ((await constraintState(db, g, guardName)) !== true) unproven.push(g);
  }
  const { twin, retired } = swapNames(leaf);
  const t = sql.id(twin.schema, twin.name);
  const identity = (await requireTable(db, parent)).columns.filter((c) => c.identity !== null).map((c) => c.name);
  const storage = setStorageParameters(twin, { table: r.reloptions ?? [], toast: r.toast_reloptions ?? [], replicaIdentity: r.replica_identity });
  const build = [
    // In the leaf's tablespace (its indexes: LIKE takes the parent indexes' own).
    compileDdl(sql`create table ${t} (like ${sql.id(parent.schema, parent.name)} including defaults including constraints including generated including indexes including storage including compression including statistics including comments)${r.tablespace ? sql` tablespace ${sql.id(r.tablespace)}` : sql``}`),
    ...identity.map((c) => compileDdl(sql`alter table ${t} alter column ${sql.id(c)} drop identity if exists`)),
    ...(r.owned_by_us ? [] : [compileDdl(sql`alter table ${t} owner to ${sql.id(r.owner)}`)]),
    ...(storage ? [compileDdl(storage)] : []),
    ...r.grants.map((g) => {
      // sql.raw: a privilege keyword from aclexplode(), checked to be one word of capitals.
      if (!/^[A-Z]+$/.test(g.privilege)) throw new Error(`unexpected privilege ${JSON.stringify(g.privilege)}`);
      return compileDdl(sql`grant ${sql.raw(g.privilege)} on ${t} to ${g.grantee === 'public' ? sql`public` : sql.id(g.grantee)}${g.grantable ? sql` with grant option` : sql``}`);
    }),
    ...(r.comment !== null ? [compileDdl(sql`comment on table ${t} is ${sql.lit(r.comment)}`)] : []),
  ];
  return { swap: { leaf, parent, bound: r.bound, twin, retired, guarded, routed, unproven, guardName, keyColumn: key.column, keyValue: key.value, bytes, build } };
}

/** The swap as steps: `online` before the lock (nothing blocks writes), `locked` in the purge's one transaction, `after` once it committed. */
export function leafSwapSteps(s: LeafSwap): { online: Step[]; locked: Step[]; after: Step[] } {
  const leaf = sql.id(s.leaf.schema, s.leaf.name);
  const parent = sql.id(s.parent.schema, s.parent.name);
  const key = { column: s.keyColumn, value: s.keyValue };
  const online: Step[] = [
    ...s.build.map((text, i) => ({ id: i === 0 ? `build ${s.twin.name}` : `shape ${s.twin.name} ${i}`, description: i === 0 ? `an empty twin of ${s.leaf.name}, indexed, built before the lock` : `the twin gets what ${s.leaf.name} has of its own`, sql: text })),
    ...s.unproven.flatMap((g) => [
      { id: `guard ${g.name}`, description: `proves ${g.name} (the DEFAULT) holds no row of the scope, so ATTACH skips its scan; K routes to its own partition, so this cannot fail a write`, sql: scopeGuardDdl(g, key, s.guardName).add },
      { id: `validate ${g.name}`, description: 'validate it (SHARE UPDATE EXCLUSIVE: writes go on)', sql: scopeGuardDdl(g, key, s.guardName).validate },
    ]),
  ];
  const locked: Step[] = [
    { id: `detach ${s.leaf.name}`, description: `the scope's rows leave the table with their partition`, sql: compileDdl(sql`alter table ${parent} detach partition ${leaf}`) },
    { id: `retire ${s.leaf.name}`, description: 'frees the name (dropped after COMMIT)', sql: compileDdl(sql`alter table ${leaf} rename to ${sql.id(s.retired.name)}`) },
    // sql.raw: pg_get_expr's own text of the leaf's bound, read from the catalog.
    { id: `attach ${s.twin.name}`, description: 'the empty twin takes the same bound (its own scan is of an empty table)', sql: compileDdl(sql`alter table ${parent} attach partition ${sql.id(s.twin.schema, s.twin.name)} ${sql.raw(s.bound)}`) },
    { id: `rename ${s.twin.name}`, description: `the twin takes the name ${s.leaf.name}`, sql: compileDdl(sql`alter table ${sql.id(s.twin.schema, s.twin.name)} rename to ${sql.id(s.leaf.name)}`) },
  ];
  // After COMMIT, each in its own short transaction: the scope routes to its partition, never to these leaves, so the guards can wait.
  const after: Step[] = [
    ...s.routed.map((g) => ({ id: `unguard ${g.name}`, description: `the leaf the scope would fall into without its partition: no guard is left there (the others keep theirs, which no write can meet)`, sql: scopeGuardDdl(g, key, s.guardName).drop })),
    { id: `drop ${s.retired.name}`, description: `the old partition and its files, no longer part of the table`, sql: compileDdl(sql`drop table if exists ${sql.id(s.retired.schema, s.retired.name)}`) },
    { id: `analyze ${s.leaf.name}`, description: 'statistics of the empty partition', sql: compileDdl(sql`analyze ${leaf}`) },
  ];
  return { online, locked, after };
}
