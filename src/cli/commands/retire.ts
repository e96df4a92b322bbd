import { runCommand } from '../run-command.js';
import { renderSteps } from '../../steps/run-steps.js';
import { retireInputSchema, runRetire } from '../../cutover/run-cutover.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov retire`: flags, one library call, a renderer. */
export function registerRetire(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('retire').description('stop feeding the archive after cutover and drop it (or keep it as a plain table)'),
    'partgov retire --table memory_nodes --confirm memory_nodes --keep-archive',
  ), retireInputSchema, '--table <name>', '--confirm <table>', '--keep-archive', '--dry-run')
    .action(
      action((g, o) =>
        runCommand({ name: 'retire', config: 'required' }, g, async (ctx) => {
          const result = await runRetire(ctx.stage(), parseStageInput('retire', retireInputSchema, o));
          if (result.dry_run) return { ok: result.ok, result, human: renderSteps(result.steps) };
          return { ok: result.ok, result, human: `retire ${result.table}: change log removed${result.dry_run ? '' : ` (exclusive lock held ${result.lock_held_ms} ms)`}${result.archive_dropped ? `, ${result.archive} dropped` : `, ${result.archive} kept`}` };
        }),
      ),
    );
}
