import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cliPath } from '../helpers/cli.js';

/** The ```sh blocks of a runbook, in order, with the line each starts on. */
export function shellBlocks(markdown: string): { line: number; text: string }[] {
  const blocks: { line: number; text: string }[] = [];
  let current: { line: number; lines: string[] } | null = null;
  markdown.split('\n').forEach((line, i) => {
    if (current === null && /^```(sh|bash|shell)\s*$/.test(line)) current = { line: i + 2, lines: [] };
    else if (current !== null && /^```\s*$/.test(line)) {
      blocks.push({ line: current.line, text: current.lines.join('\n') });
      current = null;
    } else if (current !== null) current.lines.push(line);
  });
  return blocks;
}

export interface BlockFailure {
  line: number;
  code: number | null;
  output: string;
}

/** A directory with a `partgov` on PATH that runs this checkout's CLI (what `npm i -g` or npx would give an operator). */
export async function partgovShim(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const shim = path.join(dir, 'partgov');
  await writeFile(shim, `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`);
  await chmod(shim, 0o755);
  return dir;
}

/**
 * Runs each block with `bash -e -o pipefail` in `cwd`, in order, stopping at
 * the first that fails: returns it (with its output), or null when all passed.
 * `npx partgov` runs the shim too.
 */
export async function runShellBlocks(markdown: string, o: { cwd: string; env: Record<string, string>; shimDir: string }): Promise<{ ran: number; failure: BlockFailure | null }> {
  const blocks = shellBlocks(markdown);
  for (const [i, block] of blocks.entries()) {
    const script = block.text.replace(/\bnpx partgov\b/g, 'partgov');
    const r = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], {
        cwd: o.cwd,
        env: { ...process.env, APP_ENV: undefined, PARTGOV_LOCK_TIMEOUT_MS: undefined, ...o.env, PATH: `${o.shimDir}:${process.env.PATH ?? ''}` } as NodeJS.ProcessEnv,
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
    if (r.code !== 0) return { ran: i + 1, failure: { line: block.line, code: r.code, output: r.output.slice(-3000) } };
  }
  return { ran: blocks.length, failure: null };
}
