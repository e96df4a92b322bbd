import { maintainInputSchema, runMaintain } from '../../maintain/run-maintain.js';
import { renderSteps } from '../../steps/run-steps.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov maintain`: flags, one library call, a renderer. */
export function registerMaintain(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('maintain').description('premake future range partitions, give rows in a DEFAULT their partition, apply retention; idempotent, safe from cron'),
    'partgov maintain --dry-run',
  ), maintainInputSchema, '--dry-run', '--max-locked-move-rows <n>')
    .action(
      action((g, o) =>
        runCommand({ name: 'maintain', config: 'required' }, g, async (ctx) => {
          const result = await runMaintain(ctx.stage(), parseStageInput('maintain', maintainInputSchema, o));
          const lines = result.tables.flatMap((t) => [
            `  ${t.table} (${t.partitioned}): ${t.created.length} created, ${t.default_rows_moved} row(s) moved out of the DEFAULT${t.default_rows_left > 0 ? ` (${t.default_rows_left} stay)` : ''}, ${t.detached.length} detached (${t.dropped.length} dropped, ${t.kept_as_archive.length} kept)${result.dry_run ? '' : `; longest lock ${t.lock_held_ms} ms`}`,
            ...(t.retention_held ? [`    ${t.retention_held}`] : []),
            ...t.notes.map((n) => `    ${n}`),
          ]);
          const head = !result.changed ? 'maintain: nothing to do' : result.dry_run ? 'maintain — DRY RUN, nothing changed:' : `maintain: done; audit row ${result.audit_id}`;
          const script = result.dry_run && result.changed ? ['', renderSteps(result.tables.flatMap((t) => t.steps))] : [];
          return { ok: result.ok, result, human: [head, ...lines, ...script].join('\n') };
        }),
      ),
    );
}
