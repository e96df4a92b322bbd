import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

const fixtureConfig = path.join(repoRoot, 'test/meta/fixtures/failing-suite/vitest.config.ts');
const vitestBin = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');

/** Runs vitest on the fixture suite in its own process, with its own embedded server. */
function runFixtureSuite(expectation: 'pass' | 'fail'): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PARTGOV_FIXTURE_EXPECT: expectation };
  // The bug lived in the embedded server's exit hook: the fixture must start its own.
  delete env.PARTGOV_TEST_DATABASE_URL;
  delete env.DATABASE_URL;
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vitestBin, 'run', '--config', fixtureConfig], { cwd: repoRoot, env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the test runner', () => {
  it('exits non-zero when a test fails, with the embedded server started by the global setup', async () => {
    const red = await runFixtureSuite('fail');
    expect(red.output).toMatch(/1 failed/);
    // The other fixture test reached the server: the setup worked, the non-zero exit is the failure's.
    expect(red.output).toMatch(/1 passed/);
    expect(red.code, red.output).not.toBe(0);
  });
});
