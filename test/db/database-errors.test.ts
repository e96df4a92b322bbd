import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPartgovError } from '../../src/errors.js';
import { openDatabase } from '../../src/db/open-database.js';
import { createAppRole } from '../helpers/app-role.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase('dberrors');
});
afterAll(async () => t.drop());

const caught = async (work: () => Promise<unknown>) => toPartgovError(await work().then(() => new Error('no error'), (e: unknown) => e));

describe('a server older than PostgreSQL 14', () => {
  it('refuses the session setting partgov starts every connection with: the fix names the version', () => {
    const refused = Object.assign(new Error('unrecognized configuration parameter "client_connection_check_interval"'), { code: '42704' });
    const e = toPartgovError(refused);
    expect(e.exitCode).toBe(5);
    expect(e.fix).toMatch(/partgov needs PostgreSQL 14 or later/);
    // Another unknown parameter is not taken for an old server.
    expect(toPartgovError(Object.assign(new Error('unrecognized configuration parameter "foo"'), { code: '42704' })).fix).not.toMatch(/14 or later/);
  });
});

describe('a database error partgov has no better word for', () => {
  it('gets a fix for its kind of failure, from the server\'s SQLSTATE, and exit 5', async () => {
    const timeout = await caught(() => t.db.transaction().execute(async (trx) => {
      await sql`set local statement_timeout = 10`.execute(trx);
      await sql`select pg_sleep(1)`.execute(trx);
    }));
    expect(timeout.exitCode).toBe(5);
    expect(timeout.message).toMatch(/SQLSTATE 57014/);
    expect(timeout.fix).toMatch(/raise statement_timeout_ms/);

    await sql`create table secret (id int)`.execute(t.db);
    const app = await createAppRole(t, []);
    try {
      const denied = await caught(() => sql`select * from secret`.execute(app.open(1).db));
      expect(denied.message).toMatch(/SQLSTATE 42501/);
      expect(denied.fix).toMatch(/grant the role the privilege/);
    } finally {
      await app.drop();
    }

    await sql`create table positive (v int check (v > 0))`.execute(t.db);
    const broken = await caught(() => sql`insert into positive values (-1)`.execute(t.db));
    expect(broken.fix).toMatch(/breaks a constraint/);
    expect(broken.fix).not.toMatch(/reachable/);

    const url = new URL(t.url);
    url.pathname = '/partgov_no_such_database';
    const missing = openDatabase({ url: url.toString(), maxConnections: 1 });
    try {
      const gone = await caught(() => sql`select 1`.execute(missing.db));
      expect(gone.message).toMatch(/SQLSTATE 3D000/);
      expect(gone.fix).toMatch(/does not exist on that server: check its name/);
    } finally {
      await missing.close();
    }
  });
});
