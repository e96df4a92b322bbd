import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { SafetyRefusedError } from '../../src/errors.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { runRestore } from '../../src/purge/run-restore.js';
import { createAppRole } from '../helpers/app-role.js';
import { startAppWriter } from '../helpers/app-writer.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { allDigests, createScopedTables, insertScopeRows, schema, scopeDigests } from './scope-fixture.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
let dir: string;
let configFile: string;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const target = (tenantId: string, scope: string) => ({ tenantId, scope, confirm: `${tenantId}/${scope}` });
const only = (...names: string[]) => config.tables.filter((x) => names.includes(x.name));

beforeAll(async () => {
  t = await createTestDatabase('purge');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  const input = await createScopedTables(t.db);
  config = parseConfig(input);
  dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-purge-'));
  configFile = path.join(dir, 'partgov.config.json');
  await writeFile(configFile, JSON.stringify(input));
});
afterAll(async () => t.drop());

describe('purge plans from the live partition tree', () => {
  it('dry run: truncate for dedicated partitions, a DELETE pruned to one leaf for hash, a DELETE for range; nothing changes', async () => {
    const before = await allDigests(t.db);
    const audits = (await sql<{ n: number }>`select count(*)::int as n from partgov.audit_log`.execute(t.db)).rows[0]!.n;
    const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), dryRun: true, mode: 'auto' });
    expect(r.dry_run).toBe(true);
    const by = Object.fromEntries(r.tables.map((x) => [x.table, x]));
    expect(by['Tenant Data.Notes']).toMatchObject({ strategy: 'truncate_partition', partitions: ['Tenant Data.Notes_iso_acme_perf'] });
    expect(by['Tenant Data.Edges']).toMatchObject({ strategy: 'pruned_delete', rows: 400, rows_exact: true });
    expect(by['Tenant Data.Edges']!.partitions).toHaveLength(1);
    expect(by['Tenant Data.Outbox']).toMatchObject({ strategy: 'delete', rows: 400 });
    expect(by['Tenant Data.Outbox']!.partitions).toHaveLength(3);
    expect(r.purge_delete_strategy_tables_total).toBe(2);
    expect(r.script).toContain('truncate "Tenant Data"."Notes_iso_acme_perf"');
    // The printed DELETE is the one that runs: through the root (its triggers fire), held to the one leaf by tableoid (ctids repeat across leaves).
    const edgesLeaf = by['Tenant Data.Edges']!.partitions[0]!.split('.')[1]!;
    const edgesOid = (await sql<{ oid: string }>`select format('%I.%I', ${schema}::text, ${edgesLeaf}::text)::regclass::oid::text as oid`.execute(t.db)).rows[0]!.oid;
    expect(r.script).toContain(`delete from "Tenant Data"."Edges" where`);
    expect(r.script).toContain(`and tableoid = '${edgesOid}'::oid`);
    expect(await allDigests(t.db)).toEqual(before);
    expect((await sql<{ n: number }>`select count(*)::int as n from partgov.audit_log`.execute(t.db)).rows[0]!.n).toBe(audits);
  });

  it('partition mode refuses, naming every table that would need a DELETE, and changes nothing', async () => {
    const before = await allDigests(t.db);
    const err = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), mode: 'partition' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetyRefusedError);
    expect((err as SafetyRefusedError).ruleId).toBe('purge-needs-delete');
    expect((err as Error).message).toContain('Tenant Data.Edges');
    expect((err as Error).message).toContain('Tenant Data.Outbox');
    expect((err as Error).message).not.toContain('Tenant Data.Notes:');
    // isolate would refuse a hash or range table: the fix does not send the DBA there.
    expect((err as SafetyRefusedError).fix).toMatch(/^isolate cannot help Tenant Data\.Edges \(hash\), Tenant Data\.Outbox \(range\): .*--mode auto/);
    expect((err as SafetyRefusedError).fix).not.toContain('partgov isolate');
    expect(await allDigests(t.db)).toEqual(before);
  });
});

describe('purge while the application writes other scopes, as a non-owner role', () => {
  it('partition mode truncates the dedicated partition: the scope has 0 rows, every other scope is identical, no write failed', async () => {
    const app = await createAppRole(t, config.tables.map((x) => ({ schema, name: x.name })));
    const pool = app.open(2);
    const writer = startAppWriter(async (i) => {
      await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key", "Body") values ('initech', 'live', 'initech:live', ${`w${i}`}::text)`.execute(pool.db);
      await sql`update ${sql.id(schema, 'Notes')} set "Body" = "Body" || '+' where "Scope Key" = 'initech:live' and id = (select max(id) from ${sql.id(schema, 'Notes')} where "Scope Key" = 'initech:live')`.execute(pool.db);
    });
    try {
      while (writer.rounds < 20) await new Promise((r) => setTimeout(r, 10));
      const before = await scopeDigests(t.db, 'Notes');
      const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: only('Notes').map((x) => x.name) });
      const wroteDuring = writer.rounds;
      await writer.stop();
      expect(r.tables[0]).toMatchObject({ strategy: 'truncate_partition' });
      expect(r.purge_delete_strategy_tables_total).toBe(0);
      expect(writer.failures).toEqual([]);
      expect(wroteDuring).toBeGreaterThan(20);
      const after = await scopeDigests(t.db, 'Notes');
      expect(after['acme:perf']).toBeUndefined();
      for (const k of ['acme:main', 'globex:perf', 'initech:ops']) expect(after[k]).toBe(before[k]);
      const audit = await sql<{ command: string; tenant_id: string; scope: string; outcome: string; details: { tables: { strategy: string }[] } }>`
        select command, tenant_id, scope, outcome, details from partgov.audit_log where id = ${r.audit_id}::bigint`.execute(t.db);
      expect(audit.rows[0]).toMatchObject({ command: 'purge', tenant_id: 'acme', scope: 'perf', outcome: 'succeeded' });
      expect(audit.rows[0]!.details.tables[0]!.strategy).toBe('truncate_partition');
    } finally {
      await writer.stop();
      await app.drop();
      await insertScopeRows(t.db, 'Notes', 'acme', 'perf', 400);
    }
  });

  it('auto mode deletes only inside the scope’s leaf, and only the scope’s rows', async () => {
    const before = await allDigests(t.db);
    const leafOfScope = (await sql<{ leaf: string }>`select c.relname as leaf from ${sql.id(schema, 'Edges')} e join pg_class c on c.oid = e.tableoid where "Scope Key" = 'globex:perf' limit 1`.execute(t.db)).rows[0]!.leaf;
    const r = await runPurge(stageFor(t, config, { settings }), { ...target('globex', 'perf'), mode: 'auto', table: only('Edges').map((x) => x.name) });
    expect(r.tables[0]).toMatchObject({ strategy: 'pruned_delete', rows_deleted: 250 });
    expect(r.tables[0]!.partitions).toEqual([`Tenant Data.${leafOfScope}`]);
    expect(r.purge_delete_strategy_tables_total).toBe(1);
    const after = await allDigests(t.db);
    expect(after.Edges!['globex:perf']).toBeUndefined();
    expect({ ...after.Edges, 'globex:perf': before.Edges!['globex:perf'] }).toEqual(before.Edges);
    expect(after.Notes).toEqual(before.Notes);
    await insertScopeRows(t.db, 'Edges', 'globex', 'perf', 250);
  });
});

describe('foreign keys between partitioned tables', () => {
  it('a partition a foreign key references is not truncated: partition mode names the key, auto deletes children first', async () => {
    const parents = sql.id(schema, 'Parents');
    const children = sql.id(schema, 'Children');
    const cols = sql`id bigint generated always as identity, "Tenant" text not null, "Scope" text not null, "Scope Key" text not null`;
    await sql`create table ${parents} (${cols}, primary key ("Scope Key", id)) partition by list ("Scope Key")`.execute(t.db);
    await sql`create table ${children} (${cols}, parent_id bigint not null, primary key ("Scope Key", id), foreign key ("Scope Key", parent_id) references ${parents}) partition by list ("Scope Key")`.execute(t.db);
    for (const name of ['Parents', 'Children']) {
      await sql`create table ${sql.id(schema, `${name}_fk`)} partition of ${sql.id(schema, name)} for values in ('acme:fk')`.execute(t.db);
      await sql`create table ${sql.id(schema, `${name}_rest`)} partition of ${sql.id(schema, name)} default`.execute(t.db);
    }
    for (const key of ['acme:fk', 'acme:other']) {
      const [tenant, scope] = key.split(':');
      await sql`insert into ${parents} ("Tenant", "Scope", "Scope Key") select ${tenant}::text, ${scope}::text, ${key}::text from generate_series(1, 50)`.execute(t.db);
      await sql`insert into ${children} ("Tenant", "Scope", "Scope Key", parent_id) select "Tenant", "Scope", "Scope Key", id from ${parents} where "Scope Key" = ${key}`.execute(t.db);
    }
    const table = (name: string) => ({ schema, name, layout: { type: 'isolatable' as const, key: 'Scope Key', isolated: ['acme:fk'], partitions: 4 }, tenant_column: 'Tenant', scope_column: 'Scope' });
    const fkConfig = parseConfig({ tables: [table('Parents'), table('Children')] });
    const refused = await runPurge(stageFor(t, fkConfig, { settings }), { ...target('acme', 'fk'), mode: 'partition' }).catch((e: unknown) => e);
    expect((refused as SafetyRefusedError).ruleId).toBe('purge-needs-delete');
    expect((refused as Error).message).toContain('foreign key');
    const r = await runPurge(stageFor(t, fkConfig, { settings }), { ...target('acme', 'fk'), mode: 'auto' });
    expect(r.tables.map((x) => [x.table, x.strategy])).toEqual([['Tenant Data.Children', 'truncate_partition'], ['Tenant Data.Parents', 'pruned_delete']]);
    const left = await sql<{ k: string; n: number }>`select "Scope Key" as k, count(*)::int as n from ${parents} group by 1 union all select 'c:' || "Scope Key", count(*)::int from ${children} group by 1 order by 1`.execute(t.db);
    expect(left.rows).toEqual([{ k: 'acme:other', n: 50 }, { k: 'c:acme:other', n: 50 }]);
  });
});

describe('archive and restore', () => {
  it('purge --archive then restore gives identical rows; a one-byte change in the archive is refused', async () => {
    const before = await allDigests(t.db);
    const archiveRoot = path.join(dir, 'archives');
    // What a purge killed while it archived leaves: a .partial directory, which the next purge of the scope removes.
    const stale = path.join(archiveRoot, 'acme__main__20260101T000000Z.partial');
    const otherScope = path.join(archiveRoot, 'acme__other__20260101T000000Z.partial');
    await mkdir(stale, { recursive: true });
    await mkdir(otherScope, { recursive: true });
    await writeFile(path.join(stale, '01-x.copy.gz'), 'half');
    const events: string[] = [];
    const r = await runPurge(stageFor(t, config, { settings, log: (l) => events.push(l) }), { ...target('acme', 'main'), mode: 'auto', archive: archiveRoot });
    expect(r.archive).toMatchObject({ tables: 3, rows: 900 });
    expect((await readdir(archiveRoot)).sort()).toEqual([path.basename(r.archive!.dir), path.basename(otherScope)].sort());
    expect(events.join('\n')).toContain(`removed ${stale}, the unfinished archive of a run that died`);
    expect(await readdir(r.archive!.dir)).toContain('MANIFEST.json');
    const gone = await allDigests(t.db);
    for (const name of ['Notes', 'Edges', 'Outbox'] as const) expect(gone[name]!['acme:main']).toBeUndefined();

    // A copy with one byte changed is refused before anything loads.
    const tampered = path.join(dir, 'tampered');
    await sql`select 1`.execute(t.db);
    const files = await readdir(r.archive!.dir);
    await (await import('node:fs/promises')).cp(r.archive!.dir, tampered, { recursive: true });
    const victim = path.join(tampered, files.find((f) => f.endsWith('.gz'))!);
    const bytes = await readFile(victim);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 1;
    await writeFile(victim, bytes);
    const refused = await runRestore(stageFor(t, config, { settings }), { archive: tampered, confirm: 'acme/main' }).catch((e: unknown) => e);
    expect((refused as SafetyRefusedError).ruleId).toBe('restore-archive-altered');
    expect(await allDigests(t.db)).toEqual(gone);

    const wrongConfirm = await runRestore(stageFor(t, config, { settings }), { archive: r.archive!.dir, confirm: 'acme/Main' }).catch((e: unknown) => e);
    expect((wrongConfirm as Error).message).toContain('--confirm');

    const restored = await runRestore(stageFor(t, config, { settings }), { archive: r.archive!.dir, confirm: 'acme/main' });
    expect(restored.tables.every((x) => x.checksum_matches)).toBe(true);
    expect(await allDigests(t.db)).toEqual(before);
    // A second restore would duplicate: refused.
    const again = await runRestore(stageFor(t, config, { settings }), { archive: r.archive!.dir, confirm: 'acme/main' }).catch((e: unknown) => e);
    expect((again as SafetyRefusedError).ruleId).toBe('restore-scope-not-empty');
  });
  it('with --archive a DELETE removes exactly the archived rows: a row the application writes to the scope, or changes, after the archive stays, is named, and fails the purge; the next purge archives and removes it', async () => {
    for (const name of ['Notes', 'Edges', 'Outbox']) await insertScopeRows(t.db, name, 'hooli', 'live', 60, name === 'Outbox' ? "timestamptz '2026-10-20'" : 'now()');
    const app = await createAppRole(t, config.tables.map((x) => ({ schema, name: x.name })));
    const archiveRoot = path.join(dir, 'archives-live');
    try {
      const appDb = app.open(1).db;
      // Between the archive's snapshot and the DELETE, as the application (not the owner): one new row, one changed row.
      const log = async (m: string) => {
        if (!m.startsWith('archived ')) return;
        await sql`insert into ${sql.id(schema, 'Edges')} ("Tenant", "Scope", "Scope Key", "Body") values ('hooli', 'live', 'hooli:live', 'written after the archive')`.execute(appDb);
        await sql`update ${sql.id(schema, 'Outbox')} set "Body" = 'changed after the archive' where id = (select min(id) from ${sql.id(schema, 'Outbox')} where "Scope Key" = 'hooli:live')`.execute(appDb);
      };
      // Batches smaller than the scope: the walk over the recorded row versions goes on from each batch's last ctid.
      const batched = { ...config, purge: { ...config.purge, batch_rows: 16 } };
      const r = await runPurge(stageFor(t, batched, { settings, log }), { ...target('hooli', 'live'), mode: 'auto', archive: archiveRoot });
      expect(r.archive).toMatchObject({ tables: 3, rows: 180 });
      const byName = (n: string) => r.tables.find((x) => x.table === `${schema}.${n}`)!;
      expect([byName('Notes'), byName('Edges'), byName('Outbox')].map((x) => [x.rows_deleted, x.rows_left_unarchived])).toEqual([[60, 0], [60, 1], [59, 1]]);
      expect(r.ok).toBe(false);
      expect(r.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual([`purge:${schema}.Edges`, `purge:${schema}.Outbox`]);
      const left = await sql<{ t: string; body: string }>`select 'Edges' as t, "Body" as body from ${sql.id(schema, 'Edges')} where "Scope Key" = 'hooli:live'
        union all select 'Outbox', "Body" from ${sql.id(schema, 'Outbox')} where "Scope Key" = 'hooli:live'
        union all select 'Notes', "Body" from ${sql.id(schema, 'Notes')} where "Scope Key" = 'hooli:live' order by 1`.execute(t.db);
      expect(left.rows).toEqual([{ t: 'Edges', body: 'written after the archive' }, { t: 'Outbox', body: 'changed after the archive' }]);
      expect(await sql`select * from partgov.purge_archived_row`.execute(t.db).then((x) => x.rows)).toEqual([]);
      // The writes stopped: the next purge archives what was left, and the scope is gone.
      const again = await runPurge(stageFor(t, config, { settings }), { ...target('hooli', 'live'), mode: 'auto', archive: archiveRoot });
      expect(again.ok).toBe(true);
      expect(again.archive).toMatchObject({ rows: 2 });
      expect(again.tables.map((x) => x.rows_left_unarchived)).toEqual([null, 0, 0]);
      expect((await sql<{ n: number }>`select ((select count(*) from ${sql.id(schema, 'Edges')} where "Scope Key" = 'hooli:live') + (select count(*) from ${sql.id(schema, 'Outbox')} where "Scope Key" = 'hooli:live'))::int as n`.execute(t.db)).rows[0]!.n).toBe(0);
      // Both archives back: the first into the empty scope; the second holds a newer version of a row the first holds, so --merge refuses it whole.
      expect(await runRestore(stageFor(t, config, { settings }), { archive: r.archive!.dir, confirm: 'hooli/live' })).toMatchObject({ ok: true, rows: 180 });
      const merged = await runRestore(stageFor(t, config, { settings }), { archive: again.archive!.dir, confirm: 'hooli/live', merge: true }).catch((e: unknown) => e);
      expect((merged as SafetyRefusedError).ruleId).toBe('restore-rows-present');
      expect((merged as Error).message).toMatch(/Outbox: a row of the archive is in the table already/);
      expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, 'Edges')} where "Scope Key" = 'hooli:live'`.execute(t.db)).rows[0]!.n).toBe(60);
      // --replace takes the later archive's version of that row; without --merge it is refused before anything.
      const alone = await runRestore(stageFor(t, config, { settings }), { archive: again.archive!.dir, confirm: 'hooli/live', replace: true }).catch((e: unknown) => e);
      expect((alone as { exitCode?: number }).exitCode).toBe(2);
      const replaced = await runRestore(stageFor(t, config, { settings }), { archive: again.archive!.dir, confirm: 'hooli/live', merge: true, replace: true });
      expect(replaced.ok).toBe(true);
      const of = (n: string) => replaced.tables.find((x) => x.table === `${schema}.${n}`)!;
      expect([of('Edges'), of('Outbox')].map((x) => [x.rows, x.rows_replaced, x.checksum_matches])).toEqual([[1, 0, true], [1, 1, true]]);
      const now = await sql<{ t: string; n: number; changed: number }>`
        select 'Edges' as t, count(*)::int as n, count(*) filter (where "Body" = 'written after the archive')::int as changed from ${sql.id(schema, 'Edges')} where "Scope Key" = 'hooli:live'
        union all select 'Outbox', count(*)::int, count(*) filter (where "Body" = 'changed after the archive')::int from ${sql.id(schema, 'Outbox')} where "Scope Key" = 'hooli:live' order by 1`.execute(t.db);
      expect(now.rows).toEqual([{ t: 'Edges', n: 61, changed: 1 }, { t: 'Outbox', n: 60, changed: 1 }]);
    } finally {
      await app.drop();
    }
  });

  it('restore --merge adds an archive to a scope that has rows (a purge in two rounds), proving what it added; without --merge it is refused', async () => {
    const edges = config.tables.filter((x) => x.name === 'Edges');
    const only = { ...config, tables: edges };
    await insertScopeRows(t.db, 'Edges', 'hooli', 'twice', 10);
    const archiveRoot = path.join(dir, 'archives-twice');
    const log = async (m: string) => {
      if (m.startsWith('archived ')) await sql`insert into ${sql.id(schema, 'Edges')} ("Tenant", "Scope", "Scope Key", "Body") values ('hooli', 'twice', 'hooli:twice', 'late')`.execute(t.db);
    };
    const first = await runPurge(stageFor(t, only, { settings, log }), { ...target('hooli', 'twice'), mode: 'auto', archive: archiveRoot });
    expect(first.tables[0]).toMatchObject({ rows_deleted: 10, rows_left_unarchived: 1 });
    const second = await runPurge(stageFor(t, only, { settings }), { ...target('hooli', 'twice'), mode: 'auto', archive: archiveRoot });
    expect(second.archive).toMatchObject({ rows: 1 });
    expect(await runRestore(stageFor(t, only, { settings }), { archive: first.archive!.dir, confirm: 'hooli/twice' })).toMatchObject({ ok: true, rows: 10 });
    const plain = await runRestore(stageFor(t, only, { settings }), { archive: second.archive!.dir, confirm: 'hooli/twice' }).catch((e: unknown) => e);
    expect((plain as SafetyRefusedError).ruleId).toBe('restore-scope-not-empty');
    expect((plain as SafetyRefusedError).fix).toContain('--merge');
    expect(await runRestore(stageFor(t, only, { settings }), { archive: second.archive!.dir, confirm: 'hooli/twice', merge: true, dryRun: true })).toMatchObject({ dry_run: true, merge: true, rows: 1 });
    const merged = await runRestore(stageFor(t, only, { settings }), { archive: second.archive!.dir, confirm: 'hooli/twice', merge: true });
    expect(merged.tables).toEqual([expect.objectContaining({ rows: 1, checksum_matches: true })]);
    const rows = await sql<{ body: string | null }>`select "Body" as body from ${sql.id(schema, 'Edges')} where "Scope Key" = 'hooli:twice' order by id`.execute(t.db);
    expect(rows.rows).toHaveLength(11);
    expect(rows.rows.at(-1)!.body).toBe('late');
  });

  it('restore --merge into a table without a primary key or unique index is refused before anything loads (it could not tell a row that is there already)', async () => {
    await sql`create table ${sql.id(schema, 'Loose')} ("Tenant" text, "Scope" text, "Scope Key" text, "Body" text)`.execute(t.db);
    await sql`insert into ${sql.id(schema, 'Loose')} select 'hooli', 'loose', 'hooli:loose', 'b' || g from generate_series(1, 5) g`.execute(t.db);
    const loose = parseConfig({ tables: [{ schema, name: 'Loose', layout: { type: 'hash', key: 'Scope Key', partitions: 4 }, tenant_column: 'Tenant', scope_column: 'Scope' }] });
    const purged = await runPurge(stageFor(t, loose, { settings }), { ...target('hooli', 'loose'), mode: 'auto', archive: path.join(dir, 'archives-loose') });
    expect(purged.tables[0]).toMatchObject({ strategy: 'delete', rows_deleted: 5, rows_left_unarchived: 0 });
    const merged = await runRestore(stageFor(t, loose, { settings }), { archive: purged.archive!.dir, confirm: 'hooli/loose', merge: true }).catch((e: unknown) => e);
    expect((merged as SafetyRefusedError).ruleId).toBe('restore-merge-needs-key');
    expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, 'Loose')}`.execute(t.db)).rows[0]!.n).toBe(0);
    expect(await runRestore(stageFor(t, loose, { settings }), { archive: purged.archive!.dir, confirm: 'hooli/loose' })).toMatchObject({ ok: true, rows: 5 });
  });
});

describe('refusals: each exits 2 or 3 and changes nothing', () => {
  it('refuses 19 fat-fingered, hostile or unsafe invocations', async () => {
    const before = await allDigests(t.db);
    const base = ['purge', '--config', configFile, '--database-url', t.url];
    const ok = ['--tenant-id', 'acme', '--scope', 'perf'];
    const inputCases: [string, string[], number][] = [
      ['missing --confirm', [...ok], 2],
      ['missing --tenant-id', ['--scope', 'perf', '--confirm', 'acme/perf'], 2],
      ['confirm differs by case', [...ok, '--confirm', 'ACME/perf'], 2],
      ['confirm with a trailing space', [...ok, '--confirm', 'acme/perf '], 2],
      ['confirm one character off', [...ok, '--confirm', 'acme/perg'], 2],
      ['empty scope', ['--tenant-id', 'acme', '--scope', '', '--confirm', 'acme/'], 2],
      ['% scope', ['--tenant-id', 'acme', '--scope', '%', '--confirm', 'acme/%'], 2],
      ['* scope', ['--tenant-id', 'acme', '--scope', '*', '--confirm', 'acme/*'], 2],
      ['_ scope', ['--tenant-id', 'acme', '--scope', '_', '--confirm', 'acme/_'], 2],
      ['SQL in the tenant', ['--tenant-id', "acme'; drop table \"Tenant Data\".\"Notes\"; --", '--scope', 'perf', '--confirm', "acme'; drop table \"Tenant Data\".\"Notes\"; --/perf", '--mode', 'auto'], 3],
      ['SQL in the scope', ['--tenant-id', 'acme', '--scope', "perf' or '1'='1", '--confirm', "acme/perf' or '1'='1", '--mode', 'auto'], 3],
      ["another tenant's scope", ['--tenant-id', 'globex', '--scope', 'main', '--confirm', 'globex/main', '--mode', 'auto'], 3],
      ['a scope that does not exist', ['--tenant-id', 'acme', '--scope', 'nope', '--confirm', 'acme/nope', '--mode', 'auto'], 3],
      ['a table not in the config', [...ok, '--confirm', 'acme/perf', '--table', 'Nope'], 2],
      ['partition mode where a DELETE is needed', [...ok, '--confirm', 'acme/perf', '--table', 'Edges'], 3],
    ];
    const prod = { APP_ENV: 'prod' };
    const results = await Promise.all(inputCases.map(([, args]) => runCli([...base, ...args])));
    results.forEach((res, i) => expect({ case: inputCases[i]![0], code: res.code }).toEqual({ case: inputCases[i]![0], code: inputCases[i]![2] }));
    expect(results[0]!.stderr).toContain('retype the target: --confirm acme/perf');

    const active = await runCli([...base, ...ok, '--confirm', 'acme/perf', '--table', 'Notes'], { env: prod });
    expect(active.code).toBe(3);
    expect(active.stderr).toContain('prod-purge-active-scope');
    const deleteInProd = await runCli([...base, ...ok, '--confirm', 'acme/perf', '--mode', 'delete'], { env: prod });
    expect(deleteInProd.code).toBe(3);
    expect(deleteInProd.stderr).toContain('prod-purge-delete-mode');

    // A backfill, and another purge, holding the table.
    const holder = await t.pool.connect();
    try {
      for (const [op, rule] of [['backfill', 'purge-table-busy'], ['partitions', 'purge-in-progress']] as const) {
        await holder.query('select pg_advisory_lock(hashtext($1), hashtext($2))', [`partgov:${op}`, 'Tenant Data.Notes']);
        const busy = await runCli([...base, ...ok, '--confirm', 'acme/perf', '--table', 'Notes']);
        await holder.query('select pg_advisory_unlock(hashtext($1), hashtext($2))', [`partgov:${op}`, 'Tenant Data.Notes']);
        expect({ op, code: busy.code }).toEqual({ op, code: 3 });
        expect(busy.stderr).toContain(rule);
      }
    } finally {
      holder.release();
    }
    // A key that another tenant's rows carry is not this tenant's scope.
    await sql`insert into ${sql.id(schema, 'Edges')} ("Tenant", "Scope", "Scope Key") values ('globex', 'ops', 'initech:ops')`.execute(t.db);
    try {
      const stolen = await runCli([...base, '--tenant-id', 'initech', '--scope', 'ops', '--confirm', 'initech/ops', '--mode', 'auto']);
      expect(stolen.code).toBe(3);
      expect(stolen.stderr).toContain('purge-scope-not-owned');
    } finally {
      await sql`delete from ${sql.id(schema, 'Edges')} where "Tenant" = 'globex' and "Scope" = 'ops'`.execute(t.db);
    }
    expect(await allDigests(t.db)).toEqual(before);
  });
});

describe('the purge report', () => {
  it('a table without a row of the scope says "nothing to purge", not a DELETE strategy', async () => {
    await insertScopeRows(t.db, 'Edges', 'solo', 'only', 10);
    try {
      const r = await runCli(['purge', '--config', configFile, '--database-url', t.url, '--tenant-id', 'solo', '--scope', 'only', '--confirm', 'solo/only', '--mode', 'auto', '--dry-run']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('  Tenant Data.Edges: pruned_delete (1 partition(s), 10 row(s))\n');
      expect(r.stdout).toContain('  Tenant Data.Notes: nothing to purge (no row of the scope)\n');
      expect(r.stdout).toContain('  Tenant Data.Outbox: nothing to purge (no row of the scope)\n');
    } finally {
      await sql`delete from ${sql.id(schema, 'Edges')} where "Tenant" = 'solo'`.execute(t.db);
    }
  });
});
