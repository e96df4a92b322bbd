import { runVerify, verifyInputSchema } from '../../verify/run-verify.js';
import { renderChecks } from '../render.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov verify`: flags, one library call, a renderer. */
export function registerVerify(program: CommandKit['program']): void {
  const cmd = example(
    program.command('verify').description('prove the shadow holds exactly the legacy rows, and check partition health'),
    'partgov verify --json > verify.json   # exit 1 when a check fails',
  );
  inputOptions(cmd, verifyInputSchema, '--table <name>', '--segments <n>', '--max-diff-keys <n>', '--strict', '--skew-threshold <x>', '--bloat-threshold <x>')
    .action(
      action((g, o) =>
        runCommand({ name: 'verify', config: 'required', recordsOwnRuns: true }, g, async (ctx) => {
          const result = await runVerify(ctx.stage(), parseStageInput('verify', verifyInputSchema, o));
          const human = result.tables
            .map((t) => renderChecks(`verify ${t.table} (${t.equality.duration_ms} ms, ${t.equality.queries} queries)`, t.checks.map((c) => ({ ...c, status: c.status === 'warn' && result.strict ? 'fail' : c.status }))))
            .join('\n\n');
          return { ok: result.ok, result, human: `${human}${result.evidence_file ? `\nevidence: ${result.evidence_file}` : ''}` };
        }),
      ),
    );
}
