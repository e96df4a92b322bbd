import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { PartgovConfig, PartgovConfigInput } from '../../src/config/config-schema.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPurge } from '../../src/purge/run-purge.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { createAppRole } from '../helpers/app-role.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { allBut, createScopedTables, defaultGuards, insertScopeRows, schema, scopeDigests } from './scope-fixture.js';
import { stageFor } from '../helpers/stage.js';

// A dedicated partition is emptied by swapping in an empty twin (purge.swap_min_mb: 0 = always, so small test tables take that path).
let t: TestDatabase;
let config: PartgovConfig;
let configFile: string;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const target = (tenantId: string, scope: string) => ({ tenantId, scope, confirm: `${tenantId}/${scope}` });
const only = (...names: string[]) => config.tables.filter((x) => names.includes(x.name));
const leaf = 'Notes_iso_acme_perf';

/** What a DBA would notice about a leaf: its identity aside, the swap must leave all of it as it was. */
async function leafFacts(name: string) {
  const r = await sql<{ oid: string; bound: string; options: string[] | null; comment: string | null; acl: string[] | null; indexes: string[]; parent: string }>`
    select c.oid::int8::text as oid, pg_get_expr(c.relpartbound, c.oid) as bound, c.reloptions as options, obj_description(c.oid, 'pg_class') as comment,
           c.relacl::text[] as acl, (select array_agg(x.relname::text order by x.relname) from pg_index i join pg_class x on x.oid = i.indexrelid where i.indrelid = c.oid) as indexes,
           (select p.relname::text from pg_inherits h join pg_class p on p.oid = h.inhparent where h.inhrelid = c.oid) as parent
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema} and c.relname = ${name}`.execute(t.db);
  return r.rows[0]!;
}

/** Twins, retired partitions and acme:perf's guards a swap must not leave behind (those on Notes' DEFAULT leaves acme:perf cannot hash into stay: see notesGuardsKept). */
async function leftovers(): Promise<string[]> {
  const kept = allBut('Notes_default', 4, (await defaultGuards(t.db, 'Notes_default', 4, 'acme:perf')).routeLeaf);
  const r = await sql<{ x: string }>`select relname::text as x from pg_class where relname like 'partgov_twin%' or relname like 'partgov_purged%'
    union all select k.conname::text from pg_constraint k join pg_class c on c.oid = k.conrelid
      where k.conname like 'partgov_not%' and pg_get_constraintdef(k.oid) like '%''acme:perf''%' and not c.relname = any(${kept}::text[])`.execute(t.db);
  return r.rows.map((x) => x.x);
}

/** After a swap of acme:perf in Notes: its guards stay validated on exactly the DEFAULT leaves it cannot hash into. */
async function notesGuardsKept(): Promise<void> {
  const g = await defaultGuards(t.db, 'Notes_default', 4, 'acme:perf');
  expect(g.guarded).toEqual(allBut('Notes_default', 4, g.routeLeaf));
}

beforeAll(async () => {
  t = await createTestDatabase('purgeswap');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
  const input: PartgovConfigInput = await createScopedTables(t.db);
  // Outbox2: by month, each month LISTed by scope key with acme:perf on its own leaf and a DEFAULT (two levels of swap).
  const cols = sql`id bigint generated always as identity, "Tenant" text not null, "Scope" text not null, "Scope Key" text not null, "Body" text, "Doc" jsonb, "Updated At" timestamptz not null default now()`;
  await sql`create table ${sql.id(schema, 'Outbox2')} (${cols}, primary key ("Updated At", "Scope Key", id)) partition by range ("Updated At")`.execute(t.db);
  for (const [m, from, to] of [['10', '2026-10-01', '2026-11-01'], ['11', '2026-11-01', '2026-12-01']] as const) {
    const month = `Outbox2_2026_${m}`;
    await sql`create table ${sql.id(schema, month)} partition of ${sql.id(schema, 'Outbox2')} for values from (${sql.lit(from)}) to (${sql.lit(to)}) partition by list ("Scope Key")`.execute(t.db);
    await sql`create table ${sql.id(schema, `${month}_perf`)} partition of ${sql.id(schema, month)} for values in ('acme:perf')`.execute(t.db);
    await sql`create table ${sql.id(schema, `${month}_default`)} partition of ${sql.id(schema, month)} default`.execute(t.db);
  }
  for (const [tenant, scope] of [['acme', 'perf'], ['acme', 'main']]) {
    await insertScopeRows(t.db, 'Outbox2', tenant!, scope!, 300, "timestamptz '2026-10-20'");
    await insertScopeRows(t.db, 'Outbox2', tenant!, scope!, 300, "timestamptz '2026-11-20'");
  }
  input.tables.push({ schema, name: 'Outbox2', layout: { type: 'range', column: 'Updated At', interval: 'month', default_partition: false }, tenant_column: 'Tenant', scope_column: 'Scope', scope_key_column: 'Scope Key' });
  input.purge = { swap_min_mb: 0 };
  config = parseConfig(input);
  configFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'partgov-purgeswap-')), 'partgov.config.json');
  await writeFile(configFile, JSON.stringify(input));
});
afterAll(async () => t.drop());

describe('a dedicated partition swapped for an empty twin', () => {
  it('dry run prints the twin, the switch and the drop, and changes nothing', async () => {
    const before = await leafFacts(leaf);
    const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: only('Notes').map((x) => x.name), dryRun: true });
    expect(r.script).toMatch(/create table "Tenant Data"\."partgov_twin_[0-9a-f]{8}" \(like "Tenant Data"\."Notes"/);
    expect(r.script).toMatch(/add constraint "partgov_not_[0-9a-f]{16}" check \("Scope Key" <> 'acme:perf'\) not valid/);
    expect(r.tables[0]!.default_leaves_read).toBe(4); // no guard in place yet: every DEFAULT leaf is read once
    expect(r.script).toContain(`alter table "Tenant Data"."Notes" detach partition "Tenant Data"."${leaf}"`);
    expect(r.script).toMatch(/attach partition "Tenant Data"\."partgov_twin_[0-9a-f]{8}" FOR VALUES IN \('acme:perf'\)/);
    expect(r.script).toMatch(/drop table if exists "Tenant Data"\."partgov_purged_[0-9a-f]{8}"/);
    expect(await leafFacts(leaf)).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it('purges while the application writes the purged scope and others, as a non-owner role: nothing fails, the partition keeps its name, bound, indexes, options, grants and comment', async () => {
    const app = await createAppRole(t, [{ schema, name: 'Notes' }]);
    await sql`alter table ${sql.id(schema, leaf)} set (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02)`.execute(t.db);
    await sql`comment on table ${sql.id(schema, leaf)} is 'perf scope of acme'`.execute(t.db);
    await sql`grant select on ${sql.id(schema, leaf)} to ${sql.id(app.name)}`.execute(t.db);
    const before = await leafFacts(leaf);
    const pool = app.open(3);
    let running = true;
    let purgeDone = false;
    const failures: string[] = [];
    const afterPurge: string[] = [];
    let writes = 0;
    const writer = (key: string) =>
      (async () => {
        for (let i = 0; running; i++) {
          const body = `${key}-w${i}`;
          try {
            const [tenant, scope] = key.split(':');
            await sql`insert into ${sql.id(schema, 'Notes')} ("Tenant", "Scope", "Scope Key", "Body") values (${tenant}, ${scope}, ${key}, ${body})`.execute(pool.db);
            if (purgeDone && key === 'acme:perf') afterPurge.push(body);
            await sql`select count(*) from ${sql.id(schema, 'Notes')} where "Scope Key" = ${key}`.execute(pool.db);
            writes++;
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      })();
    const writers = [writer('acme:perf'), writer('initech:live')];
    try {
      while (writes < 30) await sleep(5);
      const others = await scopeDigests(t.db, 'Notes');
      const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: only('Notes').map((x) => x.name) });
      purgeDone = true;
      while (afterPurge.length < 10) await sleep(5);
      running = false;
      await Promise.all(writers);
      expect(failures).toEqual([]);
      expect(r.tables[0]).toMatchObject({ strategy: 'truncate_partition', partitions: [`${schema}.${leaf}`] });
      expect(r.tables[0]!.lock_held_ms).toBeGreaterThan(0);
      const after = await leafFacts(leaf);
      expect(after.oid).not.toBe(before.oid); // really a new table
      expect({ ...after, oid: null }).toEqual({ ...before, oid: null });
      // Nothing of the scope from before the purge is left; every write after it is there.
      const kept = await sql<{ body: string }>`select "Body" as body from ${sql.id(schema, 'Notes')} where "Scope Key" = 'acme:perf'`.execute(t.db);
      const bodies = new Set(kept.rows.map((x) => x.body));
      for (const b of bodies) expect(b).toMatch(/^acme:perf-w\d+$/);
      for (const b of afterPurge) expect(bodies.has(b)).toBe(true);
      const now = await scopeDigests(t.db, 'Notes');
      for (const k of ['acme:main', 'globex:perf', 'initech:ops']) expect(now[k]).toBe(others[k]);
      expect(await leftovers()).toEqual([]);
      await notesGuardsKept();
      expect(r.tables[0]!.default_leaves_read).toBe(4);
      // The next swap reads only the leaf the scope would fall into without its partition.
      const next = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: ['Notes'] });
      expect(next.tables[0]).toMatchObject({ strategy: 'truncate_partition', default_leaves_read: 1 });
      expect(next.script.match(/validate constraint/g)).toHaveLength(1);
      await notesGuardsKept();
      // the app still reaches the partition directly with the grant it had
      await sql`select count(*) from ${sql.id(schema, leaf)}`.execute(pool.db);
    } finally {
      running = false;
      await Promise.all(writers);
      await app.drop();
      await sql`delete from ${sql.id(schema, 'Notes')} where "Scope Key" in ('acme:perf', 'initech:live')`.execute(t.db);
      await insertScopeRows(t.db, 'Notes', 'acme', 'perf', 400);
    }
  });

  it('swaps the scope’s leaf in every month of a range table (a DEFAULT per month, proved empty of the scope without a scan under the lock)', async () => {
    const before = await scopeDigests(t.db, 'Outbox2');
    const oids = [(await leafFacts('Outbox2_2026_10_perf')).oid, (await leafFacts('Outbox2_2026_11_perf')).oid];
    // what a purge killed between its switch and its drop leaves: the next purge drops it
    await sql`create table ${sql.id(schema, 'partgov_purged_0badf00d')} (like ${sql.id(schema, 'Outbox2_2026_10_perf')})`.execute(t.db);
    const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: only('Outbox2').map((x) => x.name) });
    expect(r.tables[0]).toMatchObject({ strategy: 'truncate_partition', note: null });
    expect(r.script.match(/attach partition/g)).toHaveLength(2);
    expect(r.tables[0]!.default_leaves_read).toBe(2); // each month's DEFAULT is a plain leaf: the one the scope would fall into, so no guard stays there
    const after = await scopeDigests(t.db, 'Outbox2');
    expect(after).toEqual({ 'acme:main': before['acme:main'] });
    for (const [i, name] of ['Outbox2_2026_10_perf', 'Outbox2_2026_11_perf'].entries()) {
      const f = await leafFacts(name);
      expect(f.oid).not.toBe(oids[i]);
      expect(f.bound).toBe("FOR VALUES IN ('acme:perf')");
      expect(f.parent).toBe(name.replace('_perf', ''));
    }
    await sql`insert into ${sql.id(schema, 'Outbox2')} ("Tenant", "Scope", "Scope Key", "Updated At") values ('acme', 'perf', 'acme:perf', '2026-10-05')`.execute(t.db);
    expect(await leftovers()).toEqual([]);
  });

  it('isolate of a scope that already has its partition puts its guards on the DEFAULT leaves it cannot hash into, so its next purge reads one leaf', async () => {
    // A partition given by hand (or by plan's layout.isolated), then rows of the scope.
    await sql`create table ${sql.id(schema, 'Notes_iso_hooli_ops')} partition of ${sql.id(schema, 'Notes')} for values in ('hooli:ops')`.execute(t.db);
    await insertScopeRows(t.db, 'Notes', 'hooli', 'ops', 30);
    expect((await defaultGuards(t.db, 'Notes_default', 4, 'hooli:ops')).guarded).toEqual([]);
    const dry = await runIsolate(stageFor(t, config, { settings }), { ...target('hooli', 'ops'), dryRun: true });
    expect(dry.tables[0]).toMatchObject({ action: 'already_isolated' });
    expect(dry.tables[0]!.steps.filter((x) => x.id.startsWith('validate '))).toHaveLength(3);
    expect((await defaultGuards(t.db, 'Notes_default', 4, 'hooli:ops')).guarded).toEqual([]);
    const r = await runIsolate(stageFor(t, config, { settings }), target('hooli', 'ops'));
    expect(r.tables[0]).toMatchObject({ action: 'already_isolated' });
    const g = await defaultGuards(t.db, 'Notes_default', 4, 'hooli:ops');
    expect(g.guarded).toEqual(allBut('Notes_default', 4, g.routeLeaf));
    // A second run has nothing left to do.
    expect((await runIsolate(stageFor(t, config, { settings }), target('hooli', 'ops'))).tables[0]!.steps).toEqual([]);
    const purged = await runPurge(stageFor(t, config, { settings }), { ...target('hooli', 'ops'), table: ['Notes'] });
    expect(purged.tables[0]).toMatchObject({ strategy: 'truncate_partition', default_leaves_read: 1 });
  });

  it('takes the table before the months whose leaves it swaps, as writers do: it waits holding none of them while a transaction holds one', async () => {
    await insertScopeRows(t.db, 'Outbox2', 'acme', 'perf', 50, "timestamptz '2026-10-20'");
    await insertScopeRows(t.db, 'Outbox2', 'acme', 'perf', 50, "timestamptz '2026-11-20'");
    const oids = (await sql<{ oid: string }>`select relid::int8::text as oid from pg_partition_tree('"Tenant Data"."Outbox2"'::regclass)`.execute(t.db)).rows.map((r) => r.oid);
    const tree = sql`(select unnest(${oids}::oid[]))`;
    const writer = await t.pool.connect();
    try {
      // The application's transaction has written the scope in November (taking the table, then that month and its leaf).
      await writer.query('begin');
      await writer.query(`update "Tenant Data"."Outbox2" set "Body" = "Body" where "Updated At" >= '2026-11-01' and "Scope Key" = 'acme:perf'`);
      const purging = runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: ['Outbox2'] });
      for (let i = 0; i < 2000; i++) {
        const w = await sql<{ n: number }>`select count(*)::int as n from pg_locks where not granted and relation in ${tree} and mode = 'AccessExclusiveLock'`.execute(t.db);
        if (w.rows[0]!.n > 0) break;
        await sleep(5);
      }
      const writerPid = (await writer.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const held = await sql<{ rel: string }>`select l.relation::regclass::text as rel from pg_locks l where l.granted and l.mode = 'AccessExclusiveLock' and l.pid <> ${writerPid}::int and l.relation in ${tree}`.execute(t.db);
      expect(held.rows).toEqual([]);
      // The same transaction now reads October too: nothing waits in a circle.
      await writer.query(`select count(*) from "Tenant Data"."Outbox2" where "Updated At" < '2026-11-01'`);
      await writer.query('commit');
      expect((await purging).tables[0]).toMatchObject({ strategy: 'truncate_partition' });
      expect((await scopeDigests(t.db, 'Outbox2'))['acme:perf']).toBeUndefined();
    } finally {
      await writer.query('rollback').catch(() => undefined);
      writer.release();
    }
  });

  it('a partition with a NOT NULL or a default of its own is TRUNCATEd instead (a twin shaped like the parent would lose them)', async () => {
    await sql`update ${sql.id(schema, leaf)} set "Body" = 'x' where "Body" is null`.execute(t.db);
    await sql`alter table ${sql.id(schema, leaf)} alter column "Body" set not null`.execute(t.db);
    await sql`alter table ${sql.id(schema, leaf)} alter column "Doc" set default '{}'::jsonb`.execute(t.db);
    try {
      const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: ['Notes'], dryRun: true });
      expect(r.tables[0]!.note).toMatch(/NOT NULL columns of its own, column defaults of its own/);
      expect(r.script).toContain(`truncate "Tenant Data"."${leaf}"`);
    } finally {
      await sql`alter table ${sql.id(schema, leaf)} alter column "Body" drop not null, alter column "Doc" drop default`.execute(t.db);
    }
  });

  it('a partition with a trigger of its own is TRUNCATEd instead, and the result says why', async () => {
    await sql`create function ${sql.id(schema, 'noop')}() returns trigger language plpgsql as $$ begin return new; end $$`.execute(t.db);
    await sql`create trigger own_trigger before insert on ${sql.id(schema, leaf)} for each row execute function ${sql.id(schema, 'noop')}()`.execute(t.db);
    try {
      const before = await leafFacts(leaf);
      const r = await runPurge(stageFor(t, config, { settings }), { ...target('acme', 'perf'), table: only('Notes').map((x) => x.name) });
      expect(r.tables[0]!.note).toContain('triggers of its own');
      expect(r.script).toContain(`truncate "Tenant Data"."${leaf}"`);
      expect((await leafFacts(leaf)).oid).toBe(before.oid);
      expect((await scopeDigests(t.db, 'Notes'))['acme:perf']).toBeUndefined();
    } finally {
      await sql`drop trigger own_trigger on ${sql.id(schema, leaf)}`.execute(t.db);
      await insertScopeRows(t.db, 'Notes', 'acme', 'perf', 400);
    }
  });

  it('kill -9 while the switch waits for its lock: nothing purged, and the next run removes the twin and guards and purges', async () => {
    const before = await scopeDigests(t.db, 'Notes');
    const blocker = await t.pool.connect();
    await blocker.query('begin');
    await blocker.query(`lock table "Tenant Data"."Notes_default_p0" in access share mode`);
    const child = spawn(process.execPath, [cliPath, '--config', configFile, '--database-url', t.url, '--lock-timeout', '200', 'purge', '--tenant-id', 'acme', '--scope', 'perf', '--confirm', 'acme/perf', '--table', 'Notes'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    try {
      // the twin is built and the guards validated once a lock wait shows up
      for (let i = 0; i < 2000; i++) {
        const w = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name like 'partgov %' and wait_event_type = 'Lock' and datname = current_database()`.execute(t.db);
        if (w.rows[0]!.n > 0) break;
        await sleep(5);
      }
      expect((await leftovers()).length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
      await exited;
      await blocker.query('rollback');
      blocker.release();
    }
    for (let i = 0; i < 200; i++) {
      const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name like 'partgov %' and datname = current_database()`.execute(t.db);
      if (r.rows[0]!.n === 0) break;
      await sleep(25);
    }
    expect(await scopeDigests(t.db, 'Notes')).toEqual(before);
    const again = await runCli(['--config', configFile, '--database-url', t.url, 'purge', '--tenant-id', 'acme', '--scope', 'perf', '--confirm', 'acme/perf', '--table', 'Notes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const after = await scopeDigests(t.db, 'Notes');
    expect(after['acme:perf']).toBeUndefined();
    expect({ ...after, 'acme:perf': before['acme:perf'] }).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });
});
