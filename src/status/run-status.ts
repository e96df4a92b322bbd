import { sql } from 'kysely';
import { z } from 'zod';
import { judged, type StageVerdict } from '../checks/check.js';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import { selectTables } from '../config/load-config.js';
import { changeLogNames } from '../changelog/change-log.js';
import { isSyncEnabled } from '../changelog/sync-state.js';
import { findTableOid } from '../db/catalog.js';
import { objectNames } from '../db/object-names.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { archiveNameOf } from '../db/shadow-pair.js';
import { lastSucceeded, latestRun } from '../state/run-ledger.js';
import { pendingIndexNames } from '../state/pending-indexes.js';

/** Where one configured table stands, from the catalog and partgov's own records. */
export interface TableStatus {
  table: string;
  /** The one-word stage: missing, planned, shadow_applied, syncing, backfilling, backfilled, verified, cut_over, retired. */
  stage: 'missing' | 'not_planned' | 'shadow_applied' | 'syncing' | 'backfilling' | 'backfilled' | 'verified' | 'cut_over' | 'retired';
  partitioned: boolean;
  shadow_exists: boolean;
  archive_exists: boolean;
  sync: 'off' | 'forward' | 'reverse';
  /** indexes_pending: shadow indexes dropped for the copy and not built yet (the stage stays backfilling). */
  backfill: { rows_copied: number; rows_estimate: number; percent: number | null; done: boolean; indexes_pending: string[] } | null;
  verify: { ok: boolean; at: string } | null;
  cutover_at: string | null;
  rolled_back_at: string | null;
  change_log_entries: number | null;
  rejected_keys: number;
}

async function count(db: PartgovKysely, schema: string, table: string): Promise<number | null> {
  if ((await findTableOid(db, { schema, name: table })) === null) return null;
  const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, table)}`.execute(db);
  return r.rows[0]!.n;
}

/** status's input: defaults and limits once, for the library and the CLI. */
export const statusInputSchema = z.object({
  table: textInput(`only this configured table (${tableNameForms})`).optional(),
});
export type StatusInput = z.input<typeof statusInputSchema>;

/** `partgov status [--table T]`: one line per table a DBA can read at a glance; the details in JSON. */
export async function runStatus(ctx: StageContext, input: StatusInput = {}): Promise<{ tables: TableStatus[] } & StageVerdict> {
  const o = parseStageInput('status', statusInputSchema, input);
  const config = requireConfig(ctx, 'status');
  const { db } = ctx.database;
  const stateSchema = (await sql<{ ok: boolean }>`select to_regclass('partgov.run') is not null and to_regclass('partgov.sync_rejected') is not null as ok`.execute(db)).rows[0]!.ok;
  const out: TableStatus[] = [];
  for (const t of selectTables(config, o.table)) {
    const label = `${t.schema}.${t.name}`;
    const archive = archiveNameOf(t);
    const rel = await sql<{ relkind: string; estimate: number }>`
      select c.relkind::text as relkind, greatest(c.reltuples, 0)::float8 as estimate from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${t.schema} and c.relname = ${t.name}`.execute(db);
    const partitioned = rel.rows[0]?.relkind === 'p';
    const shadowExists = (await findTableOid(db, { schema: t.schema, name: objectNames.shadow(t.name) })) !== null;
    const archiveExists = (await findTableOid(db, { schema: t.schema, name: archive })) !== null;
    const sync = (await isSyncEnabled(db, t.schema, t.name, 'forward')) ? 'forward' : (await isSyncEnabled(db, t.schema, t.name, 'reverse')) ? 'reverse' : 'off';
    const cp = stateSchema ? await db.selectFrom('partgov.backfill_checkpoint').select(['rows_copied', 'done']).where('table_name', '=', label).executeTakeFirst() : undefined;
    const estimate = Math.round(rel.rows[0]?.estimate ?? 0);
    const verify = stateSchema ? await latestRun(db, 'verify', label) : undefined;
    const cutover = stateSchema ? await lastSucceeded(db, 'cutover', label) : undefined;
    const rollback = stateSchema ? await lastSucceeded(db, 'rollback', label) : undefined;
    const logName = changeLogNames({ schema: t.schema, name: t.name }, sync === 'reverse' ? 'reverse' : 'forward').table.name;
    const rejected = stateSchema
      ? (await sql<{ n: number }>`select count(*)::int as n from partgov.sync_rejected where table_name in (${label}, ${`${label} (archive)`})`.execute(db)).rows[0]!.n
      : 0;
    const backfill = cp ? { rows_copied: Number(cp.rows_copied), rows_estimate: estimate, percent: cp.done ? 100 : estimate > 0 ? Math.min(99.9, Math.round((Number(cp.rows_copied) * 1000) / estimate) / 10) : null, done: cp.done,
      indexes_pending: await pendingIndexNames(db, label) } : null;
    let stage: TableStatus['stage'];
    if (rel.rows.length === 0) stage = 'missing';
    else if (partitioned && archiveExists) stage = 'cut_over';
    else if (partitioned) stage = cutover ? 'retired' : 'not_planned';
    else if (!shadowExists) stage = 'not_planned';
    else if (sync === 'off' && !cp) stage = 'shadow_applied';
    else if (!cp?.done || backfill!.indexes_pending.length > 0) stage = cp ? 'backfilling' : 'syncing';
    else if (verify?.status === 'succeeded') stage = 'verified';
    else stage = 'backfilled';
    out.push({
      table: label,
      stage,
      partitioned,
      shadow_exists: shadowExists,
      archive_exists: archiveExists,
      sync,
      backfill,
      verify: verify ? { ok: verify.status === 'succeeded', at: new Date(verify.started_at).toISOString() } : null,
      cutover_at: cutover ? cutover.toISOString() : null,
      rolled_back_at: rollback ? rollback.toISOString() : null,
      change_log_entries: sync === 'off' ? null : await count(db, 'partgov', logName),
      rejected_keys: rejected,
    });
  }
  // status reports; rejected rows and a long change log only warn here (verify fails on rejected rows, naming the keys).
  return judged({ tables: out }, out.map((t) => {
    const longLog = (t.change_log_entries ?? 0) > longChangeLog;
    const detail = `${t.stage.replace('_', ' ')}${t.rejected_keys > 0 ? `, ${t.rejected_keys} rejected key(s)` : ''}${longLog ? `, ${t.change_log_entries} change-log entries waiting` : ''}`;
    const fixes = [
      ...(t.rejected_keys > 0 ? [`run \`partgov verify --table ${t.table}\` to list them`] : []),
      ...(longLog ? [changeLogFix(t)] : []),
    ];
    return { name: `status:${t.table}`, status: fixes.length > 0 ? 'warn' : 'pass', detail, ...(fixes.length > 0 ? { fix: fixes.join('; ') } : {}) };
  }));
}

/** More entries than this waiting in a change log: nothing is replaying it, or a copy holds replay back. */
const longChangeLog = 100_000;

/** Why a change log grows, and what drains it. */
function changeLogFix(t: TableStatus): string {
  if (t.sync === 'forward' && t.backfill && (!t.backfill.done || t.backfill.indexes_pending.length > 0)) {
    return `the copy is not complete, and while its primary key is deferred replay waits: run \`partgov backfill --table ${t.table}\` to finish it (it drains the log after)`;
  }
  return `schedule \`partgov sync replay\` (cron, every minute): verify, shadow-read, cutover and rollback replay the whole log first, so a long one makes them slower`;
}

/** One line per table. */
export function renderStatus(r: { tables: TableStatus[] }): string {
  return r.tables
    .map((t) => {
      const parts = [
        `${t.table}: ${t.stage.replace('_', ' ')}`,
        t.backfill ? `backfill ${t.backfill.percent ?? '?'}% (${t.backfill.rows_copied} rows${t.backfill.indexes_pending.length > 0 ? `, ${t.backfill.indexes_pending.length} index(es) to build: run backfill` : ''})` : null,
        t.sync !== 'off' ? `sync ${t.sync}, ${t.change_log_entries ?? 0} entries waiting` : 'sync off',
        t.verify ? `verify ${t.verify.ok ? 'passed' : 'FAILED'} ${t.verify.at}` : null,
        t.cutover_at ? `cut over ${t.cutover_at}` : null,
        t.rolled_back_at ? `rolled back ${t.rolled_back_at}` : null,
        t.rejected_keys ? `${t.rejected_keys} REJECTED keys` : null,
      ];
      return parts.filter(Boolean).join(' | ');
    })
    .join('\n');
}
