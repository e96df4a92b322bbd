import path from 'node:path';
import { Option } from 'commander';
import { benchInputSchema, runBench } from '../../bench/run-bench.js';
import { checkEvidence } from '../../gate/evidence-bundle.js';
import { gateInputSchema, runGate } from '../../gate/run-gate.js';
import { helpOf, parseStageInput } from '../../stage/stage-input.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';

/** `partgov bench` and `partgov gate`: flags, one library call, a renderer. */
export function registerGate(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('bench').description('seed a perf tenant/scope at each scale into copies of the table (as it is, and partitioned), run recall and write workloads on both, reset partition-first; writes PERFORMANCE_REPORT.md'),
    'partgov bench --scales 100000,1000000 --profile balanced --out artifacts/bench',
  ), benchInputSchema, '--scales <list>', '--out <dir>', '--table <name>', '--metrics-file <file>', '--tenant-id <tenant>', '--scope <scope>')
    .addOption(new Option('--profile <profile>', helpOf(benchInputSchema, 'profile')).choices(['balanced', 'recall_slo', 'write_slo']))
    .action(
      action((g, o) =>
        runCommand({ name: 'bench', config: 'required' }, g, async (ctx) => {
          const result = await runBench(ctx.stage(), parseStageInput('bench', benchInputSchema, o));
          const lines = result.scales.flatMap((s) => s.results.map((r) => `  ${String(s.scale).padStart(8)} ${r.workload.padEnd(6)} ${r.layout.padEnd(11)} p50 ${r.figures.p50_ms} ms  p95 ${r.figures.p95_ms} ms  p99 ${r.figures.p99_ms} ms  errors ${r.figures.error_rate}`));
          return { ok: result.ok, result, human: [`bench ${result.table} (${result.profile}), report: ${path.join(result.out_dir, 'PERFORMANCE_REPORT.md')}`, ...lines].join('\n') };
        }),
      ),
    );

  inputOptions(example(
    program.command('gate').description('the Gate C verdict: preflight --strict, verify, shadow-read, the perf matrix, reset policy and SLOs; writes an evidence bundle with a SHA-256 manifest and report.html'),
    'GATEC_SCALES=100000 partgov gate --out artifacts/gate --fail-on-fail',
  ), gateInputSchema, '--out <dir>', '--fail-on-fail', '--metrics-file <file>', '--bench-table <name>', '--bench-tenant-id <tenant>', '--bench-scope <scope>')
    .option('--check-evidence <dir>', 'only recompute the SHA-256 of every file of a bundle: exit 1 on an altered, missing or extra file')
    .action(
      action((g, o) =>
        runCommand<object>({ name: 'gate', config: typeof o.checkEvidence === 'string' ? 'none' : 'required' }, g, async (ctx) => {
          if (typeof o.checkEvidence === 'string') {
            const r = await checkEvidence(path.resolve(o.checkEvidence));
            const human = r.ok ? `evidence ${r.dir}: ${r.files} file(s), every SHA-256 matches` : `evidence ${r.dir} does NOT match its manifest:${r.altered.map((f) => `\n  altered: ${f}`).join('')}${r.missing.map((f) => `\n  missing: ${f}`).join('')}${r.extra.map((f) => `\n  extra: ${f}`).join('')}`;
            return { ok: r.ok, result: r, human };
          }
          const r = await runGate(ctx.stage(), parseStageInput('gate', gateInputSchema, o));
          const lines = r.summary.checks.map((c) => `  ${c.status.toUpperCase().padEnd(4)} ${c.name}: ${c.detail}`);
          const human = [`gate ${r.summary.run_id}: ${r.ok ? 'PASS' : 'FAIL'} (${r.blocking ? 'blocking' : 'snapshot'})`, ...lines, `  evidence: ${r.summary_file}`].join('\n');
          return { ok: r.ok, result: { ...r.summary, bundle_dir: r.bundle_dir, summary_file: r.summary_file }, human, exitCode: r.ok || !r.blocking ? 0 : 1 };
        }),
      ),
    );
}
