import { renderPlanSql, runPlan } from '../../plan/run-plan.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov plan`: flags, one library call, a renderer. */
export function registerPlan(program: CommandKit['program']): void {
  example(
    program.command('plan').description('generate the partitioned shadow DDL from the legacy catalog (SQL on stdout)'),
    'partgov plan --table memory_nodes > plan.sql   # or: partgov plan --out partgov/migrations',
  )
    .option('--table <name>', 'only this configured table')
    .option('--out <dir>', 'write numbered up/down migration files for `partgov migrate up`')
    .action(
      action((g, o) =>
        runCommand({ name: 'plan', config: 'required' }, g, async (ctx) => {
          const result = await runPlan(ctx.database().db, ctx.requireConfig(), {
            table: o.table as string | undefined,
            out: o.out as string | undefined,
          });
          for (const t of result.tables) {
            ctx.log(`plan ${t.table} -> ${t.shadow_name}: ${t.layout}, ${t.leaf_count} leaves, ${t.statements.length} statements${t.shadow_exists ? ' (shadow already exists)' : ''}`);
            for (const c of t.changes) ctx.log(`  change: ${c}`);
            for (const n of t.notes) ctx.log(`  note: ${n}`);
          }
          for (const f of result.files) ctx.log(`${f.status} ${f.up}`);
          return { ok: true, result, human: result.tables.map((t) => renderPlanSql(t)).join('\n') };
        }),
      ),
    );
}
