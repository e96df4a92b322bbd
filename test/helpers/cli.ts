import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'bin', 'partgov.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/**
 * Runs the real CLI (bin/partgov.js over dist/, built by `npm test`), or another
 * of the package's scripts (`script`, e.g. a benchmark), in a child process. The
 * environment is scrubbed of DATABASE_URL/APP_ENV unless given.
 */
export function runCli(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; script?: string } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: undefined, APP_ENV: undefined, PARTGOV_LOCK_TIMEOUT_MS: undefined, PARTGOV_STATEMENT_TIMEOUT_MS: undefined };
  for (const [k, v] of Object.entries(options.env ?? {})) env[k] = v;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.script ?? cliPath, ...args], { cwd: options.cwd ?? repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        json: <T>() => {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\nstderr:\n${stderr}`);
          }
        },
      }),
    );
  });
}
