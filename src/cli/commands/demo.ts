import path from 'node:path';
import { runDemo } from '../../demo/run-demo.js';
import { numberFlag } from '../number-flag.js';
import { runCommand } from '../run-command.js';
import { action, example, type CommandKit } from '../command-kit.js';

/** `partgov demo`: flags, one library call, a renderer. */
export function registerDemo(program: CommandKit['program']): void {
  example(
    program.command('demo').description('run the pipeline on the example schema in an embedded PostgreSQL'),
    'partgov demo --nodes 200000',
  )
    .option('--nodes <n>', 'memory_nodes rows to generate', '100000')
    .option('--rows <n>', 'the same as --nodes')
    .option('--out <dir>', "where the gate's evidence bundle goes", 'artifacts/partgov/gate')
    .action(
      action((g, o) =>
        runCommand({ name: 'demo', config: 'none', startsEmbeddedDatabase: true }, g, async (ctx) => {
          const nodes = o.rows !== undefined ? numberFlag('--rows', o.rows, { integer: true, min: 1 }) : numberFlag('--nodes', o.nodes, { integer: true, min: 1 });
          const result = await runDemo({ nodes, log: ctx.log, settings: ctx.settings, evidenceDir: path.resolve(o.out as string) });
          return { ok: result.ok, result, human: result.summary };
        }),
      ),
    );
}
