import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { openDatabase, type PartgovDatabase } from '../../src/db/open-database.js';

export interface TestDatabase extends PartgovDatabase {
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

function urlWithDatabase(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** A fresh database of its own for one test file, on the run's server. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = openDatabase({ url: adminUrl, maxConnections: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  await admin.close();
  const url = urlWithDatabase(adminUrl, name);
  const conn = openDatabase({ url, maxConnections: 6 });
  return {
    ...conn,
    url,
    name,
    drop: async () => {
      await conn.close();
      const a = openDatabase({ url: adminUrl, maxConnections: 1 });
      await sql`drop database if exists ${sql.id(name)} with (force)`.execute(a.db);
      await a.close();
    },
  };
}

export { urlWithDatabase };
