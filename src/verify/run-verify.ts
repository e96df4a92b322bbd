import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PartgovConfig } from '../config/config-schema.js';
import { selectTables } from '../config/load-config.js';
import { readPartitionTree } from '../db/catalog.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError } from '../errors.js';
import { compareRows, type RowComparison } from './compare-rows.js';
import { verdict } from '../checks/check.js';
import { recordRun } from '../state/run-ledger.js';
import { changeLogOf } from '../changelog/change-log.js';
import { listRejectedKeys, replayChanges, routeLabel } from '../changelog/replay-changes.js';
import { findTableOid } from '../db/catalog.js';
import { comparedPair, isCutOver, isSyncEnabled } from '../changelog/sync-state.js';
import { checkPartitionHealth, type VerifyCheck } from './partition-health.js';
import { objectNames } from '../db/object-names.js';

export interface VerifyOptions {
  url: string;
  table?: string | undefined;
  /** Hash segments per table (default 64). */
  segments?: number;
  /** Differing keys listed per table (all are counted). */
  maxDiffKeys?: number;
  /** Warnings fail too. */
  strict?: boolean;
  skewThreshold?: number;
  bloatThreshold?: number;
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  /** Recorded with each table's verdict in partgov.run. */
  appEnv?: string;
  now?: Date;
  /** Folder to write verify.json into for the gate; none when undefined. */
  evidenceDir?: string | undefined;
}

export interface TableVerdict {
  table: string;
  shadow: string;
  ok: boolean;
  checks: VerifyCheck[];
  equality: RowComparison;
}

export interface VerifyResult {
  /** Every table passed (decided here, never by the caller). */
  ok: boolean;
  strict: boolean;
  tables: TableVerdict[];
  failed_checks: number;
  warned_checks: number;
  evidence_file: string | null;
  /** Peak resident memory of this process (the CLI process when run from the CLI). */
  peak_rss_mb: number;
}

function equalityCheck(c: RowComparison): VerifyCheck {
  const figures = { rows_legacy: c.rows_legacy, rows_shadow: c.rows_shadow, segments: c.segments, mismatched_segments: c.mismatched_segments.length, differing_rows: c.differing_rows, pending_entries: c.pending_entries };
  const pendingNote = c.pending_entries > 0 ? ` (${c.pending_entries} change-log entries written during verify left their keys to replay)` : '';
  if (c.mismatched_segments.length === 0) {
    return { name: 'equality', status: 'pass', detail: `${c.rows_legacy} rows, identical (row count and the sum of every row's hash match)${pendingNote}`, figures };
  }
  const listed = c.differences.map((d) => `${d.kind} ${JSON.stringify(d.key)}`);
  return {
    name: 'equality',
    status: 'fail',
    detail: `${c.differing_rows} row(s) differ (legacy ${c.rows_legacy}, shadow ${c.rows_shadow}): ${listed.slice(0, 10).join(', ')}${listed.length > 10 ? ', …' : ''}`,
    figures,
    objects: listed,
    fix: 'is sync enabled (partgov sync enable)? then re-copy: partgov backfill --restart; run verify again',
  };
}

/** Keys the shadow rejected during replay: the application wrote them, the shadow would not take them. */
async function rejectionsCheck(db: PartgovKysely, label: string, limit: number): Promise<VerifyCheck> {
  const r = await listRejectedKeys(db, label, limit);
  if (r.total === 0) return { name: 'sync_rejections', status: 'pass', detail: 'the shadow accepted every replayed change', figures: { rejected_keys: 0 } };
  const listed = r.keys.map((k) => `${JSON.stringify(k.key)}: ${k.sqlstate ?? ''} ${k.error}`.trim());
  return {
    name: 'sync_rejections',
    status: 'fail',
    detail: `${r.total} key(s) the shadow rejected (the application's writes succeeded on the legacy table): ${listed.slice(0, 5).join('; ')}${listed.length > 5 ? '; …' : ''}`,
    figures: { rejected_keys: r.total },
    objects: listed,
    fix: 'make the shadow accept these rows (a missing partition, a constraint), then `partgov sync replay` is not enough: re-copy with `partgov backfill --restart`, or fix the rows on the legacy table so they are logged again',
  };
}

/**
 * `partgov verify`: for each configured table, proves the shadow holds exactly
 * the legacy rows (per-segment counts and checksums inside PostgreSQL; the
 * differing keys when not) and checks the shadow's partition health. A check
 * fails the table; with `strict`, so does a warning.
 */
export async function runVerify(db: PartgovKysely, config: PartgovConfig, o: VerifyOptions): Promise<VerifyResult> {
  const segments = o.segments ?? 64;
  if (!Number.isInteger(segments) || segments < 1 || segments > 65536) {
    throw new InputInvalidError(`--segments ${segments} is out of range`, { fix: 'pass a whole number from 1 to 65536, e.g. --segments 64' });
  }
  const maxDiffKeys = o.maxDiffKeys ?? 100;
  const tables: TableVerdict[] = [];
  for (const table of selectTables(config, o.table)) {
    const tableStarted = new Date();
    // After cutover the table is the partitioned one and the archive must stay exact for a rollback:
    // verify then compares the archive (legacy-shaped) with the table, through the reverse change log.
    if (!(await isCutOver(db, table)) && (await findTableOid(db, { schema: table.schema, name: objectNames.shadow(table.name) })) === null && (await readPartitionTree(db, table)).length > 1) {
      // Retired (or partitioned from the start): one table, nothing to compare it with.
      const label = `${table.schema}.${table.name}`;
      const checks: VerifyCheck[] = [{ name: 'equality', status: 'skip', detail: `${label} is partitioned under its own name with neither shadow nor archive (retired): nothing to compare` }];
      tables.push({ table: label, shadow: label, ok: true, checks, equality: { rows_legacy: 0, rows_shadow: 0, segments: 0, mismatched_segments: [], differing_rows: 0, differences: [], leaf_rows: {}, queries: 0, duration_ms: 0, bisect_ms: 0, pending_entries: 0 } });
      continue;
    }
    const { pair, direction } = await comparedPair(db, table);
    const cutOver = direction === 'reverse';
    const syncOn = cutOver || (await isSyncEnabled(db, pair.legacy.schema, pair.legacy.name));
    // Drain first, so only changes made during the comparison itself are left out of it.
    if (syncOn) await replayChanges(db, pair, { direction, lockTimeoutMs: o.lockTimeoutMs ?? 5000, statementTimeoutMs: o.statementTimeoutMs ?? 0 });
    const equality = await compareRows(o.url, pair, { segments, maxDiffKeys, statementTimeoutMs: o.statementTimeoutMs ?? 0, changeLog: syncOn ? changeLogOf(pair, direction) : undefined });
    const tree = await readPartitionTree(db, pair.shadow);
    const health = await checkPartitionHealth(db, pair, table, tree, {
      now: o.now ?? new Date(),
      skewThreshold: o.skewThreshold ?? 4,
      bloatThreshold: o.bloatThreshold ?? 0.2,
      leafRows: equality.leaf_rows,
    });
    const checks = [equalityCheck(equality), ...(syncOn ? [await rejectionsCheck(db, routeLabel(pair, direction), maxDiffKeys)] : []), ...health];
    const { ok } = verdict(checks, { strict: o.strict === true });
    // One ledger row per table: cutover asks for the latest verify of *its* table.
    await recordRun(db, {
      command: 'verify',
      table: pair.label,
      appEnv: o.appEnv ?? 'dev',
      startedAt: tableStarted,
      status: ok ? 'succeeded' : 'failed',
      args: { segments, max_diff_keys: maxDiffKeys, strict: o.strict === true },
      result: { ok, checks, equality },
    });
    tables.push({ table: pair.label, shadow: `${pair.shadow.schema}.${pair.shadow.name}`, ok, checks, equality });
  }
  const all = tables.flatMap((t) => t.checks);
  const result: VerifyResult = {
    ok: tables.every((t) => t.ok),
    strict: o.strict === true,
    tables,
    failed_checks: all.filter((c) => c.status === 'fail').length,
    warned_checks: all.filter((c) => c.status === 'warn').length,
    evidence_file: null,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (o.evidenceDir) {
    await mkdir(o.evidenceDir, { recursive: true });
    result.evidence_file = path.join(o.evidenceDir, 'verify.json');
    await writeFile(result.evidence_file, `${JSON.stringify({ command: 'verify', generated_at: new Date().toISOString(), ...result }, null, 2)}\n`);
  }
  return result;
}
