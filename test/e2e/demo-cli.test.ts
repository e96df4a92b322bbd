import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DemoResult } from '../../src/demo/run-demo.js';
import { runCli } from '../helpers/cli.js';

describe('partgov demo (what `npm run demo` runs)', () => {
  it('runs the whole pipeline on its own embedded server while an application writes, and every step passes', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'partgov-demo-'));
    const r = await runCli(['--json', 'demo', '--nodes', '3000'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const demo = r.json<DemoResult>();
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
