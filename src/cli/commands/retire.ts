import { selectTables } from '../../config/load-config.js';
import { runCommand } from '../run-command.js';
import { renderSteps } from '../../steps/run-steps.js';
import { runRetire } from '../../cutover/run-cutover.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov retire`: flags, one library call, a renderer. */
export function registerRetire(program: CommandKit['program']): void {
  example(
    program.command('retire').description('stop feeding the archive after cutover and drop it (or keep it as a plain table)'),
    'partgov retire --table memory_nodes --confirm memory_nodes --keep-archive',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--confirm <table>', 'the table name again: required')
    .option('--keep-archive', 'keep the archive table, only stop the change log')
    .option('--dry-run', 'print the SQL; change nothing')
    .action(
      action((g, o) =>
        runCommand({ name: 'retire', config: 'required' }, g, async (ctx) => {
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const result = await runRetire(ctx.database().db, table!, { settings: ctx.settings, confirm: o.confirm as string | undefined, keepArchive: o.keepArchive === true, dryRun: o.dryRun === true });
          if (result.dry_run) return { ok: true, result, human: renderSteps(result.steps) };
          return { ok: true, result, human: `retire ${result.table}: change log removed${result.archive_dropped ? `, ${result.archive} dropped` : `, ${result.archive} kept`}` };
        }),
      ),
    );
}
