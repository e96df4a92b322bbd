import { sql } from 'kysely';
import { runVerify } from '../../src/verify/run-verify.js';
import { openDatabase } from '../../src/db/open-database.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runSync } from '../../src/sync/run-sync.js';
import { createEventsTable, differingRows, prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({}, {}, undefined);

beforeAll(async () => {
  t = await createTestDatabase('keys');
});
afterAll(async () => t.drop());

describe('backfill key types', () => {
  it('a composite key, a text key under a non-C collation, a uuid key and an empty table all copy exactly', async () => {
    const icu = await sql<{ n: number }>`select count(*)::int as n from pg_collation where collname = 'und-x-icu'`.execute(t.db);
    const collation = icu.rows[0]!.n > 0 ? sql`collate "und-x-icu"` : sql`collate "POSIX"`;
    await sql`create table "Comp" ("Tenant" text not null, "Seq" integer not null, v text, primary key ("Tenant", "Seq"))`.execute(t.db);
    await sql`insert into "Comp" select (array['a', 'B', 'ä', 'o''brien', ' sp'])[1 + g % 5] || (g % 3), g / 5, 'v' || g from generate_series(1, 4000) g on conflict do nothing`.execute(t.db);
    await sql`create table txt (code text ${collation} primary key, bucket text not null, n int)`.execute(t.db);
    await sql`insert into txt select (array['Äpfel', 'apple', 'Zebra', 'zebra', 'éclair', '_x', '10', '9'])[1 + g % 8] || '-' || g, 'b' || (g % 4), g from generate_series(1, 3000) g`.execute(t.db);
    await sql`create table uid (id uuid primary key, k text not null, body text)`.execute(t.db);
    await sql`insert into uid select md5(g::text)::uuid, 'k' || (g % 6), case when g % 3 = 0 then null else 'b' end from generate_series(1, 3000) g`.execute(t.db);
    await sql`create table empty_one (id bigint primary key, k text not null)`.execute(t.db);
    const config = parseConfig({
      tables: [
        { name: 'Comp', layout: { type: 'hash', key: 'Tenant', partitions: 4 } },
        { name: 'txt', layout: { type: 'hash', key: 'bucket', partitions: 4 } },
        { name: 'uid', layout: { type: 'isolatable', key: 'k', isolated: ['k1'], partitions: 4 } },
        { name: 'empty_one', layout: { type: 'hash', key: 'k', partitions: 2 } },
      ],
    });
    await prepareShadows(t, config);
    for (const table of config.tables) {
      // An odd batch size puts batch boundaries everywhere, including inside one tenant's keys.
      const r = await runBackfill(stageFor(t, config, { settings }), { table: table.name, batchSize: 97 });
      expect(r.complete).toBe(true);
      expect(await differingRows(t.db, 'public', table.name, `${table.name}_shadow`), table.name).toBe(0);
      const n = await sql<{ n: number }>`select count(*)::int as n from ${sql.id('public', table.name)}`.execute(t.db);
      expect(r.total_rows_copied, table.name).toBe(n.rows[0]!.n);
    }
    const empty = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[3]!.name });
    expect(empty).toMatchObject({ complete: true, rows_copied: 0, batches: 0 });
  });
});

describe('backfill key types whose text form must round-trip', () => {
  it('bytea, numeric, float8, timestamptz, inet and (date, "char") keys: a copy stopped where the database\'s defaults print dates day-first, floats rounded and bytea escaped resumes exactly under the server\'s defaults', async () => {
    await sql`create table key_bin (id bytea primary key, k int not null, v text)`.execute(t.db);
    await sql`insert into key_bin select decode(md5(g::text), 'hex') || case when g % 3 = 0 then '\\x00'::bytea else '' end, g % 4, 'v' || g from generate_series(1, 2000) g`.execute(t.db);
    await sql`create table key_num (id numeric primary key, k int not null)`.execute(t.db);
    await sql`insert into key_num select g / 7.0 + case when g % 5 = 0 then 1e20 else 0 end, g % 4 from generate_series(1, 2000) g`.execute(t.db);
    await sql`create table key_float (id float8 primary key, k int not null)`.execute(t.db);
    await sql`insert into key_float select g / 3.0 * pi() * (case when g % 2 = 0 then -1 else 1 end), g % 4 from generate_series(1, 2000) g`.execute(t.db);
    await sql`create table key_ts (id timestamptz primary key, k int not null)`.execute(t.db);
    await sql`insert into key_ts select timestamptz '2026-03-29 00:59:59.999999+00' + g * interval '1 second 1 microsecond', g % 4 from generate_series(1, 2000) g`.execute(t.db);
    await sql`create table key_inet (id inet primary key, k int not null)`.execute(t.db);
    await sql`insert into key_inet select case when g % 2 = 0 then ('10.0.' || (g / 250) || '.' || (g % 250))::inet else ('2001:db8::' || to_hex(g) || '/128')::inet end, g % 4 from generate_series(1, 2000) g`.execute(t.db);
    await sql`create table key_mixed (day date not null, c "char" not null, n int not null, primary key (day, c, n))`.execute(t.db);
    await sql`insert into key_mixed select date '2026-01-01' + g % 30, chr(65 + g % 20)::"char", g from generate_series(1, 2000) g`.execute(t.db);
    const names = ['key_bin', 'key_num', 'key_float', 'key_ts', 'key_inet', 'key_mixed'];
    const config = parseConfig({ tables: names.map((name) => ({ name, layout: { type: 'hash' as const, key: name === 'key_mixed' ? 'n' : 'k', partitions: 3 } })) });
    await prepareShadows(t, config);
    // The first part where the database's defaults print dates day-first, times in a half-hour zone, floats rounded and bytea escaped ...
    await sql`alter database ${sql.id(t.name)} set datestyle = 'SQL, DMY'`.execute(t.db);
    await sql`alter database ${sql.id(t.name)} set timezone = 'America/St_Johns'`.execute(t.db);
    await sql`alter database ${sql.id(t.name)} set bytea_output = 'escape'`.execute(t.db);
    await sql`alter database ${sql.id(t.name)} set extra_float_digits = 0`.execute(t.db);
    const odd = openDatabase({ url: t.url, maxConnections: 4 });
    try {
      const defaults = await sql<{ c: string[] }>`select setconfig as c from pg_db_role_setting where setrole = 0 and setdatabase = (select oid from pg_database where datname = current_database())`.execute(odd.db);
      expect(defaults.rows[0]!.c).toEqual(expect.arrayContaining(['DateStyle=SQL, DMY', 'bytea_output=escape', 'extra_float_digits=0']));
      for (const name of names) {
        // Stopped after its first batches: short runs until one has copied some (a run may stop before its first).
        let copied = 0;
        for (let run = 0; run < 20 && copied === 0; run++) {
          copied = (await runBackfill(stageFor(odd, config, { settings }), { table: name, batchSize: 83, maxDuration: 0.02 })).total_rows_copied;
        }
        expect(copied, name).toBeGreaterThan(0);
        expect(copied, name).toBeLessThan(2000);
      }
    } finally {
      await odd.close();
      await sql`alter database ${sql.id(t.name)} reset datestyle`.execute(t.db);
      await sql`alter database ${sql.id(t.name)} reset timezone`.execute(t.db);
      await sql`alter database ${sql.id(t.name)} reset bytea_output`.execute(t.db);
      await sql`alter database ${sql.id(t.name)} reset extra_float_digits`.execute(t.db);
    }
    // ... the rest in sessions with the server's defaults (ISO, MDY; UTC; hex): the checkpoint's text positions must read back the same.
    const plain = openDatabase({ url: t.url, maxConnections: 4 });
    try {
      for (const name of names) {
        const rest = await runBackfill(stageFor(plain, config, { settings }), { table: name, batchSize: 83 });
        expect(rest.complete, name).toBe(true);
        const n = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(name)}`.execute(t.db);
        expect(rest.total_rows_copied, name).toBe(n.rows[0]!.n);
        expect(await differingRows(t.db, 'public', name, `${name}_shadow`), name).toBe(0);
      }
    } finally {
      await plain.close();
    }
  });
});

describe('backfill of a generated primary-key column', () => {
  it('online with 2 jobs: the shadow computes the key itself, and the batches still copy exactly', async () => {
    await sql`create table "Gen PK" (a int not null, "B" int generated always as (a * 2) stored, "K k" text not null, note text, primary key ("B"))`.execute(t.db);
    await sql`insert into "Gen PK" (a, "K k", note) select g, 'k' || (g % 7), case when g % 3 = 0 then null else 'n' end from generate_series(1, 3000) g`.execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Gen PK', layout: { type: 'hash', key: 'K k', partitions: 4 } }] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'enable' });
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 400, jobs: 2 });
    expect(r).toMatchObject({ complete: true, mode: 'online', total_rows_copied: 3000, batches: 8 });
    await sql`update "Gen PK" set a = a + 100000 where a % 10 = 0`.execute(t.db);
    const replay = await runSync(stageFor(t, config, { settings }), { table: config.tables[0]!.name, action: 'replay' });
    expect(replay.replay).toMatchObject({ keys: 600, rows_inserted: 300, rejected: 0 });
    expect(await differingRows(t.db, 'public', 'Gen PK', 'Gen PK_shadow')).toBe(0);
  });
});

describe('backfill: secondary indexes deferred by default', () => {
  /** Per leaf: each index's definition without its name, and the parent index it is attached to. */
  async function leafIndexes(shadow: string): Promise<string[]> {
    const r = await sql<{ item: string }>`
      select format('%s %s <- %s', c.relname, regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX ("([^"]|"")+"|\\S+) ON', 'INDEX ON'),
                    coalesce((select inhparent::regclass::text from pg_inherits where inhrelid = i.indexrelid), '-')) as item
      from pg_partition_tree(${shadow}::regclass) t join pg_class c on c.oid = t.relid join pg_index i on i.indrelid = c.oid
      order by 1`.execute(t.db);
    return r.rows.map((x) => x.item);
  }

  /** Every primary-key constraint of the tree: table, name, index, columns, and the constraint it is attached to. */
  async function primaryKeys(shadow: string): Promise<string[]> {
    const r = await sql<{ item: string }>`
      select format('%s %s %s %s <- %s', c.conrelid::regclass, c.conname, c.conindid::regclass, pg_get_constraintdef(c.oid),
                    coalesce((select p.conname from pg_constraint p where p.oid = c.conparentid), '-')) as item
      from pg_constraint c join pg_partition_tree(${shadow}::regclass) t on t.relid = c.conrelid where c.contype = 'p' order by 1`.execute(t.db);
    return r.rows.map((x) => x.item);
  }

  it('drops the primary key and secondary indexes for the copy, builds them per leaf (2 at once), and ends with the same catalog as the normal mode', async () => {
    const config = await createEventsTable(t.db, 5000);
    await prepareShadows(t, config);
    const shadow = '"Acct Data"."Acct Events_shadow"';
    const before = await leafIndexes(shadow);
    const keysBefore = await primaryKeys(shadow);
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 1000, jobs: 2 });
    expect(r.deferred_indexes.dropped.sort()).toEqual(['Acct Events_ID_idx', 'Acct Events_shadow_pkey', 'Events By Kind_shadow', 'Events Payload_shadow']);
    expect(r.deferred_indexes.leaf_indexes_built).toBe(32); // 8 leaves: the primary key and three indexes
    // The primary key comes back under the same names on every level, each leaf's attached to the parent's.
    expect(await primaryKeys(shadow)).toEqual(keysBefore);
    expect(keysBefore).toHaveLength(9);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    const normalize = (items: string[]) => items.map((x) => x.replace(/<- "Acct Data"\."[^"]+"/, '<- parent')).sort();
    expect(normalize(await leafIndexes(shadow))).toEqual(normalize(before));
    const invalid = await sql<{ n: number }>`
      select count(*)::int as n from pg_index i join pg_partition_tree(${shadow}::regclass) t on t.relid = i.indrelid where not i.indisvalid`.execute(t.db);
    expect(invalid.rows[0]!.n).toBe(0);
    const checkpoint = await sql<{ d: unknown[] }>`select deferred_indexes as d from partgov.backfill_checkpoint where table_name = 'Acct Data.Acct Events'`.execute(t.db);
    expect(checkpoint.rows[0]!.d).toEqual([]);
  });

  it('range by month with hash sub-partitions, 3 jobs: every level gets its index back, attached and valid', async () => {
    await sql`drop table "Acct Data"."Acct Events_shadow", "Acct Data"."Acct Events"`.execute(t.db);
    await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
    await createEventsTable(t.db, 6000);
    const config = parseConfig({
      tables: [
        {
          schema: 'Acct Data',
          name: 'Acct Events',
          layout: { type: 'range', column: 'At', interval: 'month', premake: 0, start: '2026-01-01', default_partition: true, subpartition: { type: 'hash', key: 'Scope Key', partitions: 3 } },
        },
      ],
    });
    await prepareShadows(t, config);
    const shadow = '"Acct Data"."Acct Events_shadow"';
    const before = await leafIndexes(shadow);
    const r = await runBackfill(stageFor(t, config, { settings }), { table: config.tables[0]!.name, batchSize: 700, jobs: 3 });
    const leaves = await sql<{ n: number }>`select count(*)::int as n from pg_partition_tree(${shadow}::regclass) where isleaf`.execute(t.db);
    expect(leaves.rows[0]!.n).toBeGreaterThan(6);
    expect(r.deferred_indexes.leaf_indexes_built).toBe(4 * leaves.rows[0]!.n); // the primary key, two copied indexes and plan's on the old key
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    expect((await leafIndexes(shadow)).map((x) => x.replace(/"Acct Data"\."[^"]+"/g, 'X')).sort()).toEqual(before.map((x) => x.replace(/"Acct Data"\."[^"]+"/g, 'X')).sort());
    const invalid = await sql<{ n: number }>`
      select count(*)::int as n from pg_index i join pg_partition_tree(${shadow}::regclass) t on t.relid = i.indrelid where not i.indisvalid`.execute(t.db);
    expect(invalid.rows[0]!.n).toBe(0);
  });
});

/** A new 3,000-row events table and its fresh shadow, with no checkpoint of an earlier test. */
async function freshEventsTable() {
  await sql`drop table if exists "Acct Data"."Acct Events_shadow", "Acct Data"."Acct Events"`.execute(t.db);
  const config = await createEventsTable(t.db, 3000);
  await prepareShadows(t, config);
  await sql`delete from partgov.backfill_checkpoint`.execute(t.db);
  return { config, table: config.tables[0]!.name };
}

describe('backfill --restart of a copy that dropped indexes', () => {
  it('keeps them dropped through the restart and builds them when the new copy completes', async () => {
    const { config, table } = await freshEventsTable();
    const definitions = async () => (await sql<{ d: string }>`
      select regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX ("([^"]|"")+"|\S+) ON', 'INDEX ON') || ' valid=' || i.indisvalid as d
      from pg_partition_tree('"Acct Data"."Acct Events_shadow"'::regclass) t join pg_index i on i.indrelid = t.relid order by 1`.execute(t.db)).rows.map((r) => r.d);
    const before = await definitions();
    // Stopped at once: the indexes are dropped, the copy unfinished.
    const stopped = await runBackfill(stageFor(t, config, { settings }), { table, batchSize: 500, maxDuration: 0.01 });
    expect(stopped).toMatchObject({ complete: false, stopped_reason: 'max_duration', deferred_indexes: { dropped: ['Acct Events_shadow_pkey', 'Acct Events_ID_idx', 'Events By Kind_shadow', 'Events Payload_shadow'], leaf_indexes_built: 0 } });
    const plan = await runBackfill(stageFor(t, config, { settings }), { table, restart: true, dryRun: true });
    expect(plan.steps.filter((x) => x.id.startsWith('drop-index'))).toEqual([]);
    expect(plan.steps.filter((x) => x.id.startsWith('attach'))).toHaveLength(3 * 8);
    const restarted = await runBackfill(stageFor(t, config, { settings }), { table, restart: true, batchSize: 500 });
    expect(restarted).toMatchObject({ complete: true, restarted: true, total_rows_copied: 3000, deferred_indexes: { dropped: ['Acct Events_shadow_pkey', 'Acct Events_ID_idx', 'Events By Kind_shadow', 'Events Payload_shadow'], leaf_indexes_built: 32 } });
    expect(await definitions()).toEqual(before);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
  });
});

describe('backfill --keep-indexes', () => {
  it('keeps the secondary indexes through the copy; a copy already begun keeps its first run\'s choice; a run with nothing to copy drops nothing', async () => {
    const { config, table } = await freshEventsTable();
    const indexNames = async () => (await sql<{ n: string }>`select indexrelid::regclass::text as n from pg_index i join pg_partition_tree('"Acct Data"."Acct Events_shadow"'::regclass) t on t.relid = i.indrelid order by 1`.execute(t.db)).rows.map((r) => r.n);
    const before = await indexNames();
    const dropsSeen: string[] = [];
    const watch = (m: string) => { if (/dropped \d+ index/.test(m)) dropsSeen.push(m); };
    const kept = await runBackfill(stageFor(t, config, { settings, log: watch }), { table, batchSize: 1000, keepIndexes: true });
    expect(kept).toMatchObject({ complete: true, total_rows_copied: 3000, deferred_indexes: { dropped: [], leaf_indexes_built: 0 } });
    expect(await indexNames()).toEqual(before); // the same indexes, by name: never dropped
    // More rows, sync off: the walk goes on from its checkpoint, with the indexes its copy began with.
    await sql`insert into "Acct Data"."Acct Events" ("Scope Key", "Kind") select 'late:' || g, 'l' from generate_series(1, 500) g`.execute(t.db);
    const more = await runBackfill(stageFor(t, config, { settings, log: watch }), { table, batchSize: 1000 });
    expect(more).toMatchObject({ resumed: true, rows_copied: 500, deferred_indexes: { dropped: [] } });
    await runSync(stageFor(t, config, { settings }), { table, action: 'enable' });
    const nothing = await runBackfill(stageFor(t, config, { settings, log: watch }), { table });
    expect(nothing).toMatchObject({ rows_copied: 0, deferred_indexes: { dropped: [] } });
    expect(dropsSeen).toEqual([]);
    expect(await indexNames()).toEqual(before);
    expect(await differingRows(t.db, 'Acct Data', 'Acct Events', 'Acct Events_shadow')).toBe(0);
    await runSync(stageFor(t, config, { settings }), { table, action: 'disable' });
  });
});

describe('every built-in column type', () => {
  it('bytea, money, network, geometric, text search, xml, ranges, multiranges, composite and more copy, replay and verify exactly, and a changed value of any of them is named', async () => {
    await sql`create type "Zoo Pair" as (a int, b text)`.execute(t.db);
    await sql`create type "Zoo Mood" as enum ('calm', 'loud')`.execute(t.db);
    await sql`create domain "Zoo Ints" as int[] check (cardinality(value) < 9)`.execute(t.db);
    await sql`create table "Type Zoo" (id int primary key, bucket int not null,
      b bytea, m money, i inet, c cidr, mac macaddr, mac8 macaddr8, bt bit(4), vb varbit, tv tsvector, tq tsquery, x xml,
      pt point, ln line, ls lseg, bx box, pa path, po polygon, ci circle, iv interval, tz timetz, tm time,
      r4 int4range, rt tstzrange, mr int4multirange, u uuid, js json, jb jsonb, n numeric, f float8, ch char(3), qc "char",
      nm name, o oid, lsn pg_lsn, pair "Zoo Pair", mood "Zoo Mood", ints "Zoo Ints", ba bytea[], ia inet[])`.execute(t.db);
    const values = (from: number, to: number) => sql`insert into "Type Zoo" select g, g % 5,
      case when g % 7 = 0 then null else decode(md5(g::text), 'hex') end, (g * 1.25)::numeric::money, ('10.0.' || (g % 250) || '.1')::inet, ('10.' || (g % 250) || '.0.0/16')::cidr,
      ('08:00:2b:01:02:' || lpad(to_hex(g % 256), 2, '0'))::macaddr, ('08:00:2b:01:02:03:04:' || lpad(to_hex(g % 256), 2, '0'))::macaddr8,
      (g % 16)::bit(4), (g % 64)::bit(6)::varbit, to_tsvector('simple', 'word' || g || ' other'), to_tsquery('simple', 'word' || g),
      xmlelement(name a, g), point(g, -g), line(point(0, 0), point(1, g)), lseg(point(0, 0), point(g, 1)), box(point(0, 0), point(g, g)),
      path(polygon(box(point(0, 0), point(g, 1)))), polygon(box(point(0, 0), point(1, g))), circle(point(g, 0), 1 + g % 3),
      make_interval(days => g, secs => g / 7.0), ('12:00:00+0' || (g % 9))::timetz, make_time(g % 24, g % 60, 0.5),
      int4range(g, g + 10), tstzrange(timestamptz '2026-01-01' + g * interval '1 hour', null), int4multirange(int4range(1, g + 2), int4range(g + 5, g + 9)),
      ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, ('{"k": ' || g || ', "k": 2}')::json, jsonb_build_object('z', g, 'a', -0.0),
      case when g % 11 = 0 then 'NaN'::numeric else g / 3.0 end, case when g % 13 = 0 then 'Infinity'::float8 when g % 17 = 0 then -0.0 else g / 7.0 end,
      'ab', chr(65 + g % 26)::"char", ('n' || g)::name, g::oid, ('0/' || to_hex(g * 4096))::pg_lsn, row(g, 't' || g)::"Zoo Pair",
      (array['calm', 'loud'])[1 + g % 2]::"Zoo Mood", array[g, g + 1]::"Zoo Ints", array[decode('00ff', 'hex'), null], array['::1'::inet, null]
      from generate_series(${from}::int, ${to}::int) g`;
    await values(1, 400).execute(t.db);
    const config = parseConfig({ tables: [{ name: 'Type Zoo', layout: { type: 'hash', key: 'bucket', partitions: 4 } }] });
    await prepareShadows(t, config);
    await runSync(stageFor(t, config, { settings }), { table: 'Type Zoo', action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: 'Type Zoo', batchSize: 150 });
    // Writes after the copy go through the change log and replay.
    await sql`update "Type Zoo" set b = b || '\\x00'::bytea, x = xmlelement(name b, id), pt = point(0, 0), mr = '{}', pair = row(null, 'x') where id % 10 = 1`.execute(t.db);
    await sql`delete from "Type Zoo" where id % 10 = 2`.execute(t.db);
    await values(401, 450).execute(t.db);
    const equal = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(equal.checks.find((c) => c.name === 'equality')).toMatchObject({ status: 'pass' });
    expect(equal.equality).toMatchObject({ rows_legacy: 410, rows_shadow: 410, differing_rows: 0 });
    // One changed value in a column of each kind that has no SQL-callable hash on some major, or none at all.
    await sql`update "Type Zoo_shadow" set b = '\\xff' where id = 5`.execute(t.db);
    await sql`update "Type Zoo_shadow" set x = '<a>9</a>' where id = 6`.execute(t.db);
    await sql`update "Type Zoo_shadow" set pt = point(1, 1) where id = 8`.execute(t.db);
    await sql`update "Type Zoo_shadow" set ba = array['\\x01'::bytea] where id = 9`.execute(t.db);
    const changed = (await runVerify(stageFor(t, config))).tables[0]!;
    expect(changed.equality.differences.map((d) => `${d.kind} ${d.key.join('/')}`).sort()).toEqual(['changed 5', 'changed 6', 'changed 8', 'changed 9']);
  });
});
