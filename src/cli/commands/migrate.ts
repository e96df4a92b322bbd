import { runMigrate } from '../../migrate/run-migrate.js';
import { InputInvalidError } from '../../errors.js';
import { renderMigrate } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov migrate`: flags, one library call, a renderer. */
export function registerMigrate(program: CommandKit['program']): void {
  example(
    program
      .command('migrate')
      .description("apply partgov's state schema and the plan's DDL migrations")
      .argument('<action>', 'up | down | status'),
    'partgov migrate up && partgov migrate status --json',
  )
    .option('--all', 'with down: revert every migration, not only the last')
    .option('--dry-run', 'with up/down: print the SQL of what would run, apply nothing')
    .action(
      action((g, o, [direction]) =>
        runCommand({ name: 'migrate', config: 'optional' }, g, async (ctx) => {
          if (direction !== 'up' && direction !== 'down' && direction !== 'status') {
            throw new InputInvalidError(`unknown migrate action ${JSON.stringify(direction)}`, {
              fix: 'use `partgov migrate up`, `partgov migrate down [--all]` or `partgov migrate status`',
            });
          }
          const result = await runMigrate(ctx.database().db, {
            action: direction,
            all: o.all === true,
            dryRun: o.dryRun === true,
            appEnv: ctx.settings.appEnv,
            planFolder: ctx.config?.migrations_dir,
            lockTimeoutMs: ctx.settings.lockTimeoutMs,
            statementTimeoutMs: ctx.settings.statementTimeoutMs,
            lockRetries: ctx.settings.lockRetries,
          });
          return { ok: true, result, human: renderMigrate(result) };
        }),
      ),
    );
}
