import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import { compileDdl } from './compile-ddl.js';
import { InputInvalidError, SafetyRefusedError } from '../errors.js';
import { mayWriteAsReplica } from '../changelog/target-triggers.js';
import { primaryKeyFix } from './primary-key-advice.js';
import { objectNames } from './object-names.js';
import { findTableOid, introspectTable, readPartitionTree, requireTable, type ColumnModel, type TableModel } from './catalog.js';
import type { PartgovKysely } from './state-tables.js';

/**
 * A legacy table and its partitioned shadow, with what copying between them
 * needs: the columns both have (generated columns excluded: the target computes
 * them), the legacy primary key to walk, and the shadow key to upsert on.
 */
export interface ShadowPair {
  /** `schema.name` of the legacy table: the key of checkpoints and locks. */
  label: string;
  legacy: TableModel;
  shadow: TableModel;
  copyColumns: readonly ColumnModel[];
  /** Legacy primary-key columns, in key order: the keyset a backfill walks. */
  legacyKey: readonly ColumnModel[];
  /** Shadow primary-key columns: what the sync upsert conflicts on. */
  shadowKey: readonly string[];
  /** The shadow has GENERATED ALWAYS identity columns, so copies need OVERRIDING SYSTEM VALUE. */
  overridingSystemValue: boolean;
  /** This role may write copies as a replica, which keeps the application's triggers there quiet (see quietWrites). */
  mayWriteAsReplica: boolean;
}

/**
 * Reads both tables from the catalog. `names` reads a pair under other names:
 * after cutover the legacy-shaped table is the archive and the partitioned one
 * carries the table's name; the label stays the configured `schema.name`. Bad input (exit 2) when either is
 * missing, the legacy table has no primary key, or the shadow lacks a column.
 */
export async function resolveShadowPair(db: PartgovKysely, table: TableConfig, names?: { legacy: string; shadow: string }): Promise<ShadowPair> {
  const label = `${table.schema}.${table.name}`;
  const shadowName = names?.shadow ?? objectNames.shadow(table.name);
  // Both read at once (each is several catalog queries); a missing legacy table is reported first.
  const [legacyRead, shadowRead] = await Promise.allSettled([
    requireTable(db, { schema: table.schema, name: names?.legacy ?? table.name }),
    introspectTable(db, { schema: table.schema, name: shadowName }),
  ]);
  if (legacyRead.status === 'rejected') throw legacyRead.reason;
  if (shadowRead.status === 'rejected') throw shadowRead.reason;
  const legacy = legacyRead.value;
  const shadow = shadowRead.value;
  if (!shadow) {
    throw new InputInvalidError(`the shadow table ${table.schema}.${shadowName} of ${label} does not exist`, {
      fix: 'run `partgov plan --out <dir>` and `partgov migrate up` first',
    });
  }
  const legacyPk = legacy.constraints.find((c) => c.kind === 'primary_key');
  if (!legacyPk) {
    throw new InputInvalidError(`${label} has no primary key, so its rows cannot be walked and matched`, {
      fix: `${primaryKeyFix(legacy)} (after \`partgov migrate down\` if its shadow was planned without one)`,
    });
  }
  const shadowPk = shadow.constraints.find((c) => c.kind === 'primary_key') ?? (await deferredShadowKey(db, label));
  if (!shadowPk) {
    throw new InputInvalidError(`the shadow ${table.schema}.${shadowName} has no primary key`, {
      fix: 'recreate it from `partgov plan`: the sync upsert needs the primary key',
    });
  }
  for (const t of [legacy, shadow]) {
    if (t.access.rowSecurityActive) {
      const policies = t.access.policies.map((p) => p.name);
      throw new SafetyRefusedError('row-security-hides-rows', `row-level security on ${t.schema}.${t.name} (policies: ${policies.join(', ') || 'none, so no row at all'}) hides rows from this role: a copy or a verify would see only part of the table`, {
        fix: 'run partgov as a role that bypasses row-level security (ALTER ROLE <partgov role> BYPASSRLS, or a superuser); the policies themselves are carried to the shadow by plan',
        details: { table: `${t.schema}.${t.name}`, policies },
      });
    }
  }
  const shadowColumns = new Map(shadow.columns.map((c) => [c.name, c]));
  const missing = legacy.columns.filter((c) => !shadowColumns.has(c.name));
  if (names) assertArchiveFollows(legacy, shadow, missing);
  if (missing.length > 0) {
    throw new InputInvalidError(`the shadow of ${label} lacks column(s) ${missing.map((c) => c.name).join(', ')}`, {
      fix: 'the legacy table changed after plan: plan again, `partgov migrate down`, and `partgov migrate up`',
    });
  }
  const byName = new Map(legacy.columns.map((c) => [c.name, c]));
  return {
    label,
    legacy,
    shadow,
    copyColumns: legacy.columns.filter((c) => c.generated === null && shadowColumns.get(c.name)!.generated === null),
    legacyKey: legacyPk.columns.map((n) => byName.get(n)!),
    shadowKey: shadowPk.columns,
    overridingSystemValue: shadow.columns.some((c) => c.identity === 'always'),
    mayWriteAsReplica: await mayWriteAsReplica(db),
  };
}

/**
 * The shadow's primary key while a backfill has it dropped for the copy (its
 * checkpoint keeps the definition until the key is built again), or undefined.
 */
async function deferredShadowKey(db: PartgovKysely, label: string): Promise<{ columns: readonly string[] } | undefined> {
  const state = await sql<{ ok: boolean }>`select to_regclass('partgov.backfill_checkpoint') is not null as ok`.execute(db);
  if (!state.rows[0]!.ok) return undefined;
  const r = await sql<{ columns: string[] | null }>`
    select (select array(select jsonb_array_elements_text(d -> 'primary_key' -> 'columns'))
              from jsonb_array_elements(cp.deferred_indexes) d where d ? 'primary_key' limit 1) as columns
    from partgov.backfill_checkpoint cp where cp.table_name = ${label}`.execute(db);
  const columns = r.rows[0]?.columns;
  return columns ? { columns } : undefined;
}

/**
 * Columns the shadow has and the legacy table lacks: typically one the
 * application's migration dropped from the legacy table after plan. Swapped
 * in, the table would give the application back a column it dropped (a NOT
 * NULL one fails its inserts), holding values no longer kept.
 */
export function shadowOnlyColumns(pair: ShadowPair): ColumnModel[] {
  const legacy = new Set(pair.legacy.columns.map((c) => c.name));
  return pair.shadow.columns.filter((c) => !legacy.has(c.name));
}

/** The fix for shadowOnlyColumns, as SQL that runs as printed. */
export function shadowOnlyColumnsFix(pair: ShadowPair, columns: readonly ColumnModel[]): string {
  const drops = columns.map((c) => compileDdl(sql`alter table ${sql.id(pair.shadow.schema, pair.shadow.name)} drop column ${sql.id(c.name)}`));
  return `if the legacy table dropped them since plan, drop them from the shadow too (${drops.join('; ')}); if the table needs them, add them to the legacy table first (the application writes them there), then \`partgov backfill --restart\` and verify`;
}

/** The name the legacy table takes at cutover and keeps until retire: configured, or `<table>_legacy` (≤ 63 bytes). */
export function archiveNameOf(table: TableConfig): string {
  return table.cutover.archive_name ?? objectNames.legacy(table.name);
}

/** The partitioned table of a configured table: itself (cut over, or partitioned from the start), else its shadow; null when neither is. */
export async function partitionedTableOf(db: PartgovKysely, table: TableConfig): Promise<{ schema: string; name: string } | null> {
  for (const name of [table.name, objectNames.shadow(table.name)]) {
    const ref = { schema: table.schema, name };
    if ((await findTableOid(db, ref)) !== null && (await readPartitionTree(db, ref)).length > 1) return ref;
  }
  return null;
}

/**
 * After cutover the archive must hold what the table holds, column for column:
 * the application's own migrations change the table under the name (e.g. ADD
 * COLUMN). Replaying into an archive without the column would drop its values
 * silently, and a rollback would take the column from the application.
 * Refused until the archive has the same columns; no replay runs meanwhile, so
 * the rows written since stay in the log and the next replay carries them whole.
 */
function assertArchiveFollows(archive: TableModel, table: TableModel, dropped: readonly ColumnModel[]): void {
  const archiveColumns = new Map(archive.columns.map((c) => [c.name, c]));
  const added = table.columns.filter((c) => !archiveColumns.has(c.name));
  // A type or NOT NULL the application changed on the table: the archive would reject its rows, and a rollback bring the old column back.
  const retyped = table.columns.filter((c) => archiveColumns.has(c.name) && (archiveColumns.get(c.name)!.type !== c.type || archiveColumns.get(c.name)!.collation !== c.collation));
  const relaxed = table.columns.filter((c) => archiveColumns.get(c.name)?.notNull === true && !c.notNull);
  if (added.length === 0 && dropped.length === 0 && retyped.length === 0 && relaxed.length === 0) return;
  const A = sql.id(archive.schema, archive.name);
  // sql.raw: format_type() and pg_get_expr() text from the catalog.
  const addDdl = added.map((c) => {
    const what = c.generated ? sql`generated always as (${sql.raw(c.defaultExpr ?? 'null')}) ${sql.raw(c.generated)}` : c.defaultExpr ? sql`default ${sql.raw(c.defaultExpr)}` : sql``;
    return compileDdl(sql`alter table ${A} add column ${sql.id(c.name)} ${sql.raw(c.type)}${c.notNull ? sql` not null` : sql``} ${what}`).trimEnd();
  });
  const dropDdl = dropped.map((c) => compileDdl(sql`alter table ${A} drop column ${sql.id(c.name)}`));
  const retypeDdl = retyped.map((c) => compileDdl(sql`alter table ${A} alter column ${sql.id(c.name)} type ${sql.raw(c.type)}${c.collation ? sql` collate ${sql.raw(c.collation)}` : sql``}`));
  const relaxDdl = relaxed.map((c) => compileDdl(sql`alter table ${A} alter column ${sql.id(c.name)} drop not null`));
  const changes = [
    ...(added.length > 0 ? [`has column(s) ${added.map((c) => c.name).join(', ')} that the archive lacks`] : []),
    ...(dropped.length > 0 ? [`lacks column(s) ${dropped.map((c) => c.name).join(', ')} that the archive still has`] : []),
    ...(retyped.length > 0 ? [`changed the type of ${retyped.map((c) => `${c.name} to ${c.type}`).join(', ')}`] : []),
    ...(relaxed.length > 0 ? [`allows NULL in ${relaxed.map((c) => c.name).join(', ')}, which the archive refuses`] : []),
  ];
  throw new SafetyRefusedError('archive-columns-differ', `${table.schema}.${table.name} ${changes.join(' and ')} (changed since cutover): replaying into the archive would lose or refuse those values, and a rollback would give the application back the table as it was before its migration`, {
    fix: `to keep rollback possible, make the archive match (${[...addDdl, ...dropDdl, ...retypeDdl, ...relaxDdl].join('; ')}), then run \`partgov sync replay\` and verify; to stay on the partitioned table, \`partgov retire\` drops the archive`,
    details: { added: added.map((c) => c.name), dropped: dropped.map((c) => c.name), retyped: retyped.map((c) => c.name), relaxed: relaxed.map((c) => c.name) },
  });
}
