import { preflightInputSchema, runPreflight } from '../../preflight/run-preflight.js';
import { renderChecks } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov preflight`: flags, one library call, a renderer. */
export function registerPreflight(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('preflight').description('check connectivity, server version, APP_ENV rules, state schema and tables'),
    'partgov preflight --strict --json > preflight.json',
  ), preflightInputSchema, '--strict')
    .action(
      action((g, o) =>
        runCommand({ name: 'preflight', config: 'optional', reportsAppEnvRules: true, recordsOwnRuns: true }, g, async (ctx) => {
          const result = await runPreflight(ctx.stage(), parseStageInput('preflight', preflightInputSchema, o));
          return { ok: result.ok, result, human: renderChecks('preflight', result.checks) };
        }),
      ),
    );
}
