import { runSync } from '../../sync/run-sync.js';
import { selectTables } from '../../config/load-config.js';
import { InputInvalidError } from '../../errors.js';
import { runCommand } from '../run-command.js';
import { renderSteps } from '../../steps/run-steps.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov sync`: flags, one library call, a renderer. */
export function registerSync(program: CommandKit['program']): void {
  example(
    program
      .command('sync')
      .description('enable: log every change to the legacy table for the shadow; replay: apply the log; disable: remove it')
      .argument('<action>', 'enable | disable | replay'),
    'partgov sync enable --table memory_nodes --dry-run > sync.sql',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--dry-run', 'print the SQL enable/disable would run and change nothing')
    .action(
      action((g, o, [direction]) =>
        runCommand({ name: 'sync', config: 'required' }, g, async (ctx) => {
          if (direction !== 'enable' && direction !== 'disable' && direction !== 'replay') {
            throw new InputInvalidError(`unknown sync action ${JSON.stringify(direction)}`, { fix: 'use `partgov sync enable|disable|replay --table T`' });
          }
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const dryRun = o.dryRun === true;
          const result = await runSync(ctx.database().db, table!, {
            action: direction,
            settings: ctx.settings,
            dryRun,
            onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate} (${e.message}); retrying, ${e.retriesLeft} left`),
          });
          if (dryRun) {
            ctx.log(`sync ${direction} ${result.table}: dry run, nothing changed`);
            return { ok: true, result, human: renderSteps(result.steps) || `-- sync ${direction}: nothing to do (sync is already ${result.enabled ? 'on' : 'off'})` };
          }
          const human =
            direction === 'replay'
              ? `sync replay ${result.table}: ${result.replay!.entries} log entries, ${result.replay!.keys} keys rewritten (${result.replay!.rows_inserted} rows), ${result.replay!.waiting} waiting for the backfill, ${result.rejected_keys} rejected keys`
              : `sync ${result.enabled ? 'enabled' : 'disabled'} on ${result.table} -> ${result.shadow} (change log ${result.change_log})${result.was_enabled === result.enabled ? ' (it already was)' : ''}${result.entries_dropped ? `; ${result.entries_dropped} unreplayed entries dropped` : ''}`;
          return { ok: result.rejected_keys === 0, result, human };
        }),
      ),
    );
}
