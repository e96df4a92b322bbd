import { runCommand } from '../run-command.js';
import { runCutover, runRollback, swapInputSchema } from '../../cutover/run-cutover.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov cutover / rollback`: flags, one library call, a renderer. */
export function registerCutoverRollback(program: CommandKit['program']): void {
  for (const verb of ['cutover', 'rollback'] as const) {
    inputOptions(example(
      program
        .command(verb)
        .description(verb === 'cutover' ? 'swap the verified shadow in: one short transaction under lock_timeout; the legacy table stays as an exact archive' : 'swap the archive back in, losing no write made since cutover; sync runs forward again'),
      `partgov ${verb} --table memory_nodes --confirm memory_nodes --dry-run`,
    ), swapInputSchema, '--table <name>', '--confirm <table>', '--dry-run')
      .action(
        action((g, o) =>
          runCommand({ name: verb, config: 'required' }, g, async (ctx) => {
            const result = await (verb === 'cutover' ? runCutover : runRollback)(ctx.stage(), parseStageInput(verb, swapInputSchema, o));
            if (result.dry_run) {
              for (const x of result.objects) ctx.log(`${x.action === 'carried' ? 'carried' : 'REFUSED'} ${x.kind} ${x.name}: ${x.detail}`);
              return { ok: result.ok, result, human: result.script };
            }
            const human = result.already
              ? `${verb} ${result.table}: already done, nothing changed`
              : `${verb} ${result.table}: swapped in one transaction, exclusive locks held ${result.lock_held_ms} ms (${result.attempts} attempt(s)); replayed ${result.replayed_before_lock} log entries before the lock and ${result.replayed_in_lock} inside it; ${result.objects.length} dependent object(s) carried; ${result.statement_evidence?.source ? `${result.statement_evidence.examined} of the application's ON CONFLICT/ONLY statements judged in ${result.statement_evidence.source}, none failing; ` : ''}${verb === 'cutover' ? `the legacy table is ${result.archive}, kept exact` : 'sync runs forward again'}`;
            return { ok: result.ok, result, human };
          }),
        ),
      );
  }
}
