import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { InputInvalidError } from '../errors.js';
import { describeDatabaseUrl } from './database-url.js';
import type { StateDatabase } from './state-tables.js';

export interface OpenDatabaseOptions {
  url: string | undefined;
  /** Shown in pg_stat_activity, so a DBA can see which partgov command a session belongs to. */
  applicationName?: string;
  maxConnections?: number;
  statementTimeoutMs?: number;
  /**
   * Settings every session of the pool starts with (startup options, not SQL):
   * for a pool whose every transaction wants them, one round trip less per
   * transaction than SET LOCAL. Names and values are partgov's own.
   */
  sessionSettings?: Readonly<Record<string, string>>;
}

export interface PartgovDatabase {
  db: Kysely<StateDatabase>;
  pool: pg.Pool;
  /** Another pool on the same server and database (parallel readers): the caller closes it. */
  open(options?: { maxConnections?: number; applicationName?: string; sessionSettings?: Readonly<Record<string, string>> }): PartgovDatabase;
  close(): Promise<void>;
}

/**
 * A kysely instance whose every query runs on `client`, inside whatever
 * transaction the caller has open on it (BEGIN and COMMIT are the caller's).
 */
export function kyselyOnClient(client: pg.PoolClient): Kysely<StateDatabase> {
  const one = { query: client.query.bind(client), release: () => undefined } as unknown as pg.PoolClient;
  return new Kysely<StateDatabase>({ dialect: new PostgresDialect({ pool: { connect: () => Promise.resolve(one), end: () => Promise.resolve() } }) });
}

// A killed partgov (kill -9, a lost laptop) must not leave its session waiting in a lock
// queue, or holding locks, until lock_timeout: the server checks the socket every 2 s while
// a statement runs (PostgreSQL 14+), and ends a session idle inside a transaction for 10 min.
// Values partgov keeps as text (backfill's keyset positions, checkpoints) must read back the same in a
// later session whatever the role's or database's settings: ISO dates (a 'SQL, DMY' 28/03/2026 failed, or
// read as another day, under MDY), shortest-exact floats (extra_float_digits 0 rounds them), hex bytea, and
// the postgres interval style. TimeZone stays the server's: ISO output carries the offset, and an
// activity column without a time zone is compared with now() in the zone the application wrote it in.
// And the SQL partgov writes means what it says: standard strings (a literal's backslash is a
// backslash) and read committed (a role defaulting to serializable would fail copies and replays
// with serialization errors; where partgov needs a snapshot it asks for one).
const baseSessionSettings: Readonly<Record<string, string>> = {
  client_connection_check_interval: '2000',
  idle_in_transaction_session_timeout: '600000',
  datestyle: 'ISO',
  intervalstyle: 'postgres',
  extra_float_digits: '1',
  bytea_output: 'hex',
  standard_conforming_strings: 'on',
  default_transaction_isolation: 'read committed',
};

/** `-c name=value …` as the startup packet's options: a space or backslash in a value is escaped with a backslash. */
export function startupOptions(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`not a setting name: ${name}`);
      return `-c ${name}=${value.replace(/[\\ ]/g, (c) => `\\${c}`)}`;
    })
    .join(' ');
}

/** Opens a kysely instance over a pg pool. Fails with exit 2 when no URL is given. */
export function openDatabase(options: OpenDatabaseOptions): PartgovDatabase {
  if (!options.url) {
    throw new InputInvalidError('no database to connect to', {
      fix: 'pass --database-url postgres://user@host/db or set DATABASE_URL',
    });
  }
  describeDatabaseUrl(options.url); // validates the URL shape before pg sees it
  const pool = new pg.Pool({
    connectionString: options.url,
    application_name: options.applicationName ?? 'partgov',
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    options: startupOptions({ ...baseSessionSettings, ...options.sessionSettings }),
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client whose backend is terminated emits 'error' on the pool; without a
  // listener Node would crash the process. The next checkout gets a fresh client.
  pool.on('error', () => undefined);
  // Same for a checked-out client whose backend dies between two statements: the
  // next query on it fails (and is retried where that is safe); the event must not crash us.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<StateDatabase>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    open: (more = {}) => openDatabase({ ...options, ...more }),
    close: () => db.destroy(),
  };
}
