import type { TableConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import type { GuardRetryEvent } from '../db/run-guarded.js';
import { resolveShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { captureAlwaysDdl, changeLogDdl, changeLogNames, changeLogOf, ddlGuardDdl, dropChangeLogDdl, dropDdlGuardDdl } from '../changelog/change-log.js';
import { findTableOid, requireTable } from '../db/catalog.js';
import { objectNames } from '../db/object-names.js';
import { sql } from 'kysely';
import { compileDdl } from '../db/compile-ddl.js';
import { sqlFileText } from '../db/sql-file.js';
import { listRejectedKeys, replayChanges, routeLabel, type ReplayResult } from '../changelog/replay-changes.js';
import { quietWrites } from '../changelog/target-triggers.js';
import { shadowCompatibilityProblems, type CompatibilityProblem } from '../changelog/shadow-compatibility.js';
import { captureTriggerModes, comparedPair, ddlGuardCheck, isCutOver, isSyncEnabled } from '../changelog/sync-state.js';
import { RunInProgressError, SafetyRefusedError, shellWord } from '../errors.js';
import { assertStateSchema } from '../state/state-schema.js';
import { runSteps, type StepReport } from '../steps/run-steps.js';
import { z } from 'zod';
import { judged, type StageVerdict } from '../checks/check.js';
import { configuredTable, requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput, tableNameForms } from '../stage/stage-input.js';

export type SyncAction = 'enable' | 'disable' | 'replay';

export interface SyncResult extends StageVerdict {
  table: string;
  shadow: string;
  action: SyncAction;
  dry_run: boolean;
  /** Whether sync was on before this run (enable twice and disable twice are no-ops). */
  was_enabled: boolean;
  enabled: boolean;
  /** partgov.<log>: where the capture triggers append changed keys. */
  change_log: string;
  steps: StepReport[];
  /** Log entries dropped by disable (changes the shadow will never see). */
  entries_dropped: number;
  /** replay: what was applied; enable/disable: null. */
  replay: ReplayResult | null;
  /** Keys the shadow rejected (partgov.sync_rejected), after this run. */
  rejected_keys: number;
}


/** sync's input: defaults and limits once, for the library and the CLI. */
export const syncInputSchema = z.object({
  table: textInput(`configured table (${tableNameForms}); replay without it replays every table`),
  action: z.enum(['enable', 'disable', 'replay'], { error: 'must be enable, disable or replay' }).describe('enable | disable | replay'),
  dryRun: flagInput('print the SQL enable/disable would run and change nothing'),
});
export type SyncInput = z.input<typeof syncInputSchema>;

interface SyncOptions {
  action: SyncAction;
  settings: RuntimeSettings;
  dryRun?: boolean;
  onRetry?: (e: GuardRetryEvent) => void;
}

/**
 * `partgov sync enable|disable|replay`.
 *
 * enable proves first that the shadow accepts every row the legacy table
 * accepts (exit 3 naming each column or constraint and its fix otherwise),
 * then installs the change log: statement triggers that append changed keys
 * to a constraint-free log table (src/changelog/change-log.ts), so no
 * application write can fail because of the shadow. CREATE TRIGGER takes a
 * SHARE ROW EXCLUSIVE lock on the legacy table: it runs under lock_timeout
 * with retries. replay applies the log to the shadow (backfill, verify and
 * cutover also replay). disable removes triggers, functions and the log.
 */
export async function runSync(ctx: StageContext, input: SyncInput): Promise<SyncResult> {
  const i = parseStageInput('sync', syncInputSchema, input);
  const table = configuredTable(ctx, 'sync', i.table);
  const r = await syncTable(ctx.database.db, table, { action: i.action, settings: ctx.settings, dryRun: i.dryRun, onRetry: ctx.onRetry });
  return judged(r, [
    ...(r.enabled && !r.dry_run && r.action !== 'disable' ? [await ddlGuardCheck(ctx.database.db, table)] : []),
    { name: `sync:${r.table}`, status: r.dry_run ? 'skip' : 'pass', detail: r.dry_run ? `dry run of ${r.action}: nothing changed` : r.action === 'replay' ? `${r.replay!.entries} log entries replayed, ${r.replay!.waiting} left in the log for a later replay` : `sync is ${r.enabled ? 'on' : 'off'}` },
    r.rejected_keys > 0
      ? { name: 'rejected_keys', status: 'fail', detail: `the shadow rejected ${r.rejected_keys} key(s)`, figures: { rejected_keys: r.rejected_keys }, fix: 'run `partgov verify` to list them; see runbooks/application-errors.md' }
      : { name: 'rejected_keys', status: 'pass', detail: 'the shadow took every logged change', figures: { rejected_keys: 0 } },
  ]);
}

export interface SyncReplayAllResult extends StageVerdict {
  /** One result per configured table with a change log (forward before cutover, reverse after it). */
  tables: SyncResult[];
  /** Tables without a log (sync off, or retired), and why. */
  skipped: { table: string; reason: string }[];
}

/**
 * `partgov sync replay` without `--table`: applies every configured table's
 * change log, forward or reverse, for one cron line (replay is idempotent and
 * takes no lock the application waits for). A table without a log is skipped,
 * saying why; any other failure stops the run as it would for one table.
 */
export async function runSyncReplayAll(ctx: StageContext): Promise<SyncReplayAllResult> {
  const config = requireConfig(ctx, 'sync');
  const tables: SyncResult[] = [];
  const skipped: { table: string; reason: string }[] = [];
  for (const table of config.tables) {
    try {
      // The name as SQL writes it: exact whatever it holds (dots, quotes, case).
      tables.push(await runSync(ctx, { table: compileDdl(sql`${sql.id(table.schema, table.name)}`), action: 'replay' }));
    } catch (err) {
      if (!(err instanceof SafetyRefusedError) || !['sync-replay-needs-sync', 'sync-table-partitioned'].includes(err.ruleId)) throw err;
      skipped.push({ table: `${table.schema}.${table.name}`, reason: err.message.replace(/^\[[^\]]+\] /, '') });
    }
  }
  return judged({ tables, skipped }, tables.flatMap((t) => t.checks));
}

/**
 * After cutover the partitioned table carries the name and the archive
 * follows it through the reverse change log that cutover installed: replay
 * applies that log to the archive; enable has nothing to do (and its forward
 * shadow no longer exists), so it is refused with the ways on.
 */
async function afterCutover(db: PartgovKysely, table: TableConfig, o: SyncOptions): Promise<Omit<SyncResult, keyof StageVerdict>> {
  const { pair, direction } = await comparedPair(db, table);
  const archive = `${pair.legacy.schema}.${pair.legacy.name}`;
  if (o.action === 'enable') {
    throw new SafetyRefusedError('sync-enable-after-cutover', `${pair.label} is cut over: the archive ${archive} already follows it through the reverse change log`, {
      fix: `\`partgov sync replay --table ${shellWord(table.name)}\` applies that log now; \`partgov rollback\` swaps the archive back; \`partgov retire\` stops feeding it`,
    });
  }
  const log = changeLogOf(pair, direction);
  const replay = o.dryRun ? null : await replayChanges(db, pair, { direction, lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs });
  return {
    table: pair.label,
    shadow: archive,
    action: 'replay',
    dry_run: o.dryRun === true,
    was_enabled: true,
    enabled: true,
    change_log: `${log.table.schema}.${log.table.name}`,
    steps: [],
    entries_dropped: 0,
    replay,
    rejected_keys: (await listRejectedKeys(db, routeLabel(pair, direction), 1)).total,
  };
}

async function syncTable(db: PartgovKysely, table: TableConfig, o: SyncOptions): Promise<Omit<SyncResult, keyof StageVerdict>> {
  await assertStateSchema(db);
  const label = `${table.schema}.${table.name}`;
  const wasEnabled = await isSyncEnabled(db, table.schema, table.name);
  // Disable is the emergency brake: it needs only the legacy table, even when the shadow no
  // longer matches it (a column renamed on one side), which is when it is needed most.
  if (o.action === 'disable') return disableSync(db, table, o, wasEnabled);
  if (await isCutOver(db, table)) return afterCutover(db, table, o);
  if ((await requireTable(db, table)).partitioned) {
    throw new SafetyRefusedError('sync-table-partitioned', `${label} is partitioned itself (cut over and retired, or never a legacy table): it has no shadow to sync`, {
      fix: 'nothing to sync: `partgov status` shows where it stands; isolate, purge and maintain work on it as it is',
    });
  }
  const pair = await resolveShadowPair(db, table);
  const log = changeLogOf(pair);
  const base = {
    table: label,
    shadow: `${pair.shadow.schema}.${pair.shadow.name}`,
    action: o.action,
    dry_run: o.dryRun === true,
    was_enabled: wasEnabled,
    change_log: `${log.table.schema}.${log.table.name}`,
  };
  const guard = {
    lockTimeoutMs: o.settings.lockTimeoutMs,
    statementTimeoutMs: o.settings.statementTimeoutMs,
    retries: o.settings.lockRetries,
    ...(o.onRetry ? { onRetry: o.onRetry } : {}),
  };
  const rejectedCount = async () => (await listRejectedKeys(db, label, 1)).total;

  if (o.action === 'replay') {
    if (!wasEnabled) {
      throw new SafetyRefusedError('sync-replay-needs-sync', `sync is not enabled on ${pair.label}: there is no change log to replay`, { fix: `run \`partgov sync enable --table ${shellWord(table.name)}\` first` });
    }
    const replay = o.dryRun ? null : await replayChanges(db, pair, { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs });
    return { ...base, enabled: true, steps: [], entries_dropped: 0, replay, rejected_keys: await rejectedCount() };
  }

  if (o.action === 'enable') {
    const problems = shadowCompatibilityProblems(pair, table);
    if (problems.length > 0) throw compatibilityRefusal(pair.label, problems);
    await quietWrites(db, pair.shadow, pair.mayWriteAsReplica, 'sync-target-triggers');
  }
  return withAdvisoryLock(db, 'sync', label, () =>
    holdBackfillLock(db, label, 'enable', async () => {
      const superuser = (await sql<{ s: boolean }>`select rolsuper as s from pg_roles where rolname = current_user`.execute(db)).rows[0]?.s === true;
      // Enabled by an older partgov, whose capture did not fire ALWAYS: make it so (nothing else to do).
      const texts = wasEnabled
        ? (await captureTriggerModes(db, table.schema, table.name, 'forward')).every((t) => t.mode === 'A') ? [] : [captureAlwaysDdl(pair.legacy, 'forward')]
        : [...changeLogDdl(pair, log), ...ddlGuardDdl(pair.legacy, label, log, superuser, sqlFileText('sync/guard-synced-ddl.sql'))];
      const run = await runSteps(db, stepsOf('enable', texts), {
        dryRun: o.dryRun === true,
        guard: { ...guard, label: `sync enable ${label}` },
        audit: { command: 'sync enable', table: label, appEnv: o.settings.appEnv },
        details: { change_log: base.change_log, ddl_guard: superuser ? 'event trigger' : 'none (creating an event trigger needs a superuser)' },
      });
      return { ...base, enabled: o.dryRun ? wasEnabled : true, steps: run.steps, entries_dropped: 0, replay: null, rejected_keys: await rejectedCount() };
    }),
  );
}

async function disableSync(db: PartgovKysely, table: TableConfig, o: SyncOptions, wasEnabled: boolean): Promise<Omit<SyncResult, keyof StageVerdict>> {
  const legacy = await requireTable(db, table);
  const label = `${table.schema}.${table.name}`;
  const log = changeLogNames(legacy);
  const logName = `${log.table.schema}.${log.table.name}`;
  return withAdvisoryLock(db, 'sync', label, () =>
    holdBackfillLock(db, label, 'disable', async () => {
      const dropped = wasEnabled && (await findTableOid(db, log.table)) !== null
        ? (await sql<{ n: number }>`select count(*)::int as n from ${sql.id(log.table.schema, log.table.name)}`.execute(db)).rows[0]!.n
        : 0;
      const texts = wasEnabled ? [...dropChangeLogDdl(legacy), dropDdlGuardDdl(legacy)] : [];
      const run = await runSteps(db, stepsOf('disable', texts), {
        dryRun: o.dryRun === true,
        guard: { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, label: `sync disable ${label}`, ...(o.onRetry ? { onRetry: o.onRetry } : {}) },
        audit: { command: 'sync disable', table: label, appEnv: o.settings.appEnv },
        details: { change_log: logName, entries_dropped: dropped },
      });
      return {
        table: label,
        shadow: `${table.schema}.${objectNames.shadow(table.name)}`,
        action: 'disable',
        dry_run: o.dryRun === true,
        was_enabled: wasEnabled,
        enabled: o.dryRun ? wasEnabled : false,
        change_log: logName,
        steps: run.steps,
        entries_dropped: dropped,
        replay: null,
        rejected_keys: (await listRejectedKeys(db, label, 1)).total,
      };
    }),
  );
}

function stepsOf(action: string, texts: string[]) {
  return texts.map((text, i) => ({ id: `${action}-${i + 1}`, description: describeStep(text), sql: text }));
}

function describeStep(text: string): string {
  if (/^insert into partgov.sync_guard/i.test(text)) return 'guard the key columns the change log reads';
  if (/^delete from partgov.sync_guard/i.test(text)) return 'stop guarding the key columns';
  if (/event trigger/i.test(text)) return 'event trigger refusing DDL that renames or drops a guarded column';
  const m = /^(create|drop|alter|revoke)\s+(or replace\s+)?(table|index|function|trigger)?/i.exec(text);
  return m ? `${m[1]!.toLowerCase()} ${(m[3] ?? '').toLowerCase()}`.trim() : 'statement';
}

function compatibilityRefusal(label: string, problems: readonly CompatibilityProblem[]): SafetyRefusedError {
  return new SafetyRefusedError(
    'sync-shadow-accepts-legacy-rows',
    `the shadow of ${label} would reject rows the legacy table accepts; sync stays off:\n${problems.map((p) => `  - ${p.object}: ${p.problem}`).join('\n')}`,
    { fix: `${problems.map((p) => `${p.object}: ${p.fix}`).join('\n  fix: ')}\n  then run sync enable again`, details: { problems } },
  );
}

/**
 * Sync changes while a backfill runs would break the backfill's assumptions
 * (an offline copy expects nothing else to write the shadow), so sync holds the backfill lock too.
 */
async function holdBackfillLock<T>(db: PartgovKysely, label: string, action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await withAdvisoryLock(db, 'backfill', label, work);
  } catch (err) {
    if (err instanceof RunInProgressError && err.details.operation === 'backfill') {
      throw new RunInProgressError(`a backfill of ${label} is running; sync ${action} must not change under it`, {
        fix: 'stop the backfill (its checkpoint is kept), run `partgov sync enable`, then run `partgov backfill` again (sync first, then copy)',
        cause: err,
        details: err.details,
      });
    }
    throw err;
  }
}
