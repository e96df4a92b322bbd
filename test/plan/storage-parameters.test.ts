import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { resolveSettings } from '../../src/config/runtime-settings.js';
import { runIsolate } from '../../src/maintain/isolate-scope.js';
import { runMaintain } from '../../src/maintain/run-maintain.js';
import { runMigrate } from '../../src/migrate/run-migrate.js';
import { runPlan } from '../../src/plan/run-plan.js';
import { runSync } from '../../src/sync/run-sync.js';
import { runBackfill } from '../../src/backfill/run-backfill.js';
import { runVerify } from '../../src/verify/run-verify.js';
import { runCutover } from '../../src/cutover/run-cutover.js';
import { prepareShadows } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

let t: TestDatabase;
const settings = resolveSettings({ lockTimeout: '2000' }, {}, undefined);
const tuned = `fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, toast.autovacuum_enabled = false`;

beforeAll(async () => {
  t = await createTestDatabase('storageparams');
  await runMigrate(stageFor(t, undefined), { action: 'up' });
});
afterAll(async () => t.drop());

/** Each leaf under a partitioned table with its storage parameters and its TOAST table's. */
const leafOptions = async (root: string) =>
  (await sql<{ leaf: string; table: string[] | null; toast: string[] | null; identity: string }>`
    select c.relname as leaf, c.reloptions as table, (select x.reloptions from pg_class x where x.oid = c.reltoastrelid) as toast, c.relreplident as identity
    from pg_partition_tree(${root}::regclass) p join pg_class c on c.oid = p.relid where p.isleaf order by 1`.execute(t.db)).rows;

describe('storage parameters (fillfactor, autovacuum_*) and the replica identity of a tuned table', () => {
  it('go on every leaf plan creates, on the partitions isolate and maintain add later, and cutover sets what a leaf lacks', async () => {
    await sql`create table "Hot Notes" (id bigint primary key, scope_key text not null, body text) with (${sql.raw(tuned)})`.execute(t.db);
    await sql`insert into "Hot Notes" select g, 'k' || g % 5, 'b' from generate_series(1, 200) g`.execute(t.db);
    await sql`alter table "Hot Notes" replica identity full`.execute(t.db); // change data capture wants whole old rows
    await sql`create table "Hot Events" (id bigint, at date not null, body text, primary key (at, id)) with (${sql.raw(tuned)})`.execute(t.db);
    await sql`insert into "Hot Events" select g, date '2026-10-01' + g % 50, 'b' from generate_series(1, 200) g`.execute(t.db);
    const config = parseConfig({
      tables: [
        { name: 'Hot Notes', layout: { type: 'isolatable', key: 'scope_key', isolated: ['k1'], partitions: 2 }, tenant_column: 'scope_key', scope_column: 'scope_key', scope_key_column: 'scope_key', cutover: { acknowledge_key_change: ['scope_key', 'id'] } },
        { name: 'Hot Events', layout: { type: 'range', column: 'at', interval: 'month', premake: 1, start: '2026-10-01', default_partition: true } },
      ],
    });
    const plan = await runPlan(stageFor(t, config));
    expect(plan.tables[0]!.notes.join('\n')).toMatch(/storage parameters fillfactor=70, autovacuum_vacuum_scale_factor=0\.01, toast\.autovacuum_enabled=false of Hot Notes go on every leaf/);
    await prepareShadows(t, config);
    const expected = { table: ['fillfactor=70', 'autovacuum_vacuum_scale_factor=0.01'], toast: ['autovacuum_enabled=false'] };
    const notes = await leafOptions('"Hot Notes_shadow"');
    expect(notes.length).toBe(3); // k1, and the DEFAULT hashed 2 ways
    for (const l of notes) expect(l).toMatchObject({ ...expected, identity: 'f' });

    await runIsolate(stageFor(t, config, { settings }), { tenantId: 'k7', scope: 'k7', confirm: 'k7/k7', table: ['Hot Notes'] }); // a new scope
    await runIsolate(stageFor(t, config, { settings }), { tenantId: 'k2', scope: 'k2', confirm: 'k2/k2', table: ['Hot Notes'] }); // rows moved out of the DEFAULT
    const isolated = await leafOptions('"Hot Notes_shadow"');
    expect(isolated.length).toBe(5);
    for (const l of isolated) expect(l).toMatchObject({ ...expected, identity: 'f' });

    // A leaf without it (a shadow planned before plan set it) gets it from cutover, before the lock.
    await sql`alter table ${sql.id(isolated[0]!.leaf)} replica identity default`.execute(t.db);
    await runSync(stageFor(t, config, { settings }), { table: 'Hot Notes', action: 'enable' });
    await runBackfill(stageFor(t, config, { settings }), { table: 'Hot Notes' });
    expect((await runVerify(stageFor(t, config), { table: 'Hot Notes' })).ok).toBe(true);
    const swapped = await runCutover(stageFor(t, config, { settings }), { table: 'Hot Notes', confirm: 'Hot Notes' });
    expect(swapped.objects).toContainEqual(expect.objectContaining({ kind: 'replica_identity', name: 'full', action: 'carried' }));
    for (const l of await leafOptions('"Hot Notes"')) expect(l.identity).toBe('f');

    const before = (await leafOptions('"Hot Events_shadow"')).length;
    const maintained = await runMaintain(stageFor(t, config, { settings, now: new Date('2027-02-10T03:00:00Z') }));
    expect(maintained.tables[0]!.created.length).toBeGreaterThan(0);
    const events = await leafOptions('"Hot Events_shadow"');
    expect(events.length).toBe(before + maintained.tables[0]!.created.length);
    for (const l of events) expect(l).toMatchObject(expected);
  });
});
