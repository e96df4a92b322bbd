import { runCommand } from '../run-command.js';
import { renderStatus, runStatus } from '../../status/run-status.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov status`: flags, one library call, a renderer. */
export function registerStatus(program: CommandKit['program']): void {
  example(
    program.command('status').description('where each configured table stands: shadow, sync, backfill %, verify, cutover'),
    'partgov status --json',
  )
    .option('--table <name>', 'only this configured table')
    .action(
      action((g, o) =>
        runCommand({ name: 'status', config: 'required' }, g, async (ctx) => {
          const result = await runStatus(ctx.database().db, ctx.requireConfig(), { table: o.table as string | undefined });
          return { ok: true, result, human: renderStatus(result) };
        }),
      ),
    );
}
