import { runPreflight } from '../../preflight/run-preflight.js';
import { renderChecks } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov preflight`: flags, one library call, a renderer. */
export function registerPreflight(program: CommandKit['program']): void {
  example(
    program.command('preflight').description('check connectivity, server version, APP_ENV rules, state schema and tables'),
    'partgov preflight --strict --json > preflight.json',
  )
    .option('--strict', 'warnings count as failures')
    .action(
      action((g, o) =>
        runCommand({ name: 'preflight', config: 'optional', reportsAppEnvRules: true }, g, async (ctx) => {
          const result = await runPreflight({
            settings: ctx.settings,
            config: ctx.config,
            strict: o.strict === true,
            migrationsFolder: ctx.config?.migrations_dir,
          });
          return { ok: result.ok, result, human: renderChecks('preflight', result.checks) };
        }),
      ),
    );
}
