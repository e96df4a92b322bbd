import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createEventsTable, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
let cfg: string;
let evidence: string;

beforeAll(async () => {
  t = await createTestDatabase('vcli');
  const config = await createEventsTable(t.db, 12_000);
  await prepareShadows(t, config);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-vcli-'));
  evidence = path.join(dir, 'evidence');
  cfg = path.join(dir, 'partgov.config.json');
  await writeFile(cfg, JSON.stringify({ tables: config.tables, evidence_dir: evidence }));
});
afterAll(async () => t.drop());

describe('partgov verify (CLI)', () => {
  it('exits 1 with the differing keys before the copy, 0 after sync + backfill; writes verify.json for the gate', async () => {
    const args = ['--config', cfg, '--database-url', t.url];
    const before = await runCli([...args, '--json', 'verify']);
    expect(before.code).toBe(1);
    const doc = before.json<{ ok: boolean; tables: { checks: { name: string; status: string; figures: { differing_rows: number } }[] }[] }>();
    expect(doc.ok).toBe(false);
    expect(doc.tables[0]!.checks[0]).toMatchObject({ name: 'equality', status: 'fail', figures: { differing_rows: 12_000 } });

    expect((await runCli([...args, 'sync', 'enable', '--table', 'Acct Data.Acct Events'])).code).toBe(0);
    const backfill = await runCli([...args, 'backfill', '--table', 'Acct Data.Acct Events']);
    expect(backfill.code, backfill.stderr).toBe(0);
    await sql`update "Acct Data"."Acct Events" set "Note" = 'after backfill' where "ID" < 50`.execute(t.db);
    const after = await runCli([...args, 'verify']);
    expect(after.code, after.stdout).toBe(0);
    expect(after.stdout).toMatch(/ok {3}equality: 12000 rows, identical \(row count and the sum of every row's hash match\)/);
    const written = JSON.parse(await readFile(path.join(evidence, 'verify.json'), 'utf8')) as { command: string; ok: boolean };
    expect(written).toMatchObject({ command: 'verify', ok: true });

    const strict = await runCli([...args, 'verify', '--strict', '--skew-threshold', '1.01']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/FAIL skew/);
  });
});
