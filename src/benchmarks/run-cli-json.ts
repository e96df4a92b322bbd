import { spawn } from 'node:child_process';
import { packagePath } from '../package-root.js';

/**
 * Runs `partgov <args> --json` as a child process, the way a user would, and
 * returns its JSON document: benchmarks measure the real CLI path, including
 * the process's own peak RSS. Exit codes in `accept` count as success.
 */
export function runCliJson<T>(args: string[], accept: readonly number[] = [0]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [packagePath('bin', 'partgov.js'), '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code !== null && accept.includes(code) ? resolve(JSON.parse(out) as T) : reject(new Error(`partgov ${args.join(' ')} exited ${code}: ${err}`))));
  });
}
