import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { runRestore } from '../../src/purge/run-restore.js';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createAppRole } from '../helpers/app-role.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
// 62 bytes, mixed case, a space and non-ASCII: every derived name (partitions, constraints, logs) must be shortened, not truncated.
const name = 'Überlange Tenant Events mit einem sehr langen Namen für P';
const schema = 'Odd "Schema"';

beforeAll(async () => {
  t = await createTestDatabase('oddtables');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  await sql`create schema ${sql.id(schema)}`.execute(t.db);
  const table = sql.id(schema, name);
  // The partition key is the integer tenant itself; ids are uuids; scopes are text with NULL bodies.
  await sql`create table ${table} (id uuid not null default gen_random_uuid(), "Tenant No" integer not null, "Scope Name" text not null, body text, at timestamptz not null default now(), primary key ("Tenant No", id)) partition by list ("Tenant No")`.execute(t.db);
  await sql`create table ${sql.id(schema, 'odd_default')} partition of ${table} default partition by hash ("Tenant No")`.execute(t.db);
  for (let r = 0; r < 4; r++) await sql`create table ${sql.id(schema, `odd_default_p${r}`)} partition of ${sql.id(schema, 'odd_default')} for values with (modulus 4, remainder ${sql.lit(r)})`.execute(t.db);
  await sql`insert into ${table} ("Tenant No", "Scope Name", body) select g % 9, 'all', case when g % 3 = 0 then null else 'b' || g end from generate_series(1, 900) g`.execute(t.db);
});
afterAll(async () => t.drop());

describe('purge and isolate on an odd table: long non-ASCII name, quotes in the schema, integer partition key, uuid ids', () => {
  it('isolates tenant 7 online; its partition holds every scope of tenant 7, so a purge of 7/all deletes only that scope\'s rows (partition mode refuses: a TRUNCATE took 7/other too), with an archive restored exactly', async () => {
    const config = parseConfig({ tables: [{ schema, name, layout: { type: 'isolatable', key: 'Tenant No', partitions: 4 }, tenant_column: 'Tenant No', scope_column: 'Scope Name' }] });
    const before = await sql<{ n: number; d: string }>`select count(*)::int as n, md5(string_agg(t::text, '|' order by id)) as d from ${sql.id(schema, name)} t where "Tenant No" = 7`.execute(t.db);
    const iso = await runIsolate(stageFor(t, config, { settings }), { tenantId: '7', scope: 'all', confirm: '7/all' });
    expect(iso.tables[0]).toMatchObject({ action: 'moved', rows_moved: 100 });
    expect(iso.notes).toEqual([`${schema}.${name}: the partition is for Tenant No = "7", which other scopes share, so it holds them too; purge of one scope deletes only its rows there (partition mode refuses, --mode auto)`]);
    expect(Buffer.byteLength(iso.tables[0]!.partition.split('.').at(-1)!, 'utf8')).toBeLessThanOrEqual(63);
    // Another scope of tenant 7 arrives in the tenant's partition.
    await sql`insert into ${sql.id(schema, name)} ("Tenant No", "Scope Name", body) values (7, 'other', 'keep me')`.execute(t.db);
    const refused = await runPurge(stageFor(t, config, { settings }), { tenantId: '7', scope: 'all', confirm: '7/all' }).catch((e: unknown) => e);
    expect((refused as { exitCode?: number }).exitCode).toBe(3);
    expect((refused as Error).message).toMatch(/\[purge-needs-delete\][\s\S]*its partition for Tenant No = "7" holds every scope of tenant "7", so a TRUNCATE would take other scopes' rows/);
    expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, name)} where "Tenant No" = 7`.execute(t.db)).rows[0]!.n).toBe(101);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-odd-'));
    const purged = await runPurge(stageFor(t, config, { settings }), { tenantId: '7', scope: 'all', confirm: '7/all', archive: dir, mode: 'auto' });
    expect(purged.tables[0]).toMatchObject({ strategy: 'pruned_delete', rows: 100, rows_exact: true });
    const left = await sql<{ scope: string; body: string }>`select "Scope Name" as scope, body from ${sql.id(schema, name)} where "Tenant No" = 7`.execute(t.db);
    expect(left.rows).toEqual([{ scope: 'other', body: 'keep me' }]);
    await sql`delete from ${sql.id(schema, name)} where "Tenant No" = 7 and "Scope Name" = 'other'`.execute(t.db);
    const restored = await runRestore(stageFor(t, config, { settings }), { archive: purged.archive!.dir, confirm: '7/all' });
    expect(restored.tables[0]!.checksum_matches).toBe(true);
    const after = await sql<{ n: number; d: string }>`select count(*)::int as n, md5(string_agg(t::text, '|' order by id)) as d from ${sql.id(schema, name)} t where "Tenant No" = 7`.execute(t.db);
    expect(after.rows[0]).toEqual(before.rows[0]);
    // A tenant the integer column cannot hold is bad input, not a crash.
    const bad = await runPurge(stageFor(t, config, { settings }), { tenantId: 'seven', scope: 'all', confirm: 'seven/all', mode: 'auto' }).catch((e: unknown) => e);
    expect((bad as { exitCode?: number }).exitCode).toBe(2);
  });

  it('isolates a scope whose primary key has a column named seq (the name of the move log\'s own counter once)', async () => {
    await sql`create table seq_events (tenant text not null, scope text not null, scope_key text not null, seq int not null, body text, primary key (scope_key, seq)) partition by list (scope_key)`.execute(t.db);
    await sql`create table seq_events_default partition of seq_events default partition by hash (scope_key)`.execute(t.db);
    for (let r = 0; r < 2; r++) await sql`create table ${sql.id(`seq_events_p${r}`)} partition of seq_events_default for values with (modulus 2, remainder ${sql.lit(r)})`.execute(t.db);
    await sql`insert into seq_events select 't' || (g % 3), 's', 't' || (g % 3) || ':s', g, 'b' || g from generate_series(1, 300) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'seq_events', layout: { type: 'isolatable', key: 'scope_key', partitions: 2 }, tenant_column: 'tenant', scope_column: 'scope' }] });
    const iso = await runIsolate(stageFor(t, config, { settings }), { tenantId: 't1', scope: 's', confirm: 't1/s' });
    expect(iso.tables[0]).toMatchObject({ action: 'moved', rows_moved: 100 });
    const where = await sql<{ leaf: string; n: number }>`select tableoid::regclass::text as leaf, count(*)::int as n from seq_events where scope_key = 't1:s' group by 1`.execute(t.db);
    expect(where.rows).toEqual([{ leaf: iso.tables[0]!.partition.split('.').at(-1), n: 100 }]);
  });
});

describe('a table whose scope key alone names tenant and scope (no tenant or scope column)', () => {
  const ledger = { schema: 'Ledger Ops', name: 'Entries' };
  const table = sql.id(ledger.schema, ledger.name);
  const config = parseConfig({ tables: [{ schema: ledger.schema, name: ledger.name, layout: { type: 'isolatable', key: 'Scope Key', partitions: 2 } }] });
  const digest = (where: string) => sql<{ n: number; d: string | null }>`select count(*)::int as n, md5(string_agg(t::text, '|' order by "Entry Id")) as d from ${table} t where "Scope Key" = ${where}`.execute(t.db).then((r) => r.rows[0]!);

  beforeAll(async () => {
    await sql`create schema ${sql.id(ledger.schema)}`.execute(t.db);
    await sql`create table ${table} ("Entry Id" uuid not null default gen_random_uuid(), "Scope Key" text not null, "Amount" numeric(12,2), primary key ("Scope Key", "Entry Id")) partition by list ("Scope Key")`.execute(t.db);
    await sql`create table ${sql.id(ledger.schema, 'entries_default')} partition of ${table} default partition by hash ("Scope Key")`.execute(t.db);
    for (let r = 0; r < 2; r++) await sql`create table ${sql.id(ledger.schema, `entries_p${r}`)} partition of ${sql.id(ledger.schema, 'entries_default')} for values with (modulus 2, remainder ${sql.lit(r)})`.execute(t.db);
    // 'acme:pay' and a look-alike another tenant could own: 'acme:pay:x' (tenant "acme:pay", scope "x", or tenant "acme", scope "pay:x").
    await sql`insert into ${table} ("Scope Key", "Amount") select (array['acme:pay', 'acme:pay:x', 'zeta:ops'])[1 + g % 3], case when g % 4 = 0 then null else g end from generate_series(1, 600) g`.execute(t.db);
  });

  it('isolates, purges with an archive and restores acme/pay by its key alone; other scopes untouched', async () => {
    const others = [await digest('acme:pay:x'), await digest('zeta:ops')];
    const before = await digest('acme:pay');
    const iso = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'acme', scope: 'pay', confirm: 'acme/pay' });
    expect(iso.tables[0]).toMatchObject({ action: 'moved', rows_moved: 200 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-keyonly-'));
    const purged = await runPurge(stageFor(t, config, { settings }), { tenantId: 'acme', scope: 'pay', confirm: 'acme/pay', archive: dir });
    expect(purged.tables[0]).toMatchObject({ strategy: 'truncate_partition', rows: 200 });
    expect((await digest('acme:pay')).n).toBe(0);
    expect([await digest('acme:pay:x'), await digest('zeta:ops')]).toEqual(others);
    const restored = await runRestore(stageFor(t, config, { settings }), { archive: purged.archive!.dir, confirm: 'acme/pay' });
    expect(restored.tables[0]!.checksum_matches).toBe(true);
    expect(await digest('acme:pay')).toEqual(before);
  });

  it('refuses, changing nothing, a tenant or scope holding the key\'s separator (it could spell another tenant\'s key) and a format that cannot be split', async () => {
    const before = await digest('acme:pay:x');
    for (const [tenantId, scope] of [['acme', 'pay:x'], ['acme:pay', 'x']] as const) {
      const err = await runPurge(stageFor(t, config, { settings }), { tenantId, scope, confirm: `${tenantId}/${scope}`, mode: 'auto' }).catch((e: unknown) => e);
      expect((err as { exitCode?: number }).exitCode).toBe(2);
      expect((err as Error).message).toMatch(/contains ":", which Ledger Ops\.Entries uses between tenant and scope in Scope Key/);
      expect((err as { fix?: string }).fix).toMatch(/set tables\[\]\.tenant_column and tables\[\]\.scope_column for Entries/);
    }
    const glued = parseConfig({ purge: { scope_key_format: '{tenant}{scope}' }, tables: [{ schema: ledger.schema, name: ledger.name, layout: { type: 'isolatable', key: 'Scope Key', partitions: 2 } }] });
    const err = await runPurge(stageFor(t, glued, { settings }), { tenantId: 'zeta', scope: 'ops', confirm: 'zeta/ops', mode: 'auto' }).catch((e: unknown) => e);
    expect((err as { exitCode?: number }).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/does not hold \{tenant\} and \{scope\} apart/);
    expect(await digest('acme:pay:x')).toEqual(before);
  });

  it('a write to the scope between its archive and the purge\'s lock: refused, nothing purged, and the archive of a purge that did not happen removed', async () => {
    const app = await createAppRole(t, [ledger]);
    const writer = app.open(1);
    try {
      const before = await digest('zeta:ops');
      await runIsolate(stageFor(t, config, { settings }), { tenantId: 'zeta', scope: 'ops', confirm: 'zeta/ops' });
      const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-changed-'));
      // The application's insert is in flight when the archive's snapshot is taken and commits once the
      // archive is written: the purge's exclusive lock waits for it, then finds one row more.
      let committed: Promise<unknown> | undefined;
      const err = await writer.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        await sql`insert into ${table} ("Scope Key", "Amount") values ('zeta:ops', 1)`.execute(conn);
        const log = (m: string) => { if (m.startsWith('archived ')) committed = sql`commit`.execute(conn); };
        const e = await runPurge(stageFor(t, config, { settings, log }), { tenantId: 'zeta', scope: 'ops', confirm: 'zeta/ops', archive: dir }).catch((x: unknown) => x);
        await committed;
        return e;
      });
      expect(committed).toBeDefined();
      expect((err as { exitCode?: number }).exitCode).toBe(3);
      expect((err as Error).message).toMatch(/\[purge-scope-changed\].*\(200 → 201 rows\)/);
      expect((await digest('zeta:ops')).n).toBe(before.n + 1);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await writer.close();
      await app.drop();
    }
  });
});
