import { selectTables } from '../../config/load-config.js';
import { numberFlag } from '../number-flag.js';
import { runShadowRead } from '../../shadow-read/run-shadow-read.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov shadow-read`: flags, one library call, a renderer. */
export function registerShadowRead(program: CommandKit['program']): void {
  example(
    program.command('shadow-read').description('run the read queries on legacy and shadow for sampled scopes; compare results, latency and pruning'),
    'partgov shadow-read --table memory_nodes --samples 50 --min-overlap 0.95 --json',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--samples <n>', 'scope keys sampled', '20')
    .option('--limit <k>', 'rows compared per query (top k)', '100')
    .option('--min-overlap <x>', 'lowest acceptable result overlap', '0.95')
    .action(
      action((g, o) =>
        runCommand({ name: 'shadow-read', config: 'required' }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const [table] = selectTables(config, o.table as string);
          const result = await runShadowRead(ctx.database(), table!, {
            samples: numberFlag('--samples', o.samples, { integer: true, min: 1, max: 100_000 }),
            limit: numberFlag('--limit', o.limit, { integer: true, min: 1, max: 100_000 }),
            minOverlap: numberFlag('--min-overlap', o.minOverlap, { max: 1 }),
            evidenceDir: config.evidence_dir,
          });
          const ok = result.ok;
          const human = [
            ...result.queries.map((q) =>
              `${q.overlap_min >= result.min_overlap && q.leaves_touched_max === 1 ? 'ok  ' : 'FAIL'} ${q.name}: overlap min ${q.overlap_min} mean ${q.overlap_mean}` +
              ` | p50/p95 legacy ${q.legacy_p50_ms}/${q.legacy_p95_ms} ms, shadow ${q.shadow_p50_ms}/${q.shadow_p95_ms} ms | leaves touched ${q.leaves_touched_max}` +
              (q.overlap_min < result.min_overlap ? ` (worst scope ${JSON.stringify(q.worst_scope)})` : ''),
            ),
            `shadow-read ${result.table}: ${ok ? 'passed' : 'FAILED'} over ${result.samples} sampled ${result.scope_column} values (min overlap ${result.min_overlap})`,
          ].join('\n');
          return { ok, result, human };
        }),
      ),
    );
}
