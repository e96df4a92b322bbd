import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { openDatabase, type PartgovDatabase } from '../../src/db/open-database.js';
import type { TestDatabase } from './test-database.js';

export interface AppRole {
  name: string;
  url: string;
  /** A pool connected as the application role. */
  open(maxConnections?: number): PartgovDatabase;
  drop(): Promise<void>;
}

/**
 * A non-owner, non-superuser application role with DML rights on the given
 * tables (and their sequences) and nothing else: no right on any shadow, on
 * schema partgov, or to create anything. Roles are cluster-wide: drop() in finally.
 */
export async function createAppRole(t: TestDatabase, tables: { schema: string; name: string }[]): Promise<AppRole> {
  const name = `app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(8).toString('hex');
  await sql`create role ${sql.id(name)} login password ${sql.lit(password)} nosuperuser nocreatedb nocreaterole`.execute(t.db);
  await sql`grant connect on database ${sql.id(t.name)} to ${sql.id(name)}`.execute(t.db);
  for (const tb of tables) {
    await sql`grant usage on schema ${sql.id(tb.schema)} to ${sql.id(name)}`.execute(t.db);
    await sql`grant select, insert, update, delete, truncate on ${sql.id(tb.schema, tb.name)} to ${sql.id(name)}`.execute(t.db);
    await sql`grant usage on all sequences in schema ${sql.id(tb.schema)} to ${sql.id(name)}`.execute(t.db);
  }
  const u = new URL(t.url);
  u.username = name;
  u.password = password;
  const url = u.toString();
  const pools: PartgovDatabase[] = [];
  return {
    name,
    url,
    open: (maxConnections = 2) => {
      const p = openDatabase({ url, maxConnections, applicationName: 'the application' });
      pools.push(p);
      return p;
    },
    drop: async () => {
      for (const p of pools) await p.close().catch(() => undefined);
      await sql`drop owned by ${sql.id(name)}`.execute(t.db).catch(() => undefined);
      await sql`drop role if exists ${sql.id(name)}`.execute(t.db);
    },
  };
}
