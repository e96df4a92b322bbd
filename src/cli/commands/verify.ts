import { numberFlag } from '../number-flag.js';
import { runVerify } from '../../verify/run-verify.js';
import { renderChecks } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov verify`: flags, one library call, a renderer. */
export function registerVerify(program: CommandKit['program']): void {
  example(
    program.command('verify').description('prove the shadow holds exactly the legacy rows, and check partition health'),
    'partgov verify --json > verify.json   # exit 1 when a check fails',
  )
    .option('--table <name>', 'only this configured table')
    .option('--segments <n>', 'hash segments compared per table', '64')
    .option('--max-diff-keys <n>', 'differing keys listed per table', '100')
    .option('--strict', 'warnings fail too')
    .option('--skew-threshold <x>', 'largest/smallest hash leaf ratio that warns', '4')
    .option('--bloat-threshold <x>', 'dead-tuple ratio that warns', '0.2')
    .action(
      action((g, o) =>
        runCommand({ name: 'verify', config: 'required', recordsOwnRuns: true }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const result = await runVerify(ctx.database().db, config, {
            url: ctx.settings.databaseUrl!,
            table: o.table as string | undefined,
            segments: numberFlag('--segments', o.segments, { integer: true, min: 1, max: 65536 }),
            maxDiffKeys: numberFlag('--max-diff-keys', o.maxDiffKeys, { integer: true, min: 1, max: 1_000_000 }),
            strict: o.strict === true,
            skewThreshold: numberFlag('--skew-threshold', o.skewThreshold, { min: 1 }),
            bloatThreshold: numberFlag('--bloat-threshold', o.bloatThreshold, { max: 1 }),
            statementTimeoutMs: ctx.settings.statementTimeoutMs,
            lockTimeoutMs: ctx.settings.lockTimeoutMs,
            appEnv: ctx.settings.appEnv,
            evidenceDir: config.evidence_dir,
          });
          const human = result.tables
            .map((t) => renderChecks(`verify ${t.table} (${t.equality.duration_ms} ms, ${t.equality.queries} queries)`, t.checks.map((c) => ({ ...c, status: c.status === 'warn' && result.strict ? 'fail' : c.status }))))
            .join('\n\n');
          return { ok: result.ok, result, human: `${human}${result.evidence_file ? `\nevidence: ${result.evidence_file}` : ''}` };
        }),
      ),
    );
}
