import { sql } from 'kysely';
import type { PartitionModel } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import type { Step } from '../steps/run-steps.js';
import { forEachConcurrently } from '../concurrency.js';
import { runGuarded, type GuardOptions } from '../db/run-guarded.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { fitIdentifier } from '../db/object-names.js';

/** A shadow index a backfill dropped for its copy, enough to build it again. */
export interface DeferredIndex {
  name: string;
  /** pg_get_indexdef text after `USING `. */
  using_clause: string;
  /** Set when this is the shadow's primary key, dropped with its constraint. */
  primary_key?: DeferredPrimaryKey;
}

/** The shadow's primary key as the copy found it: rebuilt leaf by leaf under the same names. */
export interface DeferredPrimaryKey {
  /** pg_get_constraintdef text, e.g. `PRIMARY KEY (id, created_at)`. */
  definition: string;
  columns: string[];
  /** Each leaf's own constraint and index name (they are the same). */
  leaves: { schema: string; table: string; name: string }[];
}

/**
 * The shadow's indexes that can wait until after the copy: any but the primary
 * key (see deferrablePrimaryKey) and unique indexes and constraints (kept, so
 * uniqueness is enforced throughout).
 */
export function deferrableIndexes(pair: ShadowPair): DeferredIndex[] {
  return pair.shadow.indexes
    .filter((i) => !i.backsConstraint && !i.isUnique && i.usingClause !== null)
    .map((i) => ({ name: i.name, using_clause: i.usingClause! }));
}

/** A relation by schema and name as regclass, both as parameters. */
const regclassOf = (schema: string, name: string) => sql`(quote_ident(${schema}) || '.' || quote_ident(${name}))::regclass`;

/**
 * The shadow's indexes' builds, `jobs` at once: with builds side by side the jobs are the
 * parallelism, and a build's own workers only queue for the same cores (11 monthly leaves,
 * 2 at once: 0.68 s without them, 0.76 s with PostgreSQL's default 2, on 2 cores).
 */
const leafBuildSettings = (jobs: number) => ({ maintenance_work_mem: '256MB', ...(jobs > 1 ? { max_parallel_maintenance_workers: '0' } : {}) });

/**
 * The shadow's primary key, when the copy can go without it and build it at
 * the end, leaf by leaf from sorted rows: maintained row by row it costs more
 * than the copy itself (1e6 rows into the monthly range shadow: 1.84 s with
 * it, 0.99 s without and 0.25 s to build it after). Only into an empty shadow
 * (nothing to collide with: batches copy disjoint key ranges of a unique key,
 * each committed once), and not when a foreign key references it, it is
 * DEFERRABLE, or an index of the shadow is its replica identity (`emptiedFirst`:
 * a --restart's dry run, whose TRUNCATE would empty it). Replay waits
 * while it is missing (see replayableFilter): it finds rows by this key.
 */
export async function deferrablePrimaryKey(db: PartgovKysely, pair: ShadowPair, emptiedFirst = false): Promise<DeferredIndex | null> {
  const pk = pair.shadow.constraints.find((c) => c.kind === 'primary_key');
  const index = pk && pair.shadow.indexes.find((i) => i.name === pk.indexName);
  if (!pk || !index?.usingClause || /\bDEFERRABLE\b/.test(pk.definition)) return null;
  const shadow = sql.id(pair.shadow.schema, pair.shadow.name);
  const tree = sql`(select relid from pg_partition_tree(${regclassOf(pair.shadow.schema, pair.shadow.name)}))`;
  const r = await sql<{ empty: boolean; referenced: boolean; replica_identity: boolean; leaves: { schema: string; table: string; name: string }[] | null }>`
    select not exists (select 1 from ${shadow}) as empty,
           exists (select 1 from pg_constraint where contype = 'f' and confrelid in ${tree}) as referenced,
           exists (select 1 from pg_index where indisreplident and indrelid in ${tree}) as replica_identity,
           (select json_agg(json_build_object('schema', n.nspname, 'table', t.relname, 'name', ic.relname) order by t.relname)
              from pg_partition_tree(${regclassOf(pair.shadow.schema, index.name)}) p
              join pg_index i on i.indexrelid = p.relid
              join pg_class ic on ic.oid = p.relid
              join pg_class t on t.oid = i.indrelid
              join pg_namespace n on n.oid = t.relnamespace
             where p.isleaf) as leaves`.execute(db);
  const row = r.rows[0]!;
  if (!(row.empty || emptiedFirst) || row.referenced || row.replica_identity) return null;
  return { name: pk.name, using_clause: index.usingClause, primary_key: { definition: pk.definition, columns: [...pk.columns], leaves: row.leaves ?? [] } };
}

/** The statements that drop the deferred indexes (the parent's drop removes every partition's copy). */
export function deferredIndexDropSteps(pair: ShadowPair, indexes: readonly DeferredIndex[]): Step[] {
  return indexes.map((idx) =>
    idx.primary_key
      ? {
          id: `drop-primary-key ${idx.name}`,
          description: `drop the primary key ${idx.name} of ${pair.shadow.name} for the copy (built leaf by leaf afterwards; replay waits for it)`,
          sql: compileDdl(sql`alter table ${sql.id(pair.shadow.schema, pair.shadow.name)} drop constraint ${sql.id(idx.name)}`),
        }
      : {
          id: `drop-index ${idx.name}`,
          description: `drop ${idx.name} of ${pair.shadow.name} for the copy (rebuilt leaf by leaf afterwards)`,
          sql: compileDdl(sql`drop index if exists ${sql.id(pair.shadow.schema, idx.name)}`),
        },
  );
}

/** The primary key's rebuild as steps: each leaf's constraint, then the parent's, which adopts them (no second build). */
function primaryKeyRebuild(pair: ShadowPair, idx: DeferredIndex & { primary_key: DeferredPrimaryKey }): { leaves: (Step & { schema: string; table: string; name: string })[]; root: Step } {
  // sql.raw: pg_get_constraintdef text of the key we dropped.
  const definition = sql.raw(idx.primary_key.definition);
  return {
    leaves: idx.primary_key.leaves.map((l) => ({
      ...l,
      id: `build ${l.name}`,
      description: `primary key of ${l.table} (ACCESS EXCLUSIVE on this leaf of the shadow only, for its build)`,
      sql: compileDdl(sql`alter table ${sql.id(l.schema, l.table)} add constraint ${sql.id(l.name)} ${definition}`),
    })),
    root: {
      id: `primary-key ${idx.name}`,
      description: `primary key ${idx.name} of ${pair.shadow.name}: attaches the leaves' keys (and builds any on a leaf created since)`,
      sql: compileDdl(sql`alter table ${sql.id(pair.shadow.schema, pair.shadow.name)} add constraint ${sql.id(idx.name)} ${definition}`),
    },
  };
}

const asStep = ({ id, description, sql: text }: Step): Step => ({ id, description, sql: text });

/** The primary key's rebuild as a list of steps (for --dry-run). */
export const primaryKeyRebuildSteps = (pair: ShadowPair, idx: DeferredIndex & { primary_key: DeferredPrimaryKey }): Step[] => {
  const r = primaryKeyRebuild(pair, idx);
  return [...r.leaves.map(asStep), r.root];
};

/**
 * Builds the deferred primary key: the leaves' constraints `jobs` at once (a
 * leaf that has its key already, from a run killed half-way, is skipped), then
 * the parent's in one transaction with `recordInSameTransaction` (the
 * checkpoint forgets the deferral as the key appears). Rows that collide (only
 * if something else wrote into the shadow during the copy) fail the build.
 */
export async function rebuildPrimaryKey(
  db: PartgovKysely,
  pair: ShadowPair,
  idx: DeferredIndex & { primary_key: DeferredPrimaryKey },
  guard: Omit<GuardOptions, 'label'>,
  jobs: number,
  recordInSameTransaction: (trx: PartgovKysely) => Promise<void>,
): Promise<{ steps: Step[]; built: number }> {
  const steps = primaryKeyRebuild(pair, idx);
  // A leaf detached since (maintain's retention) is left alone; one created since gets its key from the parent's.
  const tree = await sql<{ schema: string; table: string; key: string | null }>`
    select n.nspname as schema, t.relname as table, (select c.conname from pg_constraint c where c.conrelid = t.oid and c.contype = 'p') as key
    from pg_partition_tree(${regclassOf(pair.shadow.schema, pair.shadow.name)}) p join pg_class t on t.oid = p.relid join pg_namespace n on n.oid = t.relnamespace
    where p.isleaf`.execute(db);
  const todo = new Set(tree.rows.filter((r) => r.key === null).map((r) => JSON.stringify([r.schema, r.table])));
  const settings = leafBuildSettings(jobs);
  // sql.raw below: statements compiled by kysely in primaryKeyRebuild.
  const leaves = steps.leaves.filter((l) => todo.has(JSON.stringify([l.schema, l.table])));
  await forEachConcurrently(leaves, jobs, async (l) => {
    await runGuarded(db, (trx) => sql.raw(l.sql).execute(trx), { ...guard, settings, label: l.id });
  });
  await runGuarded(
    db,
    async (trx) => {
      await sql.raw(steps.root.sql).execute(trx);
      await recordInSameTransaction(trx);
    },
    { ...guard, settings, label: steps.root.id },
  );
  return { steps: [...leaves.map(asStep), steps.root], built: leaves.length };
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
  return indexes.filter((idx) => !idx.primary_key).map((idx) => {
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
  const buildSettings = leafBuildSettings(jobs);
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
