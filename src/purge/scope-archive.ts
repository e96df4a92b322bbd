import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql, type RawBuilder } from 'kysely';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { ColumnModel } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import { valueSlug } from '../db/object-names.js';
import { archiveRowChecksum } from '../db/row-checksum.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError, SafetyRefusedError } from '../errors.js';
import { scopePredicate, setScopeSettings, type ScopeSelector, type ScopeTarget } from '../db/scope-target.js';

export const archiveFormat = 'partgov-scope-archive/1';

export interface ArchivedTable {
  table: string;
  file: string;
  columns: string[];
  rows: number;
  /** Order-independent checksum of the rows (the one verify uses), checked again after a restore. */
  checksum: string;
  /** SHA-256 of the compressed file. */
  sha256: string;
  bytes: number;
}

export interface ArchiveManifest {
  format: typeof archiveFormat;
  tenant_id: string;
  scope: string;
  created_at: string;
  server_version: string;
  tables: ArchivedTable[];
}

export interface ArchiveSource {
  table: string;
  live: { schema: string; name: string };
  selector: ScopeSelector;
  columns: readonly ColumnModel[];
  /**
   * Record each archived row's version (tableoid, ctid, xmin) in
   * partgov.purge_archived_row, from the archive's own snapshot: a table the
   * purge DELETEs from then loses exactly the archived rows (deleteArchivedRows).
   */
  recordRowVersions?: boolean;
}

/** Passes bytes through while hashing them. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

function compiled(db: PartgovKysely, q: RawBuilder<unknown>): { text: string; values: unknown[] } {
  const c = q.compile(db);
  return { text: c.sql, values: [...c.parameters] };
}

/** `count(*)` and the row checksum of a table's rows of the scope. */
export function scopeChecksumQuery(source: ArchiveSource, o: { fromSettings?: boolean } = {}): RawBuilder<{ rows: string; checksum: string }> {
  const types = new Map(source.columns.map((c) => [c.name, c.type]));
  const where = scopePredicate(source.selector, { alias: 's', ...(o.fromSettings ? { fromSettings: { columnTypes: types } } : {}) });
  return sql<{ rows: string; checksum: string }>`select count(*)::text as rows, ${archiveRowChecksum(source.columns, 's')} as checksum
    from ${sql.id(source.live.schema, source.live.name)} s where ${where}`;
}

/** What a run killed while it archived leaves: `<tenant>__<scope>__<time>.partial`, never a complete-looking archive. */
const partialSuffix = '.partial';

/**
 * Streams each table's rows of the scope to `<dir>/<NN>-<table>.copy.gz`
 * (COPY text format, gzip) from one REPEATABLE READ snapshot, with the row
 * count and checksum taken from the same snapshot, and writes MANIFEST.json
 * with the SHA-256 of every file. The files are written under a `.partial`
 * name, renamed once MANIFEST.json is there; such leftovers of this scope from
 * runs that died (the caller holds the scope's purge lock) are removed first.
 * Returns the manifest and the leftovers removed.
 */
export async function writeScopeArchive(db: PartgovKysely, pool: pg.Pool, dir: string, target: ScopeTarget, sources: readonly ArchiveSource[]): Promise<{ dir: string; manifest: ArchiveManifest; removedPartials: string[] }> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const prefix = `${valueSlug(target.tenantId)}__${valueSlug(target.scope)}__`;
  await mkdir(dir, { recursive: true });
  const removedPartials: string[] = [];
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix) && name.endsWith(partialSuffix)) {
      await rm(path.join(dir, name), { recursive: true, force: true });
      removedPartials.push(path.resolve(dir, name));
    }
  }
  // A second archive of the scope within the same second (a purge run again at once) gets a suffix, never another's name.
  const taken = new Set(await readdir(dir));
  let name = `${prefix}${stamp}`;
  for (let n = 2; taken.has(name); n++) name = `${prefix}${stamp}-${n}`;
  const out = path.resolve(dir, name);
  const partial = `${out}${partialSuffix}`;
  await mkdir(partial);
  const client = await pool.connect();
  const tables: ArchivedTable[] = [];
  try {
    const recording = sources.some((x) => x.recordRowVersions);
    // Read-only unless it records row versions: the same snapshot either way.
    await client.query(`begin isolation level repeatable read${recording ? '' : ' read only'}`);
    if (recording) {
      const stale = compiled(db, sql`delete from partgov.purge_archived_row where tenant_id = ${target.tenantId} and scope = ${target.scope}`); // a killed run's
      await client.query(stale.text, stale.values);
    }
    const version = (await client.query<{ v: string }>('select current_setting(\'server_version\') as v')).rows[0]!.v;
    for (const [i, source] of sources.entries()) {
      const settings = compiled(db, setScopeSettings(source.selector));
      await client.query(settings.text, settings.values);
      if (source.recordRowVersions) {
        const record = compiled(
          db,
          sql`insert into partgov.purge_archived_row (tenant_id, scope, relid, row_ctid, row_xmin)
            select ${target.tenantId}::text, ${target.scope}::text, s.tableoid, s.ctid, s.xmin from ${sql.id(source.live.schema, source.live.name)} s where ${scopePredicate(source.selector, { alias: 's' })}`,
        );
        await client.query(record.text, record.values);
      }
      const sums = compiled(db, scopeChecksumQuery(source));
      const figures = (await client.query<{ rows: string; checksum: string }>(sums.text, sums.values)).rows[0]!;
      const types = new Map(source.columns.map((c) => [c.name, c.type]));
      const copyText = compileDdl(
        sql`copy (select ${sql.join(source.columns.map((c) => sql.id(c.name)))} from ${sql.id(source.live.schema, source.live.name)} where ${scopePredicate(source.selector, { fromSettings: { columnTypes: types } })}) to stdout`,
      );
      const file = `${String(i + 1).padStart(2, '0')}-${valueSlug(`${source.live.schema}.${source.live.name}`)}.copy.gz`;
      const hash = createHash('sha256');
      await pipeline(client.query(copyTo(copyText)), createGzip(), hashing(hash), createWriteStream(path.join(partial, file)));
      tables.push({
        table: source.table,
        file,
        columns: source.columns.map((c) => c.name),
        rows: Number(figures.rows),
        checksum: figures.checksum,
        sha256: hash.digest('hex'),
        bytes: (await stat(path.join(partial, file))).size,
      });
    }
    await client.query('commit');
    const manifest: ArchiveManifest = { format: archiveFormat, tenant_id: target.tenantId, scope: target.scope, created_at: new Date().toISOString(), server_version: version, tables };
    await writeFile(path.join(partial, 'MANIFEST.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(partial, out);
    return { dir: out, manifest, removedPartials };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    await rm(partial, { recursive: true, force: true });
    throw err;
  } finally {
    client.release();
  }
}

/** Reads MANIFEST.json and checks every file's SHA-256; refuses (exit 3) an altered, missing or extra file. */
export async function readVerifiedArchive(dir: string): Promise<ArchiveManifest> {
  let manifest: ArchiveManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, 'MANIFEST.json'), 'utf8')) as ArchiveManifest;
  } catch (err) {
    throw new InputInvalidError(`${dir} is not a partgov scope archive (MANIFEST.json: ${(err as Error).message})`, { fix: 'pass the directory purge --archive printed (…/<tenant>__<scope>__<time>)' });
  }
  if (manifest.format !== archiveFormat || !Array.isArray(manifest.tables)) {
    throw new InputInvalidError(`${dir}/MANIFEST.json is not a ${archiveFormat} manifest`, { fix: 'pass the directory purge --archive printed' });
  }
  const listed = new Set(manifest.tables.map((t) => t.file));
  const extra = (await readdir(dir)).filter((f) => f !== 'MANIFEST.json' && !listed.has(f));
  const problems: string[] = extra.map((f) => `${f} is not in the manifest`);
  for (const t of manifest.tables) {
    if (path.basename(t.file) !== t.file) {
      problems.push(`${t.file} is not a plain file name`);
      continue;
    }
    const hash = createHash('sha256');
    try {
      await pipeline(createReadStream(path.join(dir, t.file)), hashing(hash), new PassThrough().resume());
    } catch {
      problems.push(`${t.file} is missing`);
      continue;
    }
    const digest = hash.digest('hex');
    if (digest !== t.sha256) problems.push(`${t.file}: SHA-256 ${digest} ≠ ${t.sha256} in the manifest`);
  }
  if (problems.length > 0) {
    throw new SafetyRefusedError('restore-archive-altered', `the archive ${dir} does not match its manifest:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      fix: 'restore from an unaltered copy of the archive',
      details: { problems },
    });
  }
  return manifest;
}

/** Loads one archived file into a table with COPY FROM, inside the caller's transaction. */
export async function loadArchivedTable(client: pg.PoolClient, dir: string, entry: ArchivedTable, live: { schema: string; name: string }): Promise<void> {
  const text = compileDdl(sql`copy ${sql.id(live.schema, live.name)} (${sql.join(entry.columns.map((c) => sql.id(c)))}) from stdin`);
  await pipeline(createReadStream(path.join(dir, entry.file)), createGunzip(), client.query(copyFrom(text)));
}
