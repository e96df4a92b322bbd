import { shortHash } from '../db/object-names.js';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { z } from 'zod';
import { judged, type Check, type StageVerdict } from '../checks/check.js';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import { selectTables } from '../config/load-config.js';
import { partitionKeyColumns, type RangeLayout, type TableConfig } from '../config/config-schema.js';
import { rangeBounds, truncateToInterval } from '../config/range-bounds.js';
import { requireTable } from '../db/catalog.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError } from '../errors.js';
import { parseIncomingForeignKey } from '../db/foreign-key-advice.js';
import { querySqlFile } from '../db/sql-file.js';
import { planTable, type TablePlan } from './plan-table.js';
import { compileDdl } from '../db/compile-ddl.js';
import { notNullWithoutLongLock } from '../changelog/shadow-compatibility.js';

/** plan's input: defaults and limits once, for the library and the CLI. */
export const planInputSchema = z.object({
  table: textInput(`only this configured table (${tableNameForms})`).optional(),
  out: textInput('write numbered up/down migration files into this folder, for `partgov migrate up`').optional(),
});
export type PlanInput = z.input<typeof planInputSchema>;

export interface PlanFile {
  table: string;
  up: string;
  down: string;
  status: 'written' | 'unchanged';
}

export interface PlanResult extends StageVerdict {
  tables: (TablePlan & { shadow_exists: boolean })[];
  files: PlanFile[];
  statement_count: number;
}

/**
 * A warning when most of a range layout's partitions would lie before the
 * bulk of the rows: a few outlying values (a sentinel date such as
 * 2000-01-01, a typo'd year) set the start, and plan would create hundreds of
 * empty partitions. Read from the column's statistics (pg_stats: no scan of
 * the table); values repeated often enough to be most-common values are left
 * out of its histogram, whose second bound is about the 1st percentile of the rest.
 */
async function sparseRangeCheck(db: PartgovKysely, table: TableConfig, layout: RangeLayout, legacyMin: Date, now: Date): Promise<Check | null> {
  const r = await sql<{ p1: Date | null }>`select (histogram_bounds::text::timestamptz[])[2] as p1 from pg_stats
    where schemaname = ${table.schema} and tablename = ${table.name} and attname = ${layout.column} and not inherited`
    .execute(db)
    .catch(() => ({ rows: [] as { p1: Date | null }[] }));
  const p1 = r.rows[0]?.p1;
  if (!p1) return null;
  const all = rangeBounds(layout, now, legacyMin);
  const firstUseful = truncateToInterval(new Date(p1), layout.interval);
  const head = all.filter((b) => b.to <= firstUseful).length;
  if (head < 12 || head < all.length / 4) return null;
  const day = (d: Date) => d.toISOString().slice(0, 10);
  return {
    name: `plan:${table.schema}.${table.name}:sparse_range`,
    status: 'warn',
    detail: `${head} of the ${all.length} ${layout.interval} partitions lie before the first 1% of ${JSON.stringify(layout.column)}: its minimum is ${day(legacyMin)}, its 1st percentile ${day(p1)} (a sentinel or mistyped date?), so they would be empty or nearly`,
    fix: `set tables[].layout.start to "${day(firstUseful)}" for ${table.name}${layout.default_partition ? '' : ' with "default_partition": true'} (earlier rows then go to the DEFAULT partition), or correct the outlying values; then plan again`,
    figures: { partitions: all.length, before_first_percentile: head },
  };
}

/** Every object name a plan creates, for the collision check. */
function plannedNames(plan: TablePlan): string[] {
  const fromSql = plan.statements.flatMap((s) => {
    const m = /^create (?:unique )?index "((?:[^"]|"")+)"/.exec(s.sql);
    return m ? [m[1]!.replace(/""/g, '"')] : [];
  });
  const constraintNames = [...plan.statements[0]!.sql.matchAll(/constraint "((?:[^"]|"")+)" (?:primary key|unique)/gi)].map((m) => m[1]!.replace(/""/g, '"'));
  return [plan.shadow_name, ...plan.partitions.map((p) => p.name), ...fromSql, ...constraintNames];
}

async function assertNoCollisions(db: PartgovKysely, plan: TablePlan): Promise<void> {
  const names = plannedNames(plan);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) {
    throw new InputInvalidError(`plan for ${plan.table} would create two objects named ${JSON.stringify(dup)}`, {
      fix: 'rename one of the legacy indexes or constraints so their shortened names differ',
    });
  }
  const r = await sql<{ relname: string }>`
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${plan.schema} and c.relname = any(${names}::text[])`.execute(db);
  if (r.rows.length > 0) {
    throw new InputInvalidError(`plan for ${plan.table} would create objects that already exist: ${r.rows.map((x) => x.relname).join(', ')}`, {
      fix: 'drop or rename them (a half-applied earlier plan? `partgov migrate down`), then plan again',
    });
  }
}

/** The SQL text of a plan: a reviewable script, one statement per step, with its changes as comments. */
export function renderPlanSql(plan: TablePlan, direction: 'up' | 'down' = 'up'): string {
  // Every control character goes, not only \n: PostgreSQL also ends a `--` comment at a
  // lone \r, so a catalog name holding one could smuggle a statement into the script.
  const comment = (line: string) => `-- ${line.replace(/[\u0000-\u001f\u007f]/g, ' ')}`;
  const header = [
    comment(`partgov plan: ${plan.table} -> ${plan.schema}.${plan.shadow_name} (${plan.layout}, key ${plan.partition_key.join(', ')}, ${plan.leaf_count} leaves)`),
    ...(direction === 'up' ? [...plan.changes.map((c) => comment(`change: ${c}`)), ...plan.notes.map((n) => comment(`note: ${n}`))] : []),
  ];
  const steps = (direction === 'up' ? plan.statements : plan.down).map((s) => `${comment(s.description)}\n${s.sql};`);
  return `${header.join('\n')}\n\n${steps.join('\n\n')}\n`;
}

/**
 * `partition_<schema>_<table>`, plus a hash of the exact `schema.table` when
 * the slug lost characters, so `app.ledger` and `"Billing Data".ledger` (or
 * `a_b.c` and `a.b_c`) never share a file name.
 */
function fileSlug(plan: TablePlan): string {
  const raw = `${plan.schema}_${plan.legacy_name}`;
  const clean = raw.replace(/[^A-Za-z0-9_]+/g, '_').slice(0, 48);
  const exact = clean === raw && !plan.schema.includes('_') && !plan.legacy_name.includes('_');
  return `partition_${clean}${exact ? '' : `_${shortHash(`${plan.schema}.${plan.legacy_name}`)}`}`;
}

async function writeMigration(folder: string, plan: TablePlan, checkOnly: boolean): Promise<PlanFile> {
  const existing = existsSync(folder) ? (await readdir(folder)).sort() : [];
  const slug = fileSlug(plan);
  const up = renderPlanSql(plan, 'up');
  const down = renderPlanSql(plan, 'down');
  const mine = existing.find((f) => f.endsWith(`_${slug}.up.sql`));
  if (mine) {
    const current = await readFile(path.join(folder, mine), 'utf8');
    const base = mine.replace(/\.up\.sql$/, '');
    if (current === up) return { table: plan.table, up: path.join(folder, mine), down: path.join(folder, `${base}.down.sql`), status: 'unchanged' };
    throw new InputInvalidError(`${path.join(folder, mine)} already holds a different plan for ${plan.table}`, {
      fix: 'if it was never applied, delete it and plan again; if it was applied, `partgov migrate down` first',
    });
  }
  if (checkOnly) return { table: plan.table, up: '', down: '', status: 'written' };
  await mkdir(folder, { recursive: true });
  const next = existing.reduce((max, f) => Math.max(max, Number(/^(\d+)_/.exec(f)?.[1] ?? 0)), 0) + 1;
  const base = `${String(next).padStart(4, '0')}_${slug}`;
  const upPath = path.join(folder, `${base}.up.sql`);
  const downPath = path.join(folder, `${base}.down.sql`);
  await writeFile(upPath, up);
  await writeFile(downPath, down);
  return { table: plan.table, up: upPath, down: downPath, status: 'written' };
}

/**
 * `partgov plan`: reads each configured legacy table from the catalog and plans
 * its partitioned shadow. Checks first (table and key exist, no NULL keys, no
 * name collisions), then builds SQL; writes migration files with `out`.
 * Changes nothing in the database.
 */
export async function runPlan(ctx: StageContext, input: PlanInput = {}): Promise<PlanResult> {
  const o = parseStageInput('plan', planInputSchema, input);
  const config = requireConfig(ctx, 'plan');
  const { db } = ctx.database;
  const now = ctx.now();
  const configured = new Set(config.tables.map((t) => `${t.schema}.${t.name}`));
  const tables: PlanResult['tables'] = [];
  const warnings: Check[] = [];
  for (const table of selectTables(config, o.table)) {
    const legacy = await requireTable(db, table);
    const layout = table.layout;
    let legacyRangeMin: Date | null = null;
    if (layout.type === 'range' && !layout.start && legacy.columns.some((c) => c.name === layout.column)) {
      const r = await sql<{ min: Date | string | null }>`select min(${sql.id(layout.column)}) as min from ${sql.id(table.schema, table.name)}`.execute(db);
      const min = r.rows[0]?.min;
      legacyRangeMin = min === null || min === undefined ? null : new Date(min);
    }
    const incomingForeignKeys = (await querySqlFile<{ kind: string; name: string; definition: string }>(db, 'catalog/dependents.sql', [legacy.oid]))
      .filter((d) => d.kind === 'fk_in')
      .map((d) => parseIncomingForeignKey(d.name, d.definition));
    const plan = planTable({ legacy, table, now, legacyRangeMin, configuredTables: configured, incomingForeignKeys });
    if (layout.type === 'range' && legacyRangeMin) {
      const sparse = await sparseRangeCheck(db, table, layout, legacyRangeMin, now);
      if (sparse) warnings.push(sparse);
    }
    for (const k of partitionKeyColumns(layout)) {
      if (legacy.columns.find((c) => c.name === k)?.notNull) continue;
      const r = await sql<{ has_null: boolean }>`select exists (select 1 from ${sql.id(table.schema, table.name)} where ${sql.id(k)} is null) as has_null`.execute(db);
      if (r.rows[0]?.has_null) {
        throw new InputInvalidError(`partition key column ${JSON.stringify(k)} of ${plan.table} holds NULLs, which cannot be part of the shadow's primary key`, {
          fix: `fill them (${compileDdl(sql`update ${sql.id(table.schema, table.name)} set ${sql.id(k)} =`)} … ${compileDdl(sql`where ${sql.id(k)} is null`)}), then ${notNullWithoutLongLock(sql.id(table.schema, table.name), k)}; then plan again`,
        });
      }
    }
    const shadowExists = (await sql<{ n: number }>`select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${plan.schema} and c.relname = ${plan.shadow_name}`.execute(db)).rows[0]!.n > 0;
    if (!shadowExists) await assertNoCollisions(db, plan);
    tables.push({ ...plan, shadow_exists: shadowExists });
  }
  const files: PlanFile[] = [];
  if (o.out) {
    if (existsSync(o.out) && !(await readdir(o.out).then(() => true).catch(() => false))) {
      throw new InputInvalidError(`--out ${o.out} is not a folder`, { fix: 'pass a folder path' });
    }
    // Check every table's files before writing any, so a refusal leaves nothing behind.
    for (const t of tables) await writeMigration(o.out, t, true);
    for (const t of tables) files.push(await writeMigration(o.out, t, false));
  }
  const checks: Check[] = tables.map((t) => ({
    name: `plan:${t.table}`,
    status: 'pass' as const,
    detail: `${t.layout}, ${t.leaf_count} leaves, ${t.statements.length} statements${t.shadow_exists ? ' (the shadow already exists)' : ''}`,
    figures: { leaves: t.leaf_count, statements: t.statements.length },
  }));
  checks.push(...warnings);
  // `migrate up` reads migrations_dir: files written elsewhere would silently never be applied.
  if (o.out && path.resolve(o.out) !== path.resolve(config.migrations_dir)) {
    checks.push({
      name: 'migrations_dir',
      status: 'warn',
      detail: `the files went to ${o.out}, but \`partgov migrate up\` applies the config's migrations_dir (${config.migrations_dir}): it will not see them`,
      fix: `write them there (partgov plan --out ${config.migrations_dir}), or set "migrations_dir": ${JSON.stringify(o.out)} in the config`,
    });
  }
  return judged({ tables, files, statement_count: tables.reduce((n, t) => n + t.statements.length, 0) }, checks);
}
