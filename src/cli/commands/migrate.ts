import { migrateInputSchema, runMigrate } from '../../migrate/run-migrate.js';
import { renderMigrate } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov migrate`: flags, one library call, a renderer. */
export function registerMigrate(program: CommandKit['program']): void {
  inputOptions(example(
    program
      .command('migrate')
      .description("apply partgov's state schema and the plan's DDL migrations")
      .argument('<action>', 'up | down | status'),
    'partgov migrate up && partgov migrate status --json',
  ), migrateInputSchema, '--all', '--dry-run')
    .action(
      action((g, o, [direction]) =>
        runCommand({ name: 'migrate', config: 'optional' }, g, async (ctx) => {
          const result = await runMigrate(ctx.stage(), parseStageInput('migrate', migrateInputSchema, { ...o, action: direction }));
          return { ok: result.ok, result, human: renderMigrate(result) };
        }),
      ),
    );
}
