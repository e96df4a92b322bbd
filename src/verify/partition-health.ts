import type { Check } from '../checks/check.js';
import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import type { PartitionModel } from '../db/catalog.js';
import { shadowOnlyColumns, shadowOnlyColumnsFix, type ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { addIntervals, truncateToInterval } from '../config/range-bounds.js';
import { hashBoundOf } from '../db/partition-routing.js';
import { pendingIndexNames } from '../state/pending-indexes.js';
import { shellWord } from '../errors.js';


/** One verdict: a stable name, its status, what was found, the figures, and for a non-pass the object and the fix. */
/** A verify check is the common Check (src/checks/check.ts). */
export type VerifyCheck = Check;

export interface HealthOptions {
  now: Date;
  /** Largest/smallest hash-leaf row count above this warns. */
  skewThreshold: number;
  /** Dead-tuple ratio above this (with at least 1000 dead tuples) warns. */
  bloatThreshold: number;
}

const rangeBound = /^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$/;
const qualified = (p: { schema: string; name: string }) => `${p.schema}.${p.name}`;

/** Every hash-partitioned table in the tree has all remainders 0..modulus-1. */
function hashRemainders(tree: readonly PartitionModel[]): VerifyCheck {
  const missing: string[] = [];
  let parents = 0;
  for (const parent of tree.filter((n) => n.partitionKey?.startsWith('HASH'))) {
    parents++;
    const bounds = tree
      .filter((c) => c.parentName === parent.name && c.parentSchema === parent.schema)
      .map((c) => hashBoundOf(c.bound))
      .filter((b) => b !== null);
    const modulus = Math.max(0, ...bounds.map((b) => b.modulus));
    const present = new Set(bounds.filter((b) => b.modulus === modulus).map((b) => b.remainder));
    for (let r = 0; r < modulus; r++) if (!present.has(r)) missing.push(`${qualified(parent)} remainder ${r} of modulus ${modulus}`);
    if (modulus === 0) missing.push(`${qualified(parent)} has no hash partitions at all`);
  }
  if (parents === 0) return { name: 'hash_remainders', status: 'pass', detail: 'no hash-partitioned level' };
  return missing.length
    ? {
        name: 'hash_remainders',
        status: 'fail',
        detail: `missing hash partition(s): ${missing.join('; ')}`,
        objects: missing,
        fix: 'create them (create table … partition of … for values with (modulus M, remainder R)); rows of that remainder cannot be written until then',
      }
    : { name: 'hash_remainders', status: 'pass', detail: `every remainder present under ${parents} hash-partitioned table(s)` };
}

/** Range partitions reach `premake` intervals past the current one. */
function rangePremake(tree: readonly PartitionModel[], pair: ShadowPair, table: TableConfig, now: Date): VerifyCheck | null {
  const layout = table.layout;
  if (layout.type !== 'range') return null;
  const ends = tree
    .filter((c) => c.level === 1)
    .map((c) => rangeBound.exec(c.bound ?? ''))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => new Date(m[2]!.replace(' ', 'T').replace(/\+00$/, 'Z').replace(/T00:00:00$/, 'T00:00:00Z')));
  const needed = addIntervals(truncateToInterval(now, layout.interval), layout.interval, layout.premake + 1);
  const reach = ends.length ? new Date(Math.max(...ends.map((d) => d.getTime()))) : null;
  const figures = { premake: layout.premake, partitions_reach: reach?.toISOString().slice(0, 10) ?? null, needed_until: needed.toISOString().slice(0, 10) };
  if (reach === null || reach < needed) {
    return {
      name: 'range_premake',
      status: 'fail',
      detail: `range partitions of ${qualified(pair.shadow)} reach ${figures.partitions_reach ?? 'nothing'}, premake ${layout.premake} needs them until ${figures.needed_until}`,
      figures,
      objects: [qualified(pair.shadow)],
      fix: `create the ${layout.interval} partitions up to ${figures.needed_until} (same pattern as \`partgov plan\` prints), before rows for them arrive`,
    };
  }
  return { name: 'range_premake', status: 'pass', detail: `partitions reach ${figures.partitions_reach} (needed ${figures.needed_until})`, figures };
}

/** Rows sitting in a range layout's DEFAULT partition are rows no partition was made for. */
function defaultRows(tree: readonly PartitionModel[], table: TableConfig, leafRows: Record<string, number>): VerifyCheck | null {
  if (table.layout.type !== 'range') return null;
  const def = tree.find((n) => n.level === 1 && n.bound === 'DEFAULT');
  if (!def) return null;
  const under = tree.filter((n) => n.isLeaf && (n.name === def.name || n.parentName === def.name));
  const rows = under.reduce((sum, n) => sum + (leafRows[n.oid] ?? 0), 0);
  return rows > 0
    ? {
        name: 'default_partition_rows',
        status: 'warn',
        detail: `${rows} row(s) sit in the DEFAULT partition ${qualified(def)}`,
        figures: { rows },
        objects: [qualified(def)],
        fix: 'create partitions for their range, then move the rows out of DEFAULT (a DEFAULT with rows blocks creating a partition whose range they fall in)',
      }
    : { name: 'default_partition_rows', status: 'pass', detail: 'the DEFAULT partition is empty', figures: { rows } };
}

function skew(tree: readonly PartitionModel[], leafRows: Record<string, number>, threshold: number): VerifyCheck {
  const hashLeaves = tree.filter((n) => n.isLeaf && hashBoundOf(n.bound) !== null);
  if (hashLeaves.length < 2) return { name: 'skew', status: 'pass', detail: 'fewer than two hash leaves' };
  const counts = hashLeaves.map((n) => ({ leaf: qualified(n), rows: leafRows[n.oid] ?? 0 }));
  const max = counts.reduce((a, b) => (b.rows > a.rows ? b : a));
  const min = counts.reduce((a, b) => (b.rows < a.rows ? b : a));
  const ratio = max.rows / Math.max(1, min.rows);
  const figures = { largest_leaf: max.leaf, largest_rows: max.rows, smallest_leaf: min.leaf, smallest_rows: min.rows, ratio: Math.round(ratio * 100) / 100, threshold };
  return ratio > threshold && max.rows >= 1000
    ? {
        name: 'skew',
        status: 'warn',
        detail:
          min.rows === 0
            ? `largest hash leaf ${max.leaf} holds ${max.rows} rows while ${counts.filter((c) => c.rows === 0).length} of the ${counts.length} hash leaves are empty`
            : `largest hash leaf ${max.leaf} holds ${max.rows} rows, ${figures.ratio}x the smallest (${min.rows})`,
        figures,
        objects: [max.leaf],
        fix: 'a few large scopes dominate: give them dedicated partitions (isolatable layout, "isolated") or raise the partition count',
      }
    : { name: 'skew', status: 'pass', detail: `largest/smallest hash leaf ${figures.ratio}x`, figures };
}

async function bloat(db: PartgovKysely, tree: readonly PartitionModel[], pair: ShadowPair, threshold: number): Promise<VerifyCheck> {
  const oids = [pair.legacy.oid, ...tree.filter((n) => n.isLeaf).map((n) => n.oid)];
  const r = await sql<{ rel: string; live: string; dead: string }>`
    select relid::regclass::text as rel, n_live_tup::text as live, n_dead_tup::text as dead
    from pg_stat_user_tables where relid = any(${oids}::oid[])`.execute(db);
  const bloated = r.rows
    .map((x) => ({ rel: x.rel, dead: Number(x.dead), ratio: Number(x.dead) / Math.max(1, Number(x.live) + Number(x.dead)) }))
    .filter((x) => x.ratio > threshold && x.dead >= 1000);
  return bloated.length
    ? {
        name: 'bloat',
        status: 'warn',
        detail: `dead tuples above ${threshold * 100}%: ${bloated.map((x) => `${x.rel} ${Math.round(x.ratio * 100)}%`).join(', ')}`,
        figures: { threshold, relations: bloated },
        objects: bloated.map((x) => x.rel),
        fix: 'vacuum them (VACUUM (ANALYZE) <relation>), and check autovacuum keeps up',
      }
    : { name: 'bloat', status: 'pass', detail: `no relation over ${threshold * 100}% dead tuples`, figures: { threshold } };
}

async function indexChecks(db: PartgovKysely, pair: ShadowPair, table: TableConfig): Promise<VerifyCheck[]> {
  const missingOnLeaves = await sql<{ parent_index: string; leaf: string }>`
    select pi.indexrelid::regclass::text as parent_index, t.relid::regclass::text as leaf
    from pg_index pi cross join pg_partition_tree(${pair.shadow.oid}::oid::regclass) t
    where pi.indrelid = ${pair.shadow.oid}::oid and t.isleaf
      and not exists (select 1 from pg_partition_tree(pi.indexrelid) it join pg_index li on li.indexrelid = it.relid
                      where it.isleaf and li.indrelid = t.relid)
    order by 1, 2`.execute(db);
  const invalid = await sql<{ idx: string }>`
    select i.indexrelid::regclass::text as idx from pg_index i
    join pg_partition_tree(${pair.shadow.oid}::oid::regclass) t on t.relid = i.indrelid
    where not i.indisvalid order by 1`.execute(db);
  const allowDrop = new Set(table.allow_drop);
  const shadowClauses = new Set(pair.shadow.indexes.map((i) => i.usingClause));
  const missingFromShadow = pair.legacy.indexes.filter((i) => !i.backsConstraint && i.isValid && !allowDrop.has(i.name) && !shadowClauses.has(i.usingClause));
  const shadowDefs = new Set(pair.shadow.constraints.map((c) => `${c.kind} ${c.definition.replace(/ NOT VALID$/, '')}`));
  const missingConstraints = pair.legacy.constraints.filter(
    (c) => c.kind !== 'primary_key' && !allowDrop.has(c.name) && !shadowDefs.has(`${c.kind} ${c.definition.replace(/ NOT VALID$/, '')}`),
  );
  const leafList = missingOnLeaves.rows.map((r) => `${r.parent_index} on ${r.leaf}`);
  const extraColumns = shadowOnlyColumns(pair);
  // A backfill stopped while building the indexes it dropped for its copy: the index checks below fail because of it, and that run is their fix.
  const pending = await pendingIndexNames(db, pair.label);
  const backfillBuilds = `run \`partgov backfill --table ${shellWord(table.name)}\`: it builds the indexes it dropped for the copy, leaf by leaf, and copies nothing again`;
  const orBackfill = (fix: string) => (pending.length > 0 ? backfillBuilds : fix);
  return [
    ...(pending.length > 0
      ? [{ name: 'deferred_indexes', status: 'fail' as const, detail: `${pending.length} index(es) dropped for the copy are not built yet: ${pending.join(', ')}`, objects: pending, fix: backfillBuilds }]
      : []),
    extraColumns.length
      ? {
          name: 'column_parity',
          status: 'fail',
          detail: `the shadow has column(s) the legacy table lacks: ${extraColumns.map((c) => c.name).join(', ')} (dropped from the legacy table since plan?); cutover would give them back to the application`,
          objects: extraColumns.map((c) => c.name),
          fix: shadowOnlyColumnsFix(pair, extraColumns),
        }
      : { name: 'column_parity', status: 'pass', detail: 'the shadow has the legacy columns, no more' },
    leafList.length
      ? {
          name: 'index_parity_leaves',
          status: 'fail',
          detail: `partition index(es) missing: ${leafList.join('; ')}`,
          objects: leafList,
          fix: orBackfill('create the index on the leaf with the parent index definition and attach it: alter index <parent_index> attach partition <leaf_index>'),
        }
      : { name: 'index_parity_leaves', status: 'pass', detail: `every one of ${pair.shadow.indexes.length} parent index(es) is on every leaf` },
    invalid.rows.length
      ? {
          name: 'invalid_indexes',
          status: 'fail',
          detail: `invalid index(es): ${invalid.rows.map((r) => r.idx).join(', ')}`,
          objects: invalid.rows.map((r) => r.idx),
          fix: orBackfill('an interrupted build left them: drop and create each again (or finish attaching every partition)'),
        }
      : { name: 'invalid_indexes', status: 'pass', detail: 'no invalid index in the shadow tree' },
    missingFromShadow.length
      ? {
          name: 'index_parity_legacy',
          status: 'fail',
          detail: `legacy index(es) without a counterpart on the shadow: ${missingFromShadow.map((i) => i.name).join(', ')}`,
          objects: missingFromShadow.map((i) => i.name),
          fix: orBackfill('plan again and apply, or create them on the shadow; list deliberate drops in allow_drop'),
        }
      : { name: 'index_parity_legacy', status: 'pass', detail: 'every legacy index has its counterpart' },
    missingConstraints.length
      ? {
          name: 'constraint_parity',
          status: 'fail',
          detail: `legacy constraint(s) missing on the shadow: ${missingConstraints.map((c) => `${c.name} ${c.definition}`).join('; ')}`,
          objects: missingConstraints.map((c) => c.name),
          fix: 'plan again and apply, or add them to the shadow; list deliberate drops in allow_drop',
        }
      : { name: 'constraint_parity', status: 'pass', detail: 'every legacy constraint is on the shadow (primary key widened by the partition key)' },
  ];
}

/** The partition-health checks of one table's shadow. */
export async function checkPartitionHealth(
  db: PartgovKysely,
  pair: ShadowPair,
  table: TableConfig,
  tree: readonly PartitionModel[],
  o: HealthOptions,
  leafRowsOf: Promise<Record<string, number>>,
): Promise<VerifyCheck[]> {
  // The catalog reads run while the equality pass (which counts the rows per leaf) reads the tables.
  const [indexes, bloated, leafRows] = await Promise.all([indexChecks(db, pair, table), bloat(db, tree, pair, o.bloatThreshold), leafRowsOf]);
  return [
    hashRemainders(tree),
    ...[rangePremake(tree, pair, table, o.now), defaultRows(tree, table, leafRows)].filter((c): c is VerifyCheck => c !== null),
    ...indexes,
    skew(tree, leafRows, o.skewThreshold),
    bloated,
  ];
}
