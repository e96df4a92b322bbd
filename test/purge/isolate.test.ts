import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { objectNames } from '../../src/db/object-names.js';
import { findTableOid } from '../../src/db/catalog.js';
import { compileDdl } from '../../src/db/compile-ddl.js';
import { createAppRole } from '../helpers/app-role.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { allBut, allDigests, createScopedTables, defaultGuards, schema } from './scope-fixture.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
let config: PartgovConfig;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('isolate');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  config = parseConfig(await createScopedTables(t.db));
});
afterAll(async () => t.drop());

/** Digests without the scope the writer is writing to. */
const withoutWriter = (d: Awaited<ReturnType<typeof allDigests>>) => ({ ...d, Notes: { ...d.Notes, 'globex:perf': null } });

const leafOf = async (key: string) =>
  (await sql<{ leaf: string }>`select c.relname as leaf from ${sql.id(schema, 'Notes')} n join pg_class c on c.oid = n.tableoid where "Scope Key" = ${key} limit 1`.execute(t.db)).rows[0]?.leaf;

/**
 * A table keyed by a uuid ("Org"), LIST-partitioned with one org isolated and a DEFAULT
 * hashed 4 ways, 24 orgs of 100 rows (md5('org<n>'); acme/fleet is org 5), some "Body" NULL,
 * a reference copy for the application's writes to go to as well, and its config.
 */
async function createDevices(fleet: string, scopeColumns: Record<string, string>, extra: Record<string, unknown> = {}) {
  const devices = sql.id(fleet, 'Devices');
  const ref = sql.id(fleet, 'Devices_ref');
  await sql`create schema ${sql.id(fleet)}`.execute(t.db);
  await sql`create table ${devices} ("Org" uuid not null, id bigint generated always as identity, "Tenant" text not null, "Scope" text not null, "Body" text,
    primary key ("Org", id)) partition by list ("Org")`.execute(t.db);
  // A scope isolated already: the DEFAULT's bound says NOT ("Org" = ANY (…)) too, which the CHECK must match as well.
  await sql`create table ${sql.id(fleet, 'Devices_iso_old')} partition of ${devices} for values in ('00000000-0000-0000-0000-000000000001')`.execute(t.db);
  await sql`create table ${sql.id(fleet, 'Devices_default')} partition of ${devices} default partition by hash ("Org")`.execute(t.db);
  for (let r = 0; r < 4; r++) await sql`create table ${sql.id(fleet, `Devices_default_p${r}`)} partition of ${sql.id(fleet, 'Devices_default')} for values with (modulus 4, remainder ${sql.lit(r)})`.execute(t.db);
  await sql`insert into ${devices} ("Org", "Tenant", "Scope", "Body")
    select md5('org' || (g % 24))::uuid, case when g % 24 = 5 then 'acme' else 't' || (g % 24) end, case when g % 24 = 5 then 'fleet' else 's' end, case when g % 5 = 0 then null else 'b' || g end
    from generate_series(1, 2400) g`.execute(t.db);
  await sql`create table ${ref} (like ${devices})`.execute(t.db);
  await sql`insert into ${ref} select * from ${devices}`.execute(t.db);
  const config = parseConfig({
    tables: [{ schema: fleet, name: 'Devices', layout: { type: 'isolatable', key: 'Org', isolated: ['00000000-0000-0000-0000-000000000001'], partitions: 4 }, ...scopeColumns }],
    lock_timeout_ms: 2000,
    statement_timeout_ms: 60000,
    ...extra,
  });
  return { devices, ref, config };
}

/** Rows of a and b that the other lacks (0: equal as multisets). */
const differences = async (a: ReturnType<typeof sql.id>, b: ReturnType<typeof sql.id>) =>
  (await sql<{ n: number }>`select count(*)::int as n from ((select * from ${a} except all select * from ${b}) union all (select * from ${b} except all select * from ${a})) d`.execute(t.db)).rows[0]!.n;

/** The definitions of partgov's CHECK constraints left on the tables of a schema. */
const partgovChecks = async (schemaName: string) =>
  (await sql<{ def: string }>`select pg_get_constraintdef(k.oid) as def from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schemaName} and k.contype = 'c' and k.conname like 'partgov_%'`.execute(t.db)).rows;

describe('isolate a new scope', () => {
  it('creates its partition while the application writes, keeps its guard only where the scope can never fall, and purge then truncates it, or drops it with the guards', async () => {
    const app = await createAppRole(t, [{ schema, name: 'Notes' }]);
    const pool = app.open(2);
    let running = true;
    const failures: string[] = [];
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; running; i++) {
        try {
          await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key", "Body") values ('globex', 'perf', 'globex:perf', ${`w${i}`}::text)`.execute(pool.db);
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    try {
      const before = await allDigests(t.db);
      const dry = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new', dryRun: true });
      expect(dry.tables[0]).toMatchObject({ action: 'created', partition: 'Tenant Data.Notes_iso_umbrella_new_' + dry.tables[0]!.partition.split('_new_')[1] });
      expect(withoutWriter(await allDigests(t.db))).toEqual(withoutWriter(before));

      const r = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new' });
      expect(r.notes).toEqual([]); // scope_key is "{tenant}:{scope}": the partition is the scope's alone
      expect(r.scope_key).toBe('umbrella:new');
      expect(r.tables[0]!.action).toBe('created');
      expect(r.tables[0]!.default_leaf).toMatch(/^Tenant Data\.Notes_default_p\d$/);
      // The DEFAULT leaves the scope cannot hash into keep their validated CHECK (a purge's swap then need not read them);
      // the one it would fall into without its partition has none, so nothing there can ever fail its writes.
      const g = await defaultGuards(t.db, 'Notes_default', 4, 'umbrella:new');
      expect(`${schema}.${g.routeLeaf}`).toBe(r.tables[0]!.default_leaf);
      expect(g.guarded).toEqual(allBut('Notes_default', 4, g.routeLeaf));
      // The application's writes to the new scope land in its own partition.
      await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key") values ('umbrella', 'new', 'umbrella:new')`.execute(pool.db);
      expect(await leafOf('umbrella:new')).toBe(r.tables[0]!.partition.split('.')[1]);
      // A second run does nothing.
      expect((await runIsolate(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new' })).tables[0]!.action).toBe('already_isolated');
      const purged = await runPurge(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new', table: config.tables.filter((x) => x.name === 'Notes').map((x) => x.name) });
      expect(purged.tables[0]!.strategy).toBe('truncate_partition');
      expect((await defaultGuards(t.db, 'Notes_default', 4, 'umbrella:new')).guarded).toEqual(g.guarded);
      // Dropping the partition takes the guards too: the scope's writes fall into the DEFAULT again, and succeed.
      await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key") values ('umbrella', 'new', 'umbrella:new')`.execute(pool.db);
      const dropped = await runPurge(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'new', confirm: 'umbrella/new', table: ['Notes'], dropPartitions: true });
      expect(dropped.tables[0]!.strategy).toBe('drop_partition');
      expect((await defaultGuards(t.db, 'Notes_default', 4, 'umbrella:new')).guarded).toEqual([]);
      await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key") values ('umbrella', 'new', 'umbrella:new')`.execute(pool.db);
      expect(await leafOf('umbrella:new')).toBe(g.routeLeaf);
      await sql`delete from ${sql.id(schema, 'Notes')} where "Scope Key" = 'umbrella:new'`.execute(t.db);
      running = false;
      await writer;
      expect(failures).toEqual([]);
      expect(writes).toBeGreaterThan(0);
      const after = await allDigests(t.db);
      expect({ ...after.Notes, 'globex:perf': null }).toEqual({ ...before.Notes, 'globex:perf': null });
    } finally {
      running = false;
      await writer;
      await app.drop();
    }
  });

  it('moves an existing scope out of the DEFAULT while the application writes to it and to its neighbours: no write lost or failed', async () => {
    const notes = sql.id(schema, 'Notes');
    const ref = sql.id(schema, 'Notes_ref');
    // The application writes every change to Notes and, in the same statement, to a plain reference copy.
    await sql`create table ${ref} (like ${notes})`.execute(t.db);
    await sql`insert into ${ref} select * from ${notes}`.execute(t.db);
    const app = await createAppRole(t, [{ schema, name: 'Notes' }, { schema, name: 'Notes_ref' }]);
    const pool = app.open(2);
    let running = true;
    const failures: string[] = [];
    let writes = 0;
    // Worker 2 writes as a session in session_replication_role = replica (a subscriber's apply
    // worker, a restore), which skips ordinary triggers: the move's capture must follow it too.
    const worker = async (w: number) => {
      const exec = (q: ReturnType<typeof sql>) =>
        w === 2
          ? t.db.transaction().execute(async (trx) => {
              await sql`set local session_replication_role = replica`.execute(trx);
              await q.execute(trx);
            })
          : q.execute(pool.db);
      for (let i = 0; running; i++) {
        try {
          const k = i % 4;
          if (k === 0) {
            await exec(sql`with n as (insert into ${notes} ("Tenant", "Scope", "Scope Key", "Body") values ('acme', 'main', 'acme:main', ${`w${w}-${i}`}::text) returning *) insert into ${ref} select * from n`);
          } else if (k === 1) {
            await exec(sql`with u as (update ${notes} set "Body" = coalesce("Body", '') || '+' where "Scope Key" = 'acme:main' and id = (select max(id) - ${w * 3}::int from ${notes} where "Scope Key" = 'acme:main') returning *)
              update ${ref} r set "Body" = u."Body" from u where r.id = u.id and r."Scope Key" = u."Scope Key"`);
          } else if (k === 2) {
            await exec(sql`with d as (delete from ${notes} where "Scope Key" = 'acme:main' and id = (select min(id) + ${w}::int from ${notes} where "Scope Key" = 'acme:main') returning *)
              delete from ${ref} r using d where r.id = d.id and r."Scope Key" = d."Scope Key"`);
          } else {
            const key = `x:${(i + w) % 16}`;
            await exec(sql`with n as (insert into ${notes} ("Tenant", "Scope", "Scope Key", "Body") values ('x', ${key.slice(2)}::text, ${key}::text, 'n') returning *) insert into ${ref} select * from n`);
          }
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const indexNames = async () => (await sql<{ name: string }>`select x.relname as name from pg_inherits i join pg_index ix on ix.indrelid = i.inhrelid join pg_class x on x.oid = ix.indexrelid
      where i.inhparent = '"Tenant Data"."Notes_default"'::regclass order by 1`.execute(t.db)).rows.map((x) => x.name);
    const namesBefore = await indexNames();
    const workers = [0, 1, 2].map(worker);
    try {
      while (writes < 40) await new Promise((r) => setTimeout(r, 5));
      const r = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'acme', scope: 'main', confirm: 'acme/main' });
      const during = writes;
      while (writes < during + 40) await new Promise((r) => setTimeout(r, 5));
      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(r.tables[0]).toMatchObject({ action: 'moved' });
      expect(r.tables[0]!.rows_moved).toBeGreaterThanOrEqual(300 - 40);
      // A text key: no CHECK can prove the copy's hash bound, so PostgreSQL scans it under the lock, and says so.
      expect(r.tables[0]!.rows_scanned_under_lock).toBeGreaterThan(0);
      const partition = r.tables[0]!.partition.split('.')[1]!;
      expect(await leafOf('acme:main')).toBe(partition);
      const inDefault = await sql<{ n: number }>`select count(*)::int as n from "Tenant Data"."Notes_default" where "Scope Key" = 'acme:main'`.execute(t.db);
      expect(inDefault.rows[0]!.n).toBe(0);
      const diff = await sql<{ n: number }>`select count(*)::int as n from ((select * from ${notes} except all select * from ${ref}) union all (select * from ${ref} except all select * from ${notes})) d`.execute(t.db);
      expect(diff.rows[0]!.n).toBe(0);
      // Only the guards on the leaves acme:main cannot hash into stay (not counted below).
      const g = await defaultGuards(t.db, 'Notes_default', 4, 'acme:main');
      expect(g.guarded).toEqual(allBut('Notes_default', 4, g.routeLeaf));
      const leftovers = await sql<{ n: number }>`select (select count(*) from pg_constraint where conname like 'partgov_%' and conname not like 'partgov_not_%')::int
        + (select count(*) from pg_constraint k where conname like 'partgov_not_%' and pg_get_constraintdef(k.oid) not like '%''acme:main''%')::int
        + (select count(*) from pg_trigger where tgname like 'partgov_isolate%')::int
        + (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'partgov' and c.relname like 'iso_%')::int as n`.execute(t.db);
      expect(leftovers.rows[0]!.n).toBe(0);
      // The DEFAULT's hash leaf kept its name and its bound.
      const leaves = await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = '"Tenant Data"."Notes_default"'::regclass order by 1`.execute(t.db);
      expect(leaves.rows.map((x) => x.name)).toEqual(['Notes_default_p0', 'Notes_default_p1', 'Notes_default_p2', 'Notes_default_p3']);
      // ... and its indexes their names (the copy's were …_next_…).
      expect(await indexNames()).toEqual(namesBefore);
      // A run killed between its switch's COMMIT and the drop leaves the old leaf set aside: the next run drops it.
      const setAside = objectNames.retiredPartition({ schema, name: g.routeLeaf });
      await sql`create table ${sql.id(schema, setAside)} (like ${notes})`.execute(t.db);
      const again = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'acme', scope: 'main', confirm: 'acme/main' });
      expect(again.tables[0]).toMatchObject({ action: 'already_isolated' });
      expect(await findTableOid(t.db, { schema, name: setAside })).toBeNull();
    } finally {
      running = false;
      await Promise.all(workers);
      await app.drop();
    }
  });

  it('a scope whose partition is dropped falls back into the DEFAULT, and sessions that knew the old bound update its rows there without moving them (no "already moved to another partition" for a concurrent writer)', async () => {
    const notes = sql.id(schema, 'Notes');
    await runIsolate(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'dropped', confirm: 'umbrella/dropped' });
    const { routeLeaf } = await defaultGuards(t.db, 'Notes_default', 4, 'umbrella:dropped');
    const app = await createAppRole(t, [{ schema, name: 'Notes' }]);
    const pool = app.open(2).pool;
    const [stale, other] = [await pool.connect(), await pool.connect()];
    try {
      // The application's session has used the leaf the scope hashes into, so it holds that leaf's partition constraint.
      const neighbour = (await sql<{ k: string }>`select "Scope Key" as k from ${sql.id(schema, routeLeaf)} limit 1`.execute(t.db)).rows[0]!.k;
      const warmed = await stale.query(`update "Tenant Data"."Notes" set "Body" = "Body" where "Scope Key" = $1`, [neighbour]);
      expect(warmed.rowCount).toBeGreaterThan(0);
      // What a run of an earlier version (8-digit guard names) that died mid-swap left where the scope falls: the drop removes it too.
      const legacyGuard = `partgov_not_${createHash('sha256').update('umbrella:dropped').digest('hex').slice(0, 8)}`;
      await sql`alter table ${sql.id(schema, routeLeaf)} add constraint ${sql.id(legacyGuard)} check ("Scope Key" <> 'umbrella:dropped') not valid`.execute(t.db);
      const dropped = await runPurge(stageFor(t, config, { settings }), { tenantId: 'umbrella', scope: 'dropped', confirm: 'umbrella/dropped', table: ['Notes'], dropPartitions: true });
      expect(dropped.tables[0]!.strategy).toBe('drop_partition');
      const id = (await other.query<{ id: string }>(`insert into "Tenant Data"."Notes" ("Tenant", "Scope", "Scope Key") values ('umbrella', 'dropped', 'umbrella:dropped') returning id::text`)).rows[0]!.id;
      expect(await leafOf('umbrella:dropped')).toBe(routeLeaf);
      // The session that knew the old bound updates the row, and another updates it at the same moment.
      await stale.query('begin');
      await stale.query(`update "Tenant Data"."Notes" set "Body" = 'stale' where id = ${Number(id)} and "Scope Key" = 'umbrella:dropped'`);
      const concurrent = other.query(`update "Tenant Data"."Notes" set "Body" = 'concurrent' where id = ${Number(id)} and "Scope Key" = 'umbrella:dropped'`).then(() => null, (e: Error) => e.message);
      for (let i = 0; i < 2000; i++) {
        const w = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(t.db);
        if (w.rows[0]!.n > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await stale.query('commit');
      expect(await concurrent).toBeNull();
      const row = await sql<{ body: string; leaf: string }>`select "Body" as body, tableoid::regclass::text as leaf from ${notes} where "Scope Key" = 'umbrella:dropped'`.execute(t.db);
      expect(row.rows).toEqual([{ body: 'concurrent', leaf: `"${schema}"."${routeLeaf}"` }]);
    } finally {
      await stale.query('rollback').catch(() => undefined);
      stale.release();
      other.release();
      await app.drop();
      await sql`delete from ${notes} where "Scope Key" = 'umbrella:dropped'`.execute(t.db);
    }
  });

  it('moves a scope keyed by a uuid with no scan under the lock (a CHECK equal to the leaf\'s bound proves its copy), while the application writes to it: no write lost or failed, no constraint left', async () => {
    const fleet = 'Fleet Ωps';
    const { devices, ref, config: fleetConfig } = await createDevices(fleet, { tenant_column: 'Tenant', scope_column: 'Scope', scope_key_source: 'rows' });
    const org = (await sql<{ org: string }>`select md5('org5')::uuid::text as org`.execute(t.db)).rows[0]!.org;
    const app = await createAppRole(t, [{ schema: fleet, name: 'Devices' }, { schema: fleet, name: 'Devices_ref' }]);
    const pool = app.open(2);
    let running = true;
    const failures: string[] = [];
    let writes = 0;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const k = i % 3;
          if (k === 0) {
            await sql`with n as (insert into ${devices} ("Org", "Tenant", "Scope", "Body") values (${org}::uuid, 'acme', 'fleet', ${`w${w}-${i}`}::text) returning *) insert into ${ref} select * from n`.execute(pool.db);
          } else if (k === 1) {
            await sql`with u as (update ${devices} set "Body" = coalesce("Body", '') || '+' where "Org" = ${org}::uuid and id = (select max(id) - ${w * 3}::int from ${devices} where "Org" = ${org}::uuid) returning *)
              update ${ref} r set "Body" = u."Body" from u where r.id = u.id and r."Org" = u."Org"`.execute(pool.db);
          } else {
            await sql`with n as (insert into ${devices} ("Org", "Tenant", "Scope", "Body") values (md5(${`org${(i + w) % 24}`}::text)::uuid, 'x', 'y', 'n') returning *) insert into ${ref} select * from n`.execute(pool.db);
          }
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const workers = [0, 1].map(worker);
    try {
      const dry = await runIsolate(stageFor(t, fleetConfig, { settings }), { tenantId: 'acme', scope: 'fleet', confirm: 'acme/fleet', dryRun: true });
      expect(dry.tables[0]).toMatchObject({ action: 'moved', rows_scanned_under_lock: 0 });
      expect(dry.tables[0]!.steps.find((x) => x.id === 'move')!.description).toContain('no scan under the lock');
      while (writes < 30) await new Promise((r) => setTimeout(r, 5));
      const r = await runIsolate(stageFor(t, fleetConfig, { settings }), { tenantId: 'acme', scope: 'fleet', confirm: 'acme/fleet' });
      const during = writes;
      while (writes < during + 30) await new Promise((r) => setTimeout(r, 5));
      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(r.tables[0]).toMatchObject({ action: 'moved', rows_scanned_under_lock: 0 });
      expect(r.tables[0]!.rows_moved).toBeGreaterThanOrEqual(100);
      const inDefault = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(fleet, 'Devices_default')} where "Org" = ${org}::uuid`.execute(t.db);
      expect(inDefault.rows[0]!.n).toBe(0);
      const own = await sql<{ leaf: string }>`select distinct c.relname as leaf from ${devices} d join pg_class c on c.oid = d.tableoid where "Org" = ${org}::uuid`.execute(t.db);
      expect(own.rows).toEqual([{ leaf: r.tables[0]!.partition.slice(fleet.length + 1) }]);
      expect(await differences(devices, ref)).toBe(0);
      // The proof was for the switch only: the leaf keeps its bound and no CHECK of partgov's beyond the guards of the leaves the org cannot hash into.
      const left = await partgovChecks(fleet);
      expect(left.every((x) => x.def.includes(org) && x.def.includes('<>'))).toBe(true);
      expect(left.some((x) => x.def.includes('satisfies_hash_partition'))).toBe(false);
    } finally {
      running = false;
      await Promise.all(workers);
      await app.drop();
    }
  });

  it('a move\'s replay reads the log and the leaf in one snapshot: a write whose log entry commits while a round runs (its sequence number taken before a later one\'s) is replayed, not skipped', async () => {
    const fleet = 'Fleet Replay Ωrder';
    const { devices, ref, config: fleetConfig } = await createDevices(fleet, { tenant_column: 'Tenant', scope_column: 'Scope', scope_key_source: 'rows' });
    const org = (await sql<{ org: string }>`select md5('org5')::uuid::text as org`.execute(t.db)).rows[0]!.org;
    const leaf = (await sql<{ leaf: string }>`select distinct tableoid::regclass::text as leaf from ${devices} where "Org" = ${org}::uuid`.execute(t.db)).rows[0]!.leaf;
    // A row of the scope (in S after the copy) and a neighbour in the same leaf (in H, the leaf's copy).
    const [scopeRow, neighbour] = [
      (await sql<{ id: string }>`select min(id)::text as id from ${devices} where "Org" = ${org}::uuid`.execute(t.db)).rows[0]!.id,
      (await sql<{ org: string; id: string }>`select "Org"::text as org, id::text from ${sql.raw(leaf)} where "Org" <> ${org}::uuid order by id limit 1`.execute(t.db)).rows[0]!, // sql.raw: regclass text, quoted by PostgreSQL
    ];
    const next = sql.id(fleet, `${leaf.slice(leaf.lastIndexOf('.') + 1).replaceAll('"', '')}_next`);
    const app = await createAppRole(t, [{ schema: fleet, name: 'Devices' }, { schema: fleet, name: 'Devices_ref' }]);
    const appPool = app.open(2).pool;
    const [late, early] = [await appPool.connect(), await appPool.connect()];
    const holder = await t.pool.connect();
    let released: Promise<void> = Promise.resolve();
    // After the copy, before the first replay round: the late write takes its sequence number and stays
    // open, an early one commits after it, and the round's DELETE on H waits on a row lock until the late one has committed.
    const log = async (m: string) => {
      if (!m.startsWith('copied ')) return;
      await late.query('begin');
      await late.query(`update "${fleet}"."Devices" set "Body" = 'late' where "Org" = $1 and id = $2`, [org, scopeRow]);
      await late.query(`update "${fleet}"."Devices_ref" set "Body" = 'late' where "Org" = $1 and id = $2`, [org, scopeRow]);
      await early.query(`with u as (update "${fleet}"."Devices" set "Body" = 'early' where "Org" = $1 and id = $2 returning *) update "${fleet}"."Devices_ref" r set "Body" = u."Body" from u where r."Org" = u."Org" and r.id = u.id`, [neighbour.org, neighbour.id]);
      await holder.query('begin');
      await holder.query(`select 1 from ${compileDdl(next)} where "Org" = $1 and id = $2 for update`, [neighbour.org, neighbour.id]);
      released = (async () => {
        while ((await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like 'delete from %_next%'`.execute(t.db)).rows[0]!.n === 0) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await late.query('commit');
        await holder.query('commit');
      })();
    };
    try {
      const r = await runIsolate(stageFor(t, fleetConfig, { settings, log }), { tenantId: 'acme', scope: 'fleet', confirm: 'acme/fleet' });
      await released;
      expect(r.tables[0]).toMatchObject({ action: 'moved', rows_moved: 100 });
      expect((await sql<{ b: string }>`select "Body" as b from ${devices} where "Org" = ${org}::uuid and id = ${scopeRow}::bigint`.execute(t.db)).rows[0]!.b).toBe('late');
      expect(await differences(devices, ref)).toBe(0);
    } finally {
      await late.query('rollback').catch(() => undefined);
      await holder.query('rollback').catch(() => undefined);
      late.release();
      early.release();
      holder.release();
      await app.drop();
    }
  });

  it('isolates a new uuid scope by copying its DEFAULT leaf online (no scan under the lock) at isolate.copy_leaf_min_mb, and says when it scans the leaf instead; rows the application writes to the scope during the copy land in its partition', async () => {
    const fleet = 'Fleet New Ωrgs';
    const { devices, ref, config: scanConfig } = await createDevices(fleet, { tenant_column: 'Tenant', scope_column: 'Org' });
    const copyConfig = parseConfig({ ...scanConfig, isolate: { copy_leaf_min_mb: 0 } });
    const [scanned, copied] = (await sql<{ org: string }>`select md5(x)::uuid::text as org from unnest(array['new-a', 'new-b']) x`.execute(t.db)).rows.map((r) => r.org);
    // The DEFAULT leaf an org hashes into (its name stays when isolate replaces it: the oid tells).
    const leafOf = async (org: string) => (await sql<{ leaf: string; oid: number }>`select c.relname as leaf, c.oid::int as oid from generate_series(0, 3) r
      join pg_class c on c.relname = 'Devices_default_p' || r and c.relnamespace = (select oid from pg_namespace where nspname = ${fleet})
      where satisfies_hash_partition(${`"${fleet}"."Devices_default"`}::regclass, 4, r, ${org}::uuid)`.execute(t.db)).rows[0]!;
    const app = await createAppRole(t, [{ schema: fleet, name: 'Devices' }, { schema: fleet, name: 'Devices_ref' }]);
    const pool = app.open(2);
    let running = true;
    let newRows = false; // set once the copy is done: the writer then writes the scope being isolated too
    const failures: string[] = [];
    let writes = 0;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const org = newRows && i % 2 === 0 ? sql`${copied}::uuid` : sql`md5(${`org${(i + w) % 24}`}::text)::uuid`;
          await sql`with n as (insert into ${devices} ("Org", "Tenant", "Scope", "Body") values (${org}, 'acme', 'y', ${`w${w}-${i}`}::text) returning *) insert into ${ref} select * from n`.execute(pool.db);
          await sql`with u as (update ${devices} set "Body" = coalesce("Body", '') || '+' where "Org" = md5(${`org${i % 24}`}::text)::uuid and id = (select max(id) - ${w}::int from ${devices} where "Org" = md5(${`org${i % 24}`}::text)::uuid) returning *)
            update ${ref} r set "Body" = u."Body" from u where r.id = u.id and r."Org" = u."Org"`.execute(pool.db);
          writes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const workers = [0, 1].map(worker);
    try {
      while (writes < 20) await new Promise((r) => setTimeout(r, 5));
      // 2,400 rows in 4 leaves: under 16 MB, so the default scans the leaf, and says so.
      const scanLeaf = await leafOf(scanned!);
      const a = await runIsolate(stageFor(t, scanConfig, { settings }), { tenantId: 'acme', scope: scanned!, confirm: `acme/${scanned}` });
      expect(a.tables[0]).toMatchObject({ action: 'created', default_leaf: `${fleet}.${scanLeaf.leaf}` });
      expect(a.tables[0]!.rows_scanned_under_lock).toBeGreaterThan(0);
      expect((await leafOf(scanned!)).oid).toBe(scanLeaf.oid);

      const copyLeaf = await leafOf(copied!);
      const dry = await runIsolate(stageFor(t, copyConfig, { settings }), { tenantId: 'acme', scope: copied!, confirm: `acme/${copied}`, dryRun: true });
      expect(dry.tables[0]).toMatchObject({ action: 'created', rows_scanned_under_lock: 0 });
      expect(dry.tables[0]!.steps.find((x) => x.id === 'move')!.description).toContain('no row of the scope yet');
      const log = (m: string) => {
        if (m.startsWith('copied ')) newRows = true;
      };
      const during = writes;
      const b = await runIsolate(stageFor(t, copyConfig, { settings, log }), { tenantId: 'acme', scope: copied!, confirm: `acme/${copied}` });
      while (writes < during + 40) await new Promise((r) => setTimeout(r, 5));
      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(newRows).toBe(true);
      expect(b.tables[0]).toMatchObject({ action: 'created', rows_scanned_under_lock: 0 });
      // The leaf was replaced by its copy: the switch attached a new table in its place.
      expect((await leafOf(copied!)).oid).not.toBe(copyLeaf.oid);
      const own = await sql<{ leaf: string; n: number }>`select c.relname as leaf, count(*)::int as n from ${devices} d join pg_class c on c.oid = d.tableoid where "Org" = ${copied}::uuid group by 1`.execute(t.db);
      expect(own.rows.map((x) => x.leaf)).toEqual([b.tables[0]!.partition.slice(fleet.length + 1)]);
      expect(own.rows[0]!.n).toBeGreaterThan(0);
      expect(await differences(devices, ref)).toBe(0);
      const left = await partgovChecks(fleet);
      expect(left.some((x) => x.def.includes('satisfies_hash_partition'))).toBe(false);
    } finally {
      running = false;
      await Promise.all(workers);
      await app.drop();
    }
  });

  it('refuses a bad confirm, changing nothing', async () => {
    const before = await allDigests(t.db);
    const bad = await runIsolate(stageFor(t, config, { settings }), { tenantId: 'globex', scope: 'perf', confirm: 'globex/perf ' }).catch((e: unknown) => e);
    expect((bad as Error).message).toContain('--confirm');
    expect(await allDigests(t.db)).toEqual(before);
  });
});
