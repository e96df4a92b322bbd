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
    .action(
      action((g, o) =>
        runCommand({ name: 'demo', config: 'none', startsEmbeddedDatabase: true }, g, async (ctx) => {
          const result = await runDemo({ nodes: numberFlag('--nodes', o.nodes, { integer: true, min: 1 }), log: ctx.log, settings: ctx.settings });
          return { ok: result.ok, result, human: result.summary };
        }),
      ),
    );
}
