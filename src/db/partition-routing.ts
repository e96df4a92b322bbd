import { sql, type RawBuilder } from 'kysely';
import type { TableRef } from './catalog.js';
import type { PartgovKysely } from './state-tables.js';

interface PlanNode {
  'Relation Name'?: string;
  Schema?: string;
  Plans?: PlanNode[];
}

function relationsOf(plan: PlanNode): Set<string> {
  const seen = new Set<string>();
  const walk = (n: PlanNode) => {
    if (n['Relation Name']) seen.add(`${n.Schema ?? ''}.${n['Relation Name']}`);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(plan);
  return seen;
}

/** The relations a query's plan reads (schema.name): after plan-time pruning, the leaves it can touch. */
export async function explainRelations(db: PartgovKysely, query: RawBuilder<unknown>): Promise<Set<string>> {
  // VERBOSE: without it the JSON plan leaves out each relation's schema.
  const r = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }>`explain (verbose, format json) ${query}`.execute(db);
  return relationsOf(r.rows[0]!['QUERY PLAN'][0]!.Plan);
}

/**
 * A leaf is dedicated to the key value when its partition constraint refutes
 * every other value and NULL: asked of the planner itself (constraint
 * exclusion proves it), so it holds for any key type and any depth of
 * sub-partitioning, without parsing partition bounds.
 */
export async function isDedicatedLeaf(db: PartgovKysely, leaf: TableRef, keyColumn: string, keyValue: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('constraint_exclusion', 'on', true)`.execute(trx);
    const target = sql.id(leaf.schema, leaf.name);
    const other = await explainRelations(trx, sql`select 1 from only ${target} where ${sql.id(keyColumn)} <> ${keyValue}`);
    const nulls = await explainRelations(trx, sql`select 1 from only ${target} where ${sql.id(keyColumn)} is null`);
    return other.size === 0 && nulls.size === 0;
  });
}


/** The leaves of `tree` a `key = value` statement on `root` can touch: PostgreSQL's own plan-time pruning decides. */
export async function leavesForKey<L extends TableRef & { isLeaf: boolean }>(db: PartgovKysely, root: TableRef, tree: readonly L[], keyColumn: string, keyValue: string): Promise<L[]> {
  const kept = await explainRelations(db, sql`select 1 from ${sql.id(root.schema, root.name)} where ${sql.id(keyColumn)} = ${keyValue}`);
  return tree.filter((p) => p.isLeaf && kept.has(`${p.schema}.${p.name}`));
}

/** The DEFAULT partition beside `part` (under the same parent), if that parent has one. */
export function defaultBeside<P extends { parentSchema: string | null; parentName: string | null; bound: string | null }>(tree: readonly P[], part: { parentSchema: string | null; parentName: string | null }): P | undefined {
  return tree.find((p) => p.parentSchema === part.parentSchema && p.parentName === part.parentName && p.bound === 'DEFAULT');
}

/**
 * The leaves under a DEFAULT partition (`defaultPart`) that a row with
 * `key = value` would be routed to if the value had no partition of its own:
 * pruning asked of the DEFAULT itself, with constraint exclusion off so its
 * own partition constraint (which excludes the value) is set aside. When the
 * planner cannot tell, every leaf under it: the answer guards writes, so it
 * errs towards more leaves.
 */
export async function defaultLeavesForKey<L extends TableRef & { oid: string; isLeaf: boolean; parentSchema: string | null; parentName: string | null }>(
  db: PartgovKysely,
  defaultPart: TableRef & { oid: string },
  tree: readonly L[],
  keyColumn: string,
  keyValue: string,
): Promise<L[]> {
  const under = leavesUnder(tree, defaultPart.oid);
  const kept = await db.transaction().execute(async (trx) => {
    await sql`select set_config('constraint_exclusion', 'off', true)`.execute(trx);
    return explainRelations(trx, sql`select 1 from ${sql.id(defaultPart.schema, defaultPart.name)} where ${sql.id(keyColumn)} = ${keyValue}`);
  });
  const routed = under.filter((l) => kept.has(`${l.schema}.${l.name}`));
  return routed.length > 0 ? routed : under;
}

/** A hash partition's modulus and remainder, from PostgreSQL's own deparse of its bound (pg_get_expr); null for any other bound. */
export function hashBoundOf(bound: string | null): { modulus: number; remainder: number } | null {
  const m = /^FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)$/.exec(bound ?? '');
  return m ? { modulus: Number(m[1]), remainder: Number(m[2]) } : null;
}

/** The leaves at or under the relation `oid` in `tree` (a DEFAULT partition may itself be partitioned). */
export function leavesUnder<P extends { oid: string; schema: string; name: string; parentSchema: string | null; parentName: string | null; isLeaf: boolean }>(tree: readonly P[], oid: string): P[] {
  const top = tree.find((p) => p.oid === oid);
  if (!top) return [];
  const under = (p: P): boolean => {
    for (let cur: P | undefined = p; cur; cur = tree.find((x) => x.schema === cur!.parentSchema && x.name === cur!.parentName)) {
      if (cur.oid === top.oid) return true;
    }
    return false;
  };
  return tree.filter((p) => p.isLeaf && under(p));
}

/** A constraint that lives only inside one transaction: adding it is the catalog change that invalidates every session's copy of a leaf. */
const refreshConstraint = 'partgov_refresh';

/**
 * Statements that make every session re-read a leaf's partition constraint
 * when the transaction commits. A leaf's constraint includes its ancestors',
 * and PostgreSQL, when a partition is attached beside a DEFAULT or detached
 * from beside it, invalidates the DEFAULT but not the DEFAULT's own
 * partitions: a session that had used one of those leaves keeps checking the
 * old constraint. An UPDATE there then "moves" a row within the leaf when the
 * old constraint rejects it (a concurrent UPDATE or DELETE of the row fails:
 * "already moved to another partition"), or keeps a row the new one rejects.
 * Both statements are catalog changes only (NOT VALID: no scan).
 */
export function refreshPartitionConstraintDdl(leaf: TableRef): RawBuilder<unknown>[] {
  const t = sql.id(leaf.schema, leaf.name);
  return [sql`alter table ${t} add constraint ${sql.id(refreshConstraint)} check (true) not valid`, sql`alter table ${t} drop constraint ${sql.id(refreshConstraint)}`];
}
