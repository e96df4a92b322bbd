import { backfillInputSchema, runBackfill } from '../../backfill/run-backfill.js';
import { backfillProgress } from '../backfill-progress.js';
import { renderSteps } from '../../steps/run-steps.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov backfill`: flags, one library call, a renderer. */
export function registerBackfill(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('backfill').description('copy legacy rows into the shadow in resumable, checksummed keyset batches'),
    'partgov backfill --table memory_nodes --batch-size 10000 --sleep-ms 20 --max-batch-ms 2000',
  ), backfillInputSchema, '--table <name>', '--batch-size <n>', '--jobs <n>', '--sleep-ms <n>', '--max-batch-ms <n>', '--max-duration <s>', '--keep-indexes', '--restart', '--dry-run', '--canary-sql <sql>', '--canary-max-ms <ms>')
    .action(
      action((g, o) =>
        runCommand({ name: 'backfill', config: 'required' }, g, async (ctx) => {
          const progress = backfillProgress();
          try {
            const result = await runBackfill(ctx.stage({ onProgress: (p) => progress.update(p) }), parseStageInput('backfill', backfillInputSchema, o));
            progress.stop();
            if (result.dry_run) return { ok: result.ok, result, human: renderSteps(result.steps) };
            const human = [
              `backfill ${result.table} -> ${result.shadow}: ${result.complete ? 'complete' : `stopped (${result.stopped_reason}); run again to continue`}`,
              `  ${result.rows_copied} rows in ${result.batches} batches, ${(result.duration_ms / 1000).toFixed(1)} s, ${result.rows_per_sec} rows/s, ${result.retries} retries`,
              `  checkpoint: ${result.final_checkpoint.rows_copied} rows total, last key ${JSON.stringify(result.final_checkpoint.last_key)}`,
              ...(result.canary ? [`  canary: ${result.canary.runs} runs, slowest ${result.canary.slowest_ms} ms (bound ${result.canary.max_ms} ms); ${result.canary.pauses} pause(s), ${(result.canary.paused_ms / 1000).toFixed(1)} s without a new batch`] : []),
              ...(result.deferred_indexes.dropped.length ? [`  deferred indexes: ${result.deferred_indexes.dropped.join(', ')} (${result.deferred_indexes.leaf_indexes_built} leaf indexes built in ${(result.deferred_indexes.build_ms / 1000).toFixed(1)} s)`] : []),
            ].join('\n');
          return { ok: result.ok, result, human };
          } finally {
            progress.stop();
          }
        }),
      ),
    );
}
