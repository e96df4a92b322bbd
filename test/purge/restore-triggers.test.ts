import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { SafetyRefusedError } from '../../src/errors.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { runRestore } from '../../src/purge/run-restore.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('restoretriggers');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  await sql`create table "Parents" (id int primary key)`.execute(t.db);
  await sql`insert into "Parents" select g from generate_series(1, 10) g`.execute(t.db);
  await sql`create table audit_log (id bigserial primary key, what text)`.execute(t.db);
  await sql`create table "Items" (id bigint not null, tenant text not null, scope text not null, scope_key text not null, parent_id int references "Parents" (id),
    "Updated At" timestamptz not null default '2024-01-01', primary key (scope_key, id)) partition by hash (scope_key)`.execute(t.db);
  for (let r = 0; r < 2; r++) await sql`create table ${sql.id(`Items_p${r}`)} partition of "Items" for values with (modulus 2, remainder ${sql.lit(r)})`.execute(t.db);
  await sql`insert into "Items" select g, 'acme', case when g % 2 = 0 then 'main' else 'ops' end, case when g % 2 = 0 then 'acme:main' else 'acme:ops' end, case when g % 3 = 0 then null else 1 + g % 10 end from generate_series(1, 400) g`.execute(t.db);
  // The application's triggers: one rewrites each row it inserts, one records each insert.
  await sql`create function touch() returns trigger language plpgsql as $$ begin new."Updated At" := clock_timestamp(); return new; end $$`.execute(t.db);
  await sql`create function audit() returns trigger language plpgsql as $$ begin insert into audit_log (what) values ('insert ' || new.id); return null; end $$`.execute(t.db);
  await sql`create trigger "Items touch" before insert or update on "Items" for each row execute function touch()`.execute(t.db);
  await sql`create trigger "Items audit" after insert on "Items" for each row execute function audit()`.execute(t.db);
});
afterAll(async () => t.drop());

const config = () => parseConfig({ tables: [{ name: 'Items', layout: { type: 'hash', key: 'scope_key', partitions: 2 }, tenant_column: 'tenant', scope_column: 'scope', scope_key_column: 'scope_key' }] });
const digest = async () => (await sql<{ d: string }>`select count(*) || ':' || md5(string_agg(i::text, '|' order by id)) as d from "Items" i where scope = 'main'`.execute(t.db)).rows[0]!.d;
const audits = async () => (await sql<{ n: number }>`select count(*)::int as n from audit_log`.execute(t.db)).rows[0]!.n;

describe('restore into a table with triggers and foreign keys', () => {
  it("loads the archived rows exactly, without the application's triggers; refuses rows whose referenced row is gone", async () => {
    const before = await digest();
    const auditBefore = await audits();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'partgov-restore-'));
    const purged = await runPurge(stageFor(t, config(), { settings }), { tenantId: 'acme', scope: 'main', confirm: 'acme/main', mode: 'auto', archive: dir });
    expect(purged.tables[0]!.rows).toBe(200);
    const restored = await runRestore(stageFor(t, config(), { settings }), { archive: purged.archive!.dir, confirm: 'acme/main' });
    expect(restored.tables[0]!.checksum_matches).toBe(true);
    expect(await digest()).toBe(before); // "Updated At" as archived, not the restore's clock
    expect(await audits()).toBe(auditBefore); // no audit row for a row that was only brought back

    // A referenced row deleted since the purge: a replica skips the foreign-key check, so restore makes it itself.
    const again = await runPurge(stageFor(t, config(), { settings }), { tenantId: 'acme', scope: 'main', confirm: 'acme/main', mode: 'auto', archive: await mkdtemp(path.join(os.tmpdir(), 'partgov-restore-')) });
    await sql`delete from "Parents" where id = 3`.execute(t.db); // referenced only by rows of acme/main, now purged
    const refused = await runRestore(stageFor(t, config(), { settings }), { archive: again.archive!.dir, confirm: 'acme/main' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SafetyRefusedError);
    expect((refused as Error).message).toMatch(/\[restore-missing-references\] public\.Items: \d+ restored row\(s\) break foreign key Items_parent_id_fkey: the public\.Parents row\(s\) they reference are gone since the purge/);
    expect((await sql<{ n: number }>`select count(*)::int as n from "Items" where scope = 'main'`.execute(t.db)).rows[0]!.n).toBe(0); // nothing restored
    await sql`insert into "Parents" values (3)`.execute(t.db);
    expect((await runRestore(stageFor(t, config(), { settings }), { archive: again.archive!.dir, confirm: 'acme/main' })).tables[0]!.checksum_matches).toBe(true);
    expect(await digest()).toBe(before);
  });
});
