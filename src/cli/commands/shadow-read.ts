import { runShadowRead, shadowReadInputSchema } from '../../shadow-read/run-shadow-read.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';
import type { Check } from '../../checks/check.js';

/** A query's line label: the worst of its overlap, pruning and latency checks (the stage decided each). */
const worstStatus = (checks: readonly Check[]) => (checks.some((c) => c.status === 'fail') ? 'FAIL' : checks.some((c) => c.status === 'warn') ? 'WARN' : 'ok  ');

/** `partgov shadow-read`: flags, one library call, a renderer. */
export function registerShadowRead(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('shadow-read').description('run the read queries on legacy and shadow for sampled scopes; compare results, latency and pruning'),
    'partgov shadow-read --table memory_nodes --samples 50 --min-overlap 0.95 --json',
  ), shadowReadInputSchema, '--table <name>', '--samples <n>', '--limit <k>', '--min-overlap <x>', '--max-latency-ratio <x>')
    .action(
      action((g, o) =>
        runCommand({ name: 'shadow-read', config: 'required' }, g, async (ctx) => {
          const result = await runShadowRead(ctx.stage(), parseStageInput('shadow-read', shadowReadInputSchema, o));
          const ok = result.ok;
          const human = [
            ...result.queries.map((q) =>
              `${worstStatus(result.checks.filter((c) => [`overlap:${q.name}`, `pruning:${q.name}`, `latency:${q.name}`].includes(c.name)))} ${q.name}: overlap min ${q.overlap_min} mean ${q.overlap_mean}` +
              ` | p50/p95 legacy ${q.legacy_p50_ms}/${q.legacy_p95_ms} ms, shadow ${q.shadow_p50_ms}/${q.shadow_p95_ms} ms | leaves touched ${q.leaves_touched_max}` +
              (q.overlap_min < result.min_overlap ? ` (worst scope ${JSON.stringify(q.worst_scope)})` : ''),
            ),
            // What failed, why, and the way out.
            ...result.checks.filter((c) => c.status !== 'pass').map((c) => `  ${c.name}: ${c.detail}${c.fix ? `\n    fix: ${c.fix}` : ''}`),
            `shadow-read ${result.table}: ${ok ? 'passed' : 'FAILED'} over ${result.samples} sampled ${result.scope_column} values (min overlap ${result.min_overlap})`,
          ].join('\n');
          return { ok, result, human };
        }),
      ),
    );
}
