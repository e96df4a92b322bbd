import { selectTables } from '../../config/load-config.js';
import { runIsolate } from '../../maintain/isolate-scope.js';
import { renderSteps } from '../../steps/run-steps.js';
import { runCommand } from '../run-command.js';
import { action, example, scopeTargetOptions, type CommandKit } from '../command-kit.js';

/** `partgov isolate`: flags, one library call, a renderer. */
export function registerIsolate(program: CommandKit['program']): void {
  scopeTargetOptions(example(
    program.command('isolate').description('give a scope its own partition in every isolatable table (a new scope without a DEFAULT scan under an exclusive lock; one with rows moved out online), so purge can TRUNCATE it'),
    'partgov isolate --tenant-id acme --scope perf --confirm acme/perf',
  ))
    .option('--table <name...>', 'only these configured tables')
    .option('--dry-run', 'print the steps; change nothing')
    .action(
      action((g, o) =>
        runCommand({ name: 'isolate', config: 'required' }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const names = o.table as string[] | undefined;
          const result = await runIsolate(ctx.database().db, {
            tenantId: o.tenantId as string | undefined,
            scope: o.scope as string | undefined,
            confirm: o.confirm as string | undefined,
            ...(names ? { tables: names.flatMap((n) => selectTables(config, n)) } : {}),
            dryRun: o.dryRun === true,
          }, { settings: ctx.settings, config, onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate}; retrying, ${e.retriesLeft} left`) });
          const lines = result.tables.map((t) => t.action === 'already_isolated'
            ? `  ${t.table}: already isolated in ${t.partition}`
            : `  ${t.table}: ${result.dry_run ? 'would create' : 'created'} ${t.partition}${result.dry_run ? '' : `, exclusive locks held ${t.lock_held_ms} ms`} (only ${t.default_leaf} checked under the lock)`);
          const head = `isolate ${result.tenant_id}/${result.scope} (key ${JSON.stringify(result.scope_key)})${result.dry_run ? ' — DRY RUN, nothing changed' : ''}:`;
          const script = result.dry_run ? ['', renderSteps(result.tables.flatMap((t) => t.steps))] : [`  add ${JSON.stringify(result.scope_key)} to tables[].layout.isolated so plan and verify expect the partition`];
          return { ok: true, result, human: [head, ...lines, ...script].join('\n') };
        }),
      ),
    );
}
