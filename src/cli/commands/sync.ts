import { runSync, runSyncReplayAll, syncInputSchema } from '../../sync/run-sync.js';
import { runCommand } from '../run-command.js';
import { renderSteps } from '../../steps/run-steps.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov sync`: flags, one library call, a renderer. */
export function registerSync(program: CommandKit['program']): void {
  inputOptions(example(
    program
      .command('sync')
      .description('enable: log every change to the legacy table for the shadow; replay: apply the log; disable: remove it')
      .argument('<action>', 'enable | disable | replay'),
    'partgov sync enable --table memory_nodes --dry-run > sync.sql   # cron: partgov sync replay (every table\'s log)',
  ), syncInputSchema, '--table <name>', '--dry-run')
    .action(
      action((g, o, [direction]) =>
        runCommand<object>({ name: 'sync', config: 'required' }, g, async (ctx) => {
          if (direction === 'replay' && o.table === undefined && o.dryRun !== true) {
            // For cron: every table's log, forward or reverse.
            const all = await runSyncReplayAll(ctx.stage());
            const lines = [
              ...all.tables.map((r) => `sync replay ${r.table}: ${r.replay!.entries} log entries, ${r.replay!.keys} keys rewritten, ${r.replay!.waiting} left for a later replay, ${r.rejected_keys} rejected keys`),
              ...all.skipped.map((x) => `sync replay ${x.table}: skipped (${x.reason})`),
            ];
            return { ok: all.ok, result: all, human: lines.join('\n') };
          }
          const result = await runSync(ctx.stage(), parseStageInput('sync', syncInputSchema, { ...o, action: direction }));
          if (result.dry_run) {
            ctx.log(`sync ${result.action} ${result.table}: dry run, nothing changed`);
            return { ok: result.ok, result, human: renderSteps(result.steps) || `-- sync ${result.action}: nothing to do (sync is already ${result.enabled ? 'on' : 'off'})` };
          }
          const human =
            result.action === 'replay'
              ? `sync replay ${result.table}: ${result.replay!.entries} log entries, ${result.replay!.keys} keys rewritten (${result.replay!.rows_inserted} rows), ${result.replay!.waiting} left in the log for a later replay, ${result.rejected_keys} rejected keys`
              : `sync ${result.enabled ? 'enabled' : 'disabled'} on ${result.table} -> ${result.shadow} (change log ${result.change_log})${result.was_enabled === result.enabled ? ' (it already was)' : ''}${result.entries_dropped ? `; ${result.entries_dropped} unreplayed entries dropped` : ''}`;
          return { ok: result.ok, result, human };
        }),
      ),
    );
}
