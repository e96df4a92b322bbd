import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { DemoResult } from '../../src/demo/run-demo.js';
import { cliPath, runCli } from '../helpers/cli.js';

/** Runs `partgov --json demo … --keep`: while the server is kept, `whileKept` gets its URL; then Ctrl-C. */
function demoKept(args: string[], cwd: string, whileKept: (url: string, urlFile: string, stderr: string) => Promise<void>): Promise<{ code: number | null; stdout: string; stderr: string; kept: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '--json', 'demo', ...args, '--keep'], { cwd, env: { ...process.env, DATABASE_URL: undefined, APP_ENV: undefined } });
    let stdout = '';
    let stderr = '';
    let kept = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /kept running at \S+ \(the URL with its password: cat (\S+)\)/.exec(stderr);
      if (m && !kept) {
        kept = true;
        readFile(m[1]!, 'utf8')
          .then((url) => whileKept(url.trim(), m[1]!, stderr))
          .catch(reject)
          .finally(() => child.kill('SIGINT'));
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, kept }));
  });
}

describe('partgov demo (what `npm run demo` runs)', () => {
  it('runs the whole pipeline on its own embedded server while an application writes, and every step passes', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'partgov-demo-'));
    let rowsSeen = -1;
    let urlFile = '';
    const r = await demoKept(['--rows', '3000'], cwd, async (url, file, stderr) => {
      urlFile = file;
      expect(stderr).not.toContain(new URL(url).password);
      // --keep: the server answers while kept, with the demo's tables cut over.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        rowsSeen = Number((await client.query<{ n: string }>('select count(*) as n from memory_nodes')).rows[0]!.n);
      } finally {
        await client.end();
      }
    });
    expect(r.kept, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    expect(rowsSeen).toBeGreaterThan(0);
    expect(existsSync(urlFile)).toBe(false);
    const demo = JSON.parse(r.stdout) as DemoResult;
    expect(demo.ok).toBe(true);
    const steps = demo.steps.map((s) => s.step);
    for (const expected of [/^migrate up \(partgov state schema\)/, /^preflight/, /^plan/, /^sync enable/, /^backfill memory_nodes \(while the app writes\)/, /^backfill memory_edges \(--jobs 2\)/, /^verify/, /^shadow-read/, /^cutover memory_nodes \(while the app writes\)/, /^rollback memory_nodes/, /^cutover memory_nodes again/, /^cutover memory_outbox/, /^isolate /, /^verify memory_nodes after cutover/, /^purge perf\/perf --archive/, /^restore perf\/perf/, /^maintain/, /^gate/, /^status/]) {
      expect(steps.some((s) => expected.test(s)), `${expected} in ${steps.join(' | ')}`).toBe(true);
    }
    expect(demo.steps.filter((s) => !s.ok)).toEqual([]);
    const verify = demo.steps.find((s) => s.step.startsWith('verify'))!;
    // Every table equal after the copy, although the application wrote during it.
    expect(verify.detail).toMatch(/memory_nodes \d+ rows 0 differing, memory_edges \d+ rows 0 differing, memory_commits \d+ rows 0 differing, memory_outbox \d+ rows 0 differing; 0 failed/);
    const archive = demo.steps.find((s) => s.step.startsWith('verify memory_nodes after cutover'))!;
    // The archive equals the cut-over table, although the application wrote through copy, cutover and rollback.
    expect(archive.detail).toMatch(/\d+ rows in the archive, 0 differing, after [1-9]\d* inserts, [1-9]\d* updates, [1-9]\d* deletes/);
    expect(demo.steps.find((s) => s.step.startsWith('status'))!.detail).toMatch(/memory_nodes cut over/);
    // Partition-first: the perf scope left every table by TRUNCATE, and came back exact.
    expect(demo.steps.find((s) => s.step.startsWith('purge'))!.detail).toMatch(/tables needing a DELETE: 0/);
    expect(demo.steps.find((s) => s.step.startsWith('restore'))!.detail).toMatch(/checksums equal to the archive/);
    // The gate's bundle outlives the demo and passes its own check.
    expect(demo.evidence).toMatch(/summary\.json$/);
    const check = await runCli(['gate', '--check-evidence', path.dirname(demo.evidence!)], { cwd });
    expect(check.code, check.stdout).toBe(0);
  });
});
