import { isolateInputSchema, runIsolate } from '../../maintain/isolate-scope.js';
import { renderSteps } from '../../steps/run-steps.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, scopeTargetOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov isolate`: flags, one library call, a renderer. */
export function registerIsolate(program: CommandKit['program']): void {
  inputOptions(scopeTargetOptions(example(
    program.command('isolate').description('give a scope its own partition in every isolatable table (a new scope without a DEFAULT scan under an exclusive lock; one with rows moved out online), so purge can TRUNCATE it'),
    'partgov isolate --tenant-id acme --scope perf --confirm acme/perf',
  ), isolateInputSchema), isolateInputSchema, '--table <name...>', '--dry-run')
    .action(
      action((g, o) =>
        runCommand({ name: 'isolate', config: 'required' }, g, async (ctx) => {
          const result = await runIsolate(ctx.stage(), parseStageInput('isolate', isolateInputSchema, o));
          const locks = (t: (typeof result.tables)[number]) => (result.dry_run ? '' : `, exclusive locks held ${t.lock_held_ms} ms`);
          const lines = result.tables.map((t) => {
            if (t.action === 'already_isolated') {
              const guarded = t.steps.filter((x) => x.id.startsWith('validate ')).length;
              return `  ${t.table}: already isolated in ${t.partition}${guarded > 0 ? `; ${result.dry_run ? 'would guard' : 'guarded'} ${guarded} DEFAULT leaf/leaves the scope cannot hash into (read once, writes going on), so a purge reads one` : ''}`;
            }
            const scan = t.rows_scanned_under_lock > 0
              ? `; PostgreSQL ${result.dry_run ? 'would scan' : 'scanned'} ~${t.rows_scanned_under_lock} row(s) of ${t.default_leaf} under the lock (${t.action === 'moved' ? 'a text key\'s hash bound' : 'its CHECK against the scope'}: see runbooks/isolate-and-maintain.md)`
              : `; no scan under the lock${t.action === 'created' ? ` (${t.default_leaf} ${result.dry_run ? 'would be copied' : 'copied'} online)` : ''}`;
            if (t.action === 'moved') return `  ${t.table}: ${result.dry_run ? 'would move the scope\'s rows out of' : `moved ${t.rows_moved} row(s) of the scope out of`} ${t.default_leaf} into ${t.partition}${locks(t)}${scan}`;
            return `  ${t.table}: ${result.dry_run ? 'would create' : 'created'} ${t.partition}${locks(t)}${scan}`;
          });
          const head = `isolate ${result.tenant_id}/${result.scope} (key ${JSON.stringify(result.scope_key)})${result.dry_run ? ' — DRY RUN, nothing changed' : ''}:`;
          const script = result.dry_run ? ['', renderSteps(result.tables.flatMap((t) => t.steps))] : [`  add ${JSON.stringify(result.scope_key)} to tables[].layout.isolated so plan and verify expect the partition`];
          return { ok: result.ok, result, human: [head, ...lines, ...result.notes.map((n) => `  note: ${n}`), ...script].join('\n') };
        }),
      ),
    );
}
