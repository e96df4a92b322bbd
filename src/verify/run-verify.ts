import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { selectTables } from '../config/load-config.js';
import { sqlStateOf } from '../errors.js';
import { SqlState } from '../db/sqlstate.js';
import { readPartitionTree } from '../db/catalog.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, numberInput, parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';
import { compareRows, openComparisonConnections, type RowComparison } from './compare-rows.js';
import { verdict, type StageVerdict } from '../checks/check.js';
import { recordRun } from '../state/run-ledger.js';
import { changeLogOf } from '../changelog/change-log.js';
import { listRejectedKeys, replayChanges, routeLabel } from '../changelog/replay-changes.js';
import { findTableOid } from '../db/catalog.js';
import { comparedPair, isCutOver, isSyncEnabled } from '../changelog/sync-state.js';
import { checkPartitionHealth, type VerifyCheck } from './partition-health.js';
import { objectNames } from '../db/object-names.js';
import { shadowCompatibilityProblems } from '../changelog/shadow-compatibility.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { TableConfig } from '../config/config-schema.js';

/** verify's input: defaults and limits once, for the library and the CLI. */
export const verifyInputSchema = z.object({
  table: textInput(`only this configured table (${tableNameForms})`).optional(),
  segments: numberInput({ min: 1, max: 65536, integer: true, default: 64, describe: 'hash segments compared per table' }),
  maxDiffKeys: numberInput({ min: 1, max: 1_000_000, integer: true, default: 100, describe: 'differing keys listed per table (all are counted)' }),
  strict: flagInput('warnings fail too'),
  skewThreshold: numberInput({ min: 1, max: 1e9, default: 4, describe: 'largest/smallest hash leaf ratio that warns' }),
  bloatThreshold: numberInput({ min: 0, max: 1, default: 0.2, describe: 'dead-tuple ratio that warns' }),
});
export type VerifyInput = z.input<typeof verifyInputSchema>;

export interface TableVerdict {
  table: string;
  shadow: string;
  ok: boolean;
  checks: VerifyCheck[];
  equality: RowComparison;
}

export interface VerifyResult extends StageVerdict {
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
export async function runVerify(ctx: StageContext, input: VerifyInput = {}): Promise<VerifyResult> {
  const o = parseStageInput('verify', verifyInputSchema, input);
  const config = requireConfig(ctx, 'verify');
  const { db } = ctx.database;
  const { segments, maxDiffKeys } = o;
  const tables: TableVerdict[] = [];
  const connections = openComparisonConnections(ctx.database);
  try {
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
      // Set when this role may not apply the change log (a read-only CI role): its keys are then left out of the comparison.
      let replayRefused: string | null = null;
      const [tree, syncOn] = await Promise.all([
        readPartitionTree(db, pair.shadow),
        (async () => {
          const on = cutOver || (await isSyncEnabled(db, pair.legacy.schema, pair.legacy.name));
          // Drain first, so only changes made during the comparison itself are left out of it.
          if (on) {
            try {
              await replayChanges(db, pair, { direction, lockTimeoutMs: ctx.settings.lockTimeoutMs, statementTimeoutMs: ctx.settings.statementTimeoutMs });
            } catch (err) {
              if (sqlStateOf(err) !== SqlState.insufficientPrivilege) throw err;
              replayRefused = (err as Error).message;
            }
          }
          return on;
        })(),
      ]);
      const equalityPass = compareRows(connections, pair, {
        segments,
        maxDiffKeys,
        statementTimeoutMs: ctx.settings.statementTimeoutMs,
        changeLog: syncOn ? changeLogOf(pair, direction) : undefined,
        shadowLeaves: tree.filter((n) => n.isLeaf),
      });
      // The catalog checks run beside the equality pass (on the stage's pool; it has its own two connections).
      const [equality, health, rejections] = await Promise.all([
        equalityPass,
        checkPartitionHealth(db, pair, table, tree, { now: ctx.now(), skewThreshold: o.skewThreshold, bloatThreshold: o.bloatThreshold }, equalityPass.then((e) => e.leaf_rows)),
        syncOn ? rejectionsCheck(db, routeLabel(pair, direction), maxDiffKeys) : null,
      ]);
      // The legacy table can change under sync (the application's migrations): the shadow must still take every row it may get.
      const accepts = syncOn && !cutOver ? acceptsLegacyRowsCheck(pair, table) : null;
      const replay: VerifyCheck[] = replayRefused === null ? [] : equality.pending_entries === 0 ? [{
        name: 'replay',
        status: 'pass',
        detail: `this role may not apply the change log (${replayRefused}), and nothing was pending in it: every key compared`,
        figures: { pending_entries: 0 },
      }] : [{
        name: 'replay',
        status: 'warn',
        detail: `this role may not apply the change log (${replayRefused}): the keys of its ${equality.pending_entries} pending entries were left out of the comparison, the rest compared`,
        figures: { pending_entries: equality.pending_entries },
        fix: 'to compare those keys too, run verify as the role that runs backfill (the owner, or a member of the owning role), or after `partgov sync replay`',
      }];
      const checks = [equalityCheck(equality), ...replay, ...(rejections ? [rejections] : []), ...(accepts ? [accepts] : []), ...health];
      const { ok } = verdict(checks, { strict: o.strict });
      // One ledger row per table: cutover asks for the latest verify of *its* table.
      await recordRun(db, {
        command: 'verify',
        table: pair.label,
        appEnv: ctx.settings.appEnv,
        startedAt: tableStarted,
        status: ok ? 'succeeded' : 'failed',
        args: { segments, max_diff_keys: maxDiffKeys, strict: o.strict },
        result: { ok, checks, equality },
      });
      tables.push({ table: pair.label, shadow: `${pair.shadow.schema}.${pair.shadow.name}`, ok, checks, equality });
    }
  } finally {
    await connections.close();
  }
  const all = tables.flatMap((t) => t.checks);
  const result: VerifyResult = {
    ok: tables.every((t) => t.ok),
    // Every table's checks, named `<check>:<table>`; `tables[].checks` has them per table.
    checks: tables.flatMap((t) => t.checks.map((c) => ({ ...c, name: `${c.name}:${t.table}` }))),
    strict: o.strict,
    tables,
    failed_checks: all.filter((c) => c.status === 'fail').length,
    warned_checks: all.filter((c) => c.status === 'warn').length,
    evidence_file: null,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (config.evidence_dir) {
    await mkdir(config.evidence_dir, { recursive: true });
    result.evidence_file = path.join(config.evidence_dir, 'verify.json');
    await writeFile(result.evidence_file, `${JSON.stringify({ command: 'verify', generated_at: new Date().toISOString(), ...result }, null, 2)}\n`);
  }
  return result;
}

/** Whether the shadow still accepts every row the legacy table accepts (see shadowCompatibilityProblems). */
function acceptsLegacyRowsCheck(pair: ShadowPair, table: TableConfig): VerifyCheck {
  const problems = shadowCompatibilityProblems(pair, table);
  return problems.length > 0
    ? {
        name: 'shadow_accepts_legacy_rows',
        status: 'fail',
        detail: `the shadow would reject rows the legacy table now accepts (changed since sync enable?): ${problems.map((p) => `${p.object}: ${p.problem}`).join('; ')}`,
        objects: problems.map((p) => p.object),
        fix: problems.map((p) => `${p.object}: ${p.fix}`).join('; '),
      }
    : { name: 'shadow_accepts_legacy_rows', status: 'pass', detail: 'the shadow takes every row the legacy table accepts (columns, types, NOT NULL, CHECK and FOREIGN KEY)' };
}
