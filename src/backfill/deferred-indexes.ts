import { sql } from 'kysely';
import { readPartitionTree, type PartitionModel } from '../db/catalog.js';
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

/** Drops the deferred indexes (the parent's drop removes every partition's copy). */
export async function dropDeferredIndexes(
  db: PartgovKysely,
  pair: ShadowPair,
  indexes: readonly DeferredIndex[],
  guard: Omit<GuardOptions, 'label'>,
  recordInSameTransaction: (trx: PartgovKysely) => Promise<void>,
): Promise<void> {
  await runGuarded(
    db,
    async (trx) => {
      for (const idx of indexes) await sql`drop index if exists ${sql.id(pair.shadow.schema, idx.name)}`.execute(trx);
      await recordInSameTransaction(trx);
    },
    { ...guard, label: `drop deferred indexes of ${pair.shadow.name}` },
  );
}

/**
 * Builds the deferred indexes back, one leaf at a time per connection (`jobs`
 * leaves at once), then attaches them: `create index … on only <parent>`
 * (invalid until complete), a plain build on each leaf (a SHARE lock on that
 * leaf only, for its own build time), and `alter index … attach partition` up
 * the tree; PostgreSQL marks the parent index valid once every partition has
 * one attached. Sub-partitioned parents get their `on only` index (attached to
 * their parent's) before any leaf is built. Every step checks what exists
 * first, so a run killed half-way resumes where it stopped.
 */
export async function rebuildDeferredIndexes(
  db: PartgovKysely,
  pair: ShadowPair,
  indexes: readonly DeferredIndex[],
  guard: Omit<GuardOptions, 'label'>,
  jobs = 1,
  onLeafBuilt?: (index: string, leaf: string) => void,
): Promise<number> {
  const tree = await readPartitionTree(db, pair.shadow);
  const schema = pair.shadow.schema;
  const parents = tree.filter((n) => n.level > 0 && !n.isLeaf); // level order: a parent before its children
  const leaves = tree.filter((n) => n.level > 0 && n.isLeaf);
  let built = 0;
  for (const idx of indexes) {
    const indexOf = new Map<string, string>([[pair.shadow.name, idx.name]]);
    for (const node of [...parents, ...leaves]) indexOf.set(node.name, fitIdentifier(`${node.name}_${idx.name}`));
    // sql.raw: the USING clause is pg_get_indexdef text of the index we dropped.
    await runGuarded(
      db,
      (trx) => sql`create index if not exists ${sql.id(idx.name)} on only ${sql.id(schema, pair.shadow.name)} using ${sql.raw(idx.using_clause)}`.execute(trx),
      { ...guard, label: `create index ${idx.name} on only ${pair.shadow.name}` },
    );
    // Builds run `jobs` at once; attaches run one at a time (a chain of promises),
    // each in its own short transaction after its build committed: two ATTACHes on
    // one parent index can deadlock, and a retried one would throw its build away.
    let attaching: Promise<unknown> = Promise.resolve();
    const buildAndAttach = async (node: PartitionModel) => {
      const name = indexOf.get(node.name)!;
      const parentIndex = indexOf.get(node.parentName ?? '')!;
      await runGuarded(
        db,
        async (trx) => {
          await sql`select set_config('maintenance_work_mem', '256MB', true)`.execute(trx);
          const only = node.isLeaf ? sql`` : sql`only`;
          await sql`create index if not exists ${sql.id(name)} on ${only} ${sql.id(node.schema, node.name)} using ${sql.raw(idx.using_clause)}`.execute(trx);
        },
        { ...guard, label: `build index ${name} on ${node.name}` },
      );
      const attach = attaching.then(() =>
        runGuarded(
          db,
          async (trx) => {
            const attached = await sql<{ n: number }>`
              select count(*)::int as n from pg_inherits i join pg_class c on c.oid = i.inhrelid
              join pg_namespace ns on ns.oid = c.relnamespace where ns.nspname = ${node.schema} and c.relname = ${name}`.execute(trx);
            if (attached.rows[0]!.n === 0) {
              await sql`alter index ${sql.id(schema, parentIndex)} attach partition ${sql.id(node.schema, name)}`.execute(trx);
            }
          },
          { ...guard, label: `attach index ${name} to ${parentIndex}` },
        ),
      );
      attaching = attach.catch(() => undefined);
      await attach;
    };
    for (const node of parents) await buildAndAttach(node);
    await forEachConcurrently(leaves, jobs, async (leaf) => {
      await buildAndAttach(leaf);
      built++;
      onLeafBuilt?.(idx.name, leaf.name);
    });
  }
  return built;
}
