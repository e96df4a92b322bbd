import { runCommand } from '../run-command.js';
import { renderStatus, runStatus, statusInputSchema } from '../../status/run-status.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov status`: flags, one library call, a renderer. */
export function registerStatus(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('status').description('where each configured table stands: shadow, sync, backfill %, verify, cutover'),
    'partgov status --json',
  ), statusInputSchema, '--table <name>')
    .action(
      action((g, o) =>
        runCommand({ name: 'status', config: 'required' }, g, async (ctx) => {
          const result = await runStatus(ctx.stage(), parseStageInput('status', statusInputSchema, o));
          // Below the one line per table, what deserves a look and the way out.
          const notes = result.checks.filter((c) => c.status !== 'pass').map((c) => `  ${c.name}: ${c.detail}${c.fix ? `\n    fix: ${c.fix}` : ''}`);
          return { ok: result.ok, result, human: [renderStatus(result), ...notes].join('\n') };
        }),
      ),
    );
}
