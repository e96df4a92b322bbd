import { maxJobs, runBackfill } from '../../backfill/run-backfill.js';
import { selectTables } from '../../config/load-config.js';
import { backfillProgress } from '../backfill-progress.js';
import { numberFlag } from '../number-flag.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov backfill`: flags, one library call, a renderer. */
export function registerBackfill(program: CommandKit['program']): void {
  example(
    program.command('backfill').description('copy legacy rows into the shadow in resumable, checksummed keyset batches'),
    'partgov backfill --table memory_nodes --batch-size 10000 --sleep-ms 20 --max-batch-ms 2000',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--batch-size <n>', 'rows per batch (the ceiling adaptive sizing returns to)', '10000')
    .option('--jobs <n>', 'batches in flight at once, each on its own connection; also leaf index builds at once with --defer-indexes', '1')
    .option('--sleep-ms <n>', 'pause between batches', '0')
    .option('--max-batch-ms <n>', 'halve the batch when one takes longer', '5000')
    .option('--max-duration <s>', 'stop cleanly after this many seconds; run again to continue')
    .option('--defer-indexes', 'drop secondary shadow indexes for the copy, build them per leaf afterwards')
    .option('--restart', 'empty the shadow, forget the checkpoint and copy from the first key again')
    .action(
      action((g, o) =>
        runCommand({ name: 'backfill', config: 'required' }, g, async (ctx) => {
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const jobs = numberFlag('--jobs', o.jobs, { integer: true, min: 1, max: maxJobs });
          const progress = backfillProgress();
          try {
            // One connection per job, one for the advisory lock, one for chunk probes, one for replay.
            const result = await runBackfill(ctx.database({ maxConnections: jobs + 3 }).db, table!, {
              settings: ctx.settings,
              jobs,
              batchSize: numberFlag('--batch-size', o.batchSize, { integer: true, min: 1 }),
              sleepMs: numberFlag('--sleep-ms', o.sleepMs, { integer: true }),
              maxBatchMs: numberFlag('--max-batch-ms', o.maxBatchMs, { integer: true, min: 1 }),
              ...(o.maxDuration !== undefined ? { maxDurationSec: numberFlag('--max-duration', o.maxDuration, { min: 1 }) } : {}),
              deferIndexes: o.deferIndexes === true,
              restart: o.restart === true,
              onProgress: (p) => progress.update(p),
              onEvent: (m) => ctx.log(`backfill: ${m}`),
            });
            progress.stop();
            const human = [
              `backfill ${result.table} -> ${result.shadow}: ${result.complete ? 'complete' : `stopped (${result.stopped_reason}); run again to continue`}`,
              `  ${result.rows_copied} rows in ${result.batches} batches, ${(result.duration_ms / 1000).toFixed(1)} s, ${result.rows_per_sec} rows/s, ${result.retries} retries`,
              `  checkpoint: ${result.final_checkpoint.rows_copied} rows total, last key ${JSON.stringify(result.final_checkpoint.last_key)}`,
              ...(result.deferred_indexes.dropped.length ? [`  deferred indexes: ${result.deferred_indexes.dropped.join(', ')} (${result.deferred_indexes.leaf_indexes_built} leaf indexes built in ${(result.deferred_indexes.build_ms / 1000).toFixed(1)} s)`] : []),
            ].join('\n');
            return { ok: true, result, human };
          } finally {
            progress.stop();
          }
        }),
      ),
    );
}
