import path from 'node:path';
import { Option } from 'commander';
import { runBench } from '../../bench/run-bench.js';
import { selectTables } from '../../config/load-config.js';
import { parseGateEnv, type GateEnv } from '../../config/gate-env.js';
import { InputInvalidError } from '../../errors.js';
import { checkEvidence, writeFileAtomically } from '../../gate/evidence-bundle.js';
import { figuresMetrics, runGate } from '../../gate/run-gate.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

function scalesFlag(text: string | undefined, env: GateEnv): number[] {
  if (text === undefined) return env.GATEC_SCALES;
  if (!/^\d+(,\d+)*$/.test(text)) throw new InputInvalidError(`--scales ${JSON.stringify(text)} is not a list of row counts`, { fix: 'pass e.g. --scales 100000,1000000' });
  return text.split(',').map(Number);
}

/** `partgov bench` and `partgov gate`: flags, one library call, a renderer. */
export function registerGate(program: CommandKit['program']): void {
  example(
    program.command('bench').description('seed a perf tenant/scope at each scale into copies of the table (as it is, and partitioned), run recall and write workloads on both, reset partition-first; writes PERFORMANCE_REPORT.md'),
    'partgov bench --scales 100000,1000000 --profile balanced --out artifacts/bench',
  )
    .option('--scales <list>', 'row counts of the perf scope (default: GATEC_SCALES, 100000)')
    .addOption(new Option('--profile <profile>', 'balanced | recall_slo | write_slo (default: GATEC_PERF_PROFILE)').choices(['balanced', 'recall_slo', 'write_slo']))
    .option('--out <dir>', 'where the report goes (default: <evidence_dir>/bench)')
    .option('--table <name>', 'the configured table to measure (default: the first with read_queries)')
    .option('--metrics-file <file>', 'also write the figures in Prometheus text format (written atomically)')
    .action(
      action((g, o) =>
        runCommand({ name: 'bench', config: 'required' }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const env = parseGateEnv(o.profile ? { ...process.env, GATEC_PERF_PROFILE: o.profile as string } : process.env);
          const outDir = path.resolve((o.out as string | undefined) ?? path.join(config.evidence_dir, 'bench'));
          const result = await runBench(ctx.database({ maxConnections: env.GATEC_BENCH_CONCURRENCY + 2 }), {
            settings: ctx.settings, config, env, scales: scalesFlag(o.scales as string | undefined, env), outDir,
            ...(typeof o.table === 'string' ? { table: selectTables(config, o.table)[0]! } : {}),
            log: (l) => ctx.log(l),
          });
          if (typeof o.metricsFile === 'string') await writeFileAtomically(o.metricsFile, await figuresMetrics({ bench: result }));
          const lines = result.scales.flatMap((s) => s.results.map((r) => `  ${String(s.scale).padStart(8)} ${r.workload.padEnd(6)} ${r.layout.padEnd(11)} p50 ${r.figures.p50_ms} ms  p95 ${r.figures.p95_ms} ms  p99 ${r.figures.p99_ms} ms  errors ${r.figures.error_rate}`));
          return { ok: true, result: { ...result, out_dir: outDir }, human: [`bench ${result.table} (${result.profile}), report: ${path.join(outDir, 'PERFORMANCE_REPORT.md')}`, ...lines].join('\n') };
        }),
      ),
    );

  example(
    program.command('gate').description('the Gate C verdict: preflight --strict, verify, shadow-read, the perf matrix, reset policy and SLOs; writes an evidence bundle with a SHA-256 manifest and report.html'),
    'GATEC_SCALES=100000 partgov gate --out artifacts/gate --fail-on-fail',
  )
    .option('--out <dir>', 'bundle root (default: <evidence_dir>/gate); the bundle is <dir>/<run_id>/')
    .option('--fail-on-fail', 'blocking mode (also GATEC_FAIL_ON_FAIL=true): exit 1 when a check fails; otherwise exit 0 with ok: false')
    .option('--metrics-file <file>', 'also write the figures in Prometheus text format (written atomically)')
    .option('--check-evidence <dir>', 'only recompute the SHA-256 of every file of a bundle: exit 1 on an altered, missing or extra file')
    .action(
      action((g, o) =>
        runCommand<object>({ name: 'gate', config: typeof o.checkEvidence === 'string' ? 'none' : 'required' }, g, async (ctx) => {
          if (typeof o.checkEvidence === 'string') {
            const r = await checkEvidence(path.resolve(o.checkEvidence));
            const human = r.ok ? `evidence ${r.dir}: ${r.files} file(s), every SHA-256 matches` : `evidence ${r.dir} does NOT match its manifest:${r.altered.map((f) => `\n  altered: ${f}`).join('')}${r.missing.map((f) => `\n  missing: ${f}`).join('')}${r.extra.map((f) => `\n  extra: ${f}`).join('')}`;
            return { ok: r.ok, result: r, human };
          }
          const config = ctx.requireConfig();
          const env = parseGateEnv(process.env);
          const conn = ctx.database({ maxConnections: env.GATEC_BENCH_CONCURRENCY + 2 });
          const r = await runGate({ ...conn, url: ctx.settings.databaseUrl! }, {
            settings: ctx.settings, config, env,
            outDir: path.resolve((o.out as string | undefined) ?? path.join(config.evidence_dir, 'gate')),
            failOnFail: o.failOnFail === true,
            ...(typeof o.metricsFile === 'string' ? { metricsFile: o.metricsFile } : {}),
            log: (l) => ctx.log(l),
          });
          const lines = r.summary.checks.map((c) => `  ${c.status.toUpperCase().padEnd(4)} ${c.name}: ${c.detail}`);
          const human = [`gate ${r.summary.run_id}: ${r.ok ? 'PASS' : 'FAIL'} (${r.blocking ? 'blocking' : 'snapshot'})`, ...lines, `  evidence: ${r.summary_file}`].join('\n');
          return { ok: r.ok, result: { ...r.summary, bundle_dir: r.bundle_dir, summary_file: r.summary_file }, human, exitCode: r.ok || !r.blocking ? 0 : 1 };
        }),
      ),
    );
}
