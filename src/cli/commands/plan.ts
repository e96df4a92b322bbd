import { planInputSchema, renderPlanSql, runPlan } from '../../plan/run-plan.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';
import { parseStageInput } from '../../stage/stage-input.js';

/** `partgov plan`: flags, one library call, a renderer. */
export function registerPlan(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('plan').description('generate the partitioned shadow DDL from the legacy catalog (SQL on stdout)'),
    'partgov plan --table memory_nodes > plan.sql   # or: partgov plan --out partgov/migrations',
  ), planInputSchema, '--table <name>', '--out <dir>')
    .action(
      action((g, o) =>
        runCommand({ name: 'plan', config: 'required' }, g, async (ctx) => {
          const result = await runPlan(ctx.stage(), parseStageInput('plan', planInputSchema, o));
          for (const t of result.tables) {
            ctx.log(`plan ${t.table} -> ${t.shadow_name}: ${t.layout}, ${t.leaf_count} leaves, ${t.statements.length} statements${t.shadow_exists ? ' (shadow already exists)' : ''}`);
            for (const c of t.changes) ctx.log(`  change: ${c}`);
            for (const n of t.notes) ctx.log(`  note: ${n}`);
          }
          for (const f of result.files) ctx.log(`${f.status} ${f.up}`);
          for (const c of result.checks.filter((x) => x.status !== 'pass')) ctx.log(`warning: ${c.detail}${c.fix ? `\n  fix: ${c.fix}` : ''}`);
          return { ok: result.ok, result, human: result.tables.map((t) => renderPlanSql(t)).join('\n') };
        }),
      ),
    );
}
