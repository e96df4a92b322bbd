import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import { createMemoryExample } from '../helpers/example-schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { partgovShim, runShellBlocks, shellBlocks } from './run-runbook.js';

/** The runbooks in the order an operator meets them: each continues from where the last one left the database. */
const pipeline = ['preflight-and-migrate', 'plan', 'sync-and-backfill', 'backfill-interrupted', 'verify-and-shadow-read', 'cutover-and-rollback', 'application-errors', 'isolate-and-maintain', 'purge-and-restore', 'gate-and-bench', 'retire'];

let t: TestDatabase;
let cwd: string;
let shimDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase('runbooks');
  await createMemoryExample(t.db);
  await sql`select memory_seed(2000)`.execute(t.db);
  await sql`analyze`.execute(t.db);
  cwd = await mkdtemp(path.join(os.tmpdir(), 'partgov-runbooks-'));
  shimDir = await partgovShim(path.join(cwd, '.bin'));
  await writeFile(path.join(cwd, 'partgov.config.json'), await readFile(path.join(repoRoot, 'examples/memory/partgov.config.json'), 'utf8'));
  // The runbooks' own placeholders: a small scale, a metrics directory the test owns.
  env = { DATABASE_URL: t.url, SCALE: '2000', BIG_SCALE: '3000', METRICS_DIR: cwd, GATEC_BENCH_OPS: '10', GATEC_BENCH_CONCURRENCY: '2' };
});
afterAll(async () => t.drop());

describe('every shell block of every runbook runs, in order, against a real database', () => {
  it('covers every runbook', async () => {
    const { readdir } = await import('node:fs/promises');
    const all = (await readdir(path.join(repoRoot, 'runbooks'))).filter((f) => f.endsWith('.md')).map((f) => f.replace(/\.md$/, ''));
    const runnable = [];
    for (const f of all) if (shellBlocks(await readFile(path.join(repoRoot, 'runbooks', `${f}.md`), 'utf8')).length > 0) runnable.push(f);
    expect(runnable.sort()).toEqual([...pipeline].sort());
  });

  it.each(pipeline)('runbooks/%s.md', async (name) => {
    const r = await runShellBlocks(await readFile(path.join(repoRoot, 'runbooks', `${name}.md`), 'utf8'), { cwd, env, shimDir });
    expect(r.failure, r.failure ? `runbooks/${name}.md: the block at line ${r.failure.line} exited ${r.failure.code}:\n${r.failure.output}` : '').toBeNull();
    expect(r.ran).toBeGreaterThan(0);
  });

  it('a broken command in a scratch copy of a runbook is caught, naming its block', async () => {
    const text = await readFile(path.join(repoRoot, 'runbooks', 'verify-and-shadow-read.md'), 'utf8');
    const broken = text.replace('partgov shadow-read --table memory_nodes', 'partgov shadow-read --tabel memory_nodes');
    // verify runs first in that block and must pass on retired tables too; the broken line after it is what fails.
    expect(broken).not.toBe(text);
    const r = await runShellBlocks(broken, { cwd, env, shimDir });
    expect(r.failure).not.toBeNull();
    expect(r.failure!.code).toBe(2);
    expect(r.failure!.output).toContain("unknown option '--tabel'");
    expect(r.failure!.line).toBe(shellBlocks(broken)[0]!.line);
  });
});
