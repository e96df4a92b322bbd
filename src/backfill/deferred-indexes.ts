import { sql } from 'kysely';
import type { PartitionModel } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import type { Step } from '../steps/run-steps.js';
import { forEachConcurrently } from '../concurrency.js';
import { runGuarded, type GuardOptions } from '../db/run-guarded.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { fitIdentifier } from '../db/object-names.js';

/** A shadow index a --defer-indexes backfill dropped, enough to build it again. */
export interface DeferredIndex {
  name: string;
  /** pg_get_indexdef text after `USING `. */
  using_clause: string;
}

/**
 * The shadow's indexes that can wait until after the copy: neither the primary
 * key (the sync upsert and ON CONFLICT need it) nor any unique index or
 * constraint (kept so uniqueness is enforced throughout).
 */
export function deferrableIndexes(pair: ShadowPair): DeferredIndex[] {
  return pair.shadow.indexes
    .filter((i) => !i.backsConstraint && !i.isUnique && i.usingClause !== null)
    .map((i) => ({ name: i.name, using_clause: i.usingClause! }));
}

/** The statements that drop the deferred indexes (the parent's drop removes every partition's copy). */
export function deferredIndexDropSteps(pair: ShadowPair, indexes: readonly DeferredIndex[]): Step[] {
  return indexes.map((idx) => ({
    id: `drop-index ${idx.name}`,
    description: `drop ${idx.name} of ${pair.shadow.name} for the copy (rebuilt leaf by leaf afterwards)`,
    sql: compileDdl(sql`drop index if exists ${sql.id(pair.shadow.schema, idx.name)}`),
  }));
}

/** Drops the deferred indexes and records them, in one transaction. */
export async function dropDeferredIndexes(
  db: PartgovKysely,
  steps: readonly Step[],
  guard: Omit<GuardOptions, 'label'>,
  recordInSameTransaction: (trx: PartgovKysely) => Promise<void>,
): Promise<void> {
  await runGuarded(
    db,
    async (trx) => {
      for (const s of steps) await sql.raw(s.sql).execute(trx); // sql.raw: compiled by kysely in deferredIndexDropSteps
      await recordInSameTransaction(trx);
    },
    { ...guard, label: 'drop deferred indexes' },
  );
}

/** One deferred index's rebuild: its `on only` index on the shadow, then a build and an attach per partition, parents first. */
export interface IndexRebuild {
  index: string;
  root: Step;
  nodes: { node: PartitionModel; build: Step; attach: Step }[];
}

/**
 * The rebuild of the deferred indexes as steps: `create index … on only
 * <parent>` (invalid until complete), a plain build on each leaf (a SHARE
 * lock on that leaf only, for its own build time), and `alter index … attach
 * partition` up the tree; PostgreSQL marks the parent index valid once every
 * partition has one attached. Sub-partitioned parents get their `on only`
 * index (attached to their parent's) before any leaf is built. Every statement
 * is idempotent (`if not exists`; attaching an attached index does nothing), so
 * a run killed half-way resumes where it stopped.
 */
export function deferredIndexRebuilds(pair: ShadowPair, tree: readonly PartitionModel[], indexes: readonly DeferredIndex[]): IndexRebuild[] {
  const schema = pair.shadow.schema;
  const parents = tree.filter((n) => n.level > 0 && !n.isLeaf); // level order: a parent before its children
  const leaves = tree.filter((n) => n.level > 0 && n.isLeaf);
  return indexes.map((idx) => {
    const indexOf = new Map<string, string>([[pair.shadow.name, idx.name]]);
    for (const node of [...parents, ...leaves]) indexOf.set(node.name, fitIdentifier(`${node.name}_${idx.name}`));
    // sql.raw: the USING clause is pg_get_indexdef text of the index we dropped.
    const using = sql.raw(idx.using_clause);
    return {
      index: idx.name,
      root: { id: `index ${idx.name}`, description: `${idx.name} on ${pair.shadow.name} only (valid once every partition's is attached)`, sql: compileDdl(sql`create index if not exists ${sql.id(idx.name)} on only ${sql.id(schema, pair.shadow.name)} using ${using}`) },
      nodes: [...parents, ...leaves].map((node) => {
        const name = indexOf.get(node.name)!;
        const parentIndex = indexOf.get(node.parentName ?? '')!;
        return {
          node,
          build: { id: `build ${name}`, description: `build ${idx.name} on ${node.name}${node.isLeaf ? ' (SHARE lock on this leaf only)' : ' only'}`, sql: compileDdl(sql`create index if not exists ${sql.id(name)} on ${node.isLeaf ? sql`` : sql`only`} ${sql.id(node.schema, node.name)} using ${using}`) },
          attach: { id: `attach ${name}`, description: `attach it to ${parentIndex}`, sql: compileDdl(sql`alter index ${sql.id(schema, parentIndex)} attach partition ${sql.id(node.schema, name)}`) },
        };
      }),
    };
  });
}

/** Every statement of the rebuilds, in order (for --dry-run and the audit row). */
export const rebuildSteps = (rebuilds: readonly IndexRebuild[]): Step[] => rebuilds.flatMap((r) => [r.root, ...r.nodes.flatMap((n) => [n.build, n.attach])]);

/**
 * Runs the rebuilds: builds `jobs` leaves at once (one per connection);
 * attaches one at a time (a chain of promises), each in its own short
 * transaction after its build committed: two ATTACHes on one parent index can
 * deadlock, and a retried one would throw its build away. A job starts its
 * next build without waiting for its last attach; every attach is awaited
 * before the rebuild returns.
 */
export async function rebuildDeferredIndexes(
  db: PartgovKysely,
  rebuilds: readonly IndexRebuild[],
  guard: Omit<GuardOptions, 'label'>,
  jobs = 1,
  onLeafBuilt?: (index: string, leaf: string) => void,
): Promise<number> {
  let built = 0;
  // With builds side by side the jobs are the parallelism: a build's own workers only queue for the same
  // cores (11 monthly leaves, 2 at once: 0.68 s without them, 0.76 s with PostgreSQL's default 2, on 2 cores).
  const buildSettings = { maintenance_work_mem: '256MB', ...(jobs > 1 ? { max_parallel_maintenance_workers: '0' } : {}) };
  // sql.raw below: statements compiled by kysely in deferredIndexRebuilds.
  for (const r of rebuilds) {
    await runGuarded(db, (trx) => sql.raw(r.root.sql).execute(trx), { ...guard, label: r.root.id });
    let attaching: Promise<unknown> = Promise.resolve();
    const attaches: Promise<void>[] = [];
    let attachFailure: { error: unknown } | undefined;
    const build = async (n: IndexRebuild['nodes'][number]) => {
      await runGuarded(db, (trx) => sql.raw(n.build.sql).execute(trx), { ...guard, settings: buildSettings, label: n.build.id });
      // Chained: a sub-partitioned parent's index (built first) is attached before its leaves' are attached to it.
      const attach = attaching.then(() => runGuarded(db, (trx) => sql.raw(n.attach.sql).execute(trx), { ...guard, label: n.attach.id }));
      attaching = attach.catch(() => undefined);
      attaches.push(
        attach.then(
          () => {
            if (!n.node.isLeaf) return;
            built++;
            onLeafBuilt?.(r.index, n.node.name);
          },
          (error: unknown) => {
            attachFailure ??= { error };
          },
        ),
      );
    };
    let buildFailure: { error: unknown } | undefined;
    try {
      for (const n of r.nodes.filter((x) => !x.node.isLeaf)) await build(n);
      await forEachConcurrently(r.nodes.filter((x) => x.node.isLeaf), jobs, build);
    } catch (error) {
      buildFailure = { error };
    }
    // Every attach settles before this returns or throws: none runs behind the caller's back.
    await Promise.all(attaches);
    if (buildFailure) throw buildFailure.error;
    if (attachFailure) throw attachFailure.error;
  }
  return built;
}
