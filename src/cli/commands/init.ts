import { runInit } from '../../init/run-init.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov init`: flags, one library call, a renderer. */
export function registerInit(program: CommandKit['program']): void {
  example(
    program.command('init').description('write a starter partgov.config.json (the example memory schema)'),
    'partgov init --config partgov.config.json',
  )
    .option('--force', 'overwrite an existing file')
    .action(
      action((g, o) =>
        runCommand({ name: 'init', config: 'none' }, g, async () => {
          const result = await runInit({ file: g.config ?? 'partgov.config.json', force: o.force === true });
          return { ok: true, result, human: `wrote ${result.file} (${result.tables} tables); edit it, then run \`partgov preflight\`` };
        }),
      ),
    );
}
