import { sql } from 'kysely';
import { z } from 'zod';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput, textInput } from '../stage/stage-input.js';
import { withAdvisoryLocks } from '../db/advisory-lock.js';
import { requireTable } from '../db/catalog.js';
import { kyselyOnClient } from '../db/open-database.js';
import { InputInvalidError, LockUnavailableError, RunInProgressError, SafetyRefusedError, sqlStateOf } from '../errors.js';
import { isRetryableLockError, SqlState } from '../db/sqlstate.js';
import { assertStateSchema } from '../state/state-schema.js';
import { writeAudit } from '../steps/run-steps.js';
import { loadArchivedTable, readVerifiedArchive, scopeChecksumQuery, type ArchiveSource, type ArchivedTable } from './scope-archive.js';
import { archiveRowChecksum } from '../db/row-checksum.js';
import { parseScopeTarget, scopePredicate, resolveScopeSelector } from '../db/scope-target.js';
import { judged, type StageVerdict } from '../checks/check.js';
import { mayWriteAsReplica, quietWrites } from '../changelog/target-triggers.js';
import type { PartgovKysely } from '../db/state-tables.js';
import type pg from 'pg';

/** restore's input: defaults and limits once, for the library and the CLI. */
export const restoreInputSchema = z.object({
  archive: textInput('the archive directory purge --archive printed'),
  confirm: z.string().optional().describe("the archive's tenant and scope, as <tenant>/<scope>: required"),
  dryRun: flagInput('check the archive and the target; load nothing'),
  merge: flagInput("load into a scope that has rows already (another archive's, e.g. of a purge that left rows the application wrote during it); an archived row whose key is there refuses the restore"),
  replace: flagInput('with --merge: an archived row whose primary key the scope has already replaces that row (restore the later archive of a purge in rounds second: a row changed between the rounds is in both, and the later holds its newer version)'),
});
export type RestoreInput = z.input<typeof restoreInputSchema>;

export interface RestoreResult extends StageVerdict {
  archive: string;
  tenant_id: string;
  scope: string;
  dry_run: boolean;
  /** --merge: loaded beside the scope's rows (the figures are what it added). */
  merge: boolean;
  /** --replace: rows of the scope whose key the archive holds were replaced by the archive's versions. */
  replace: boolean;
  /** rows: what the archive put in (with --replace, rows_replaced of them replaced a row with their key). */
  tables: { table: string; rows: number; checksum: string; checksum_matches: boolean | null; rows_replaced: number | null }[];
  rows: number;
  duration_ms: number;
  audit_id: string | null;
}

/**
 * --replace: the archive's rows go to a temporary table first; the scope's
 * rows with their primary keys are deleted (their count and checksum
 * returned, for the proof), then the archive's rows inserted. A row with one
 * of those keys outside the scope is left alone, and its key then refuses the
 * restore (restore-rows-present).
 */
async function loadReplacing(client: pg.PoolClient, dir: string, s: ArchiveSource & { entry: ArchivedTable; key: readonly string[] }): Promise<{ rows: string; checksum: string }> {
  const staged = { schema: 'pg_temp', name: 'partgov_restore_rows' };
  const trx = kyselyOnClient(client);
  await sql`create temp table ${sql.id(staged.name)} (like ${sql.id(s.live.schema, s.live.name)}) on commit drop`.execute(trx);
  await loadArchivedTable(client, dir, s.entry, staged);
  const keyOf = (alias: string) => sql.join(s.key.map((c) => sql.id(alias, c)));
  const cols = sql.join(s.columns.map((c) => sql.id(c.name)));
  const gone = await sql<{ rows: string; checksum: string }>`
    with gone as (
      delete from ${sql.id(s.live.schema, s.live.name)} as s using ${sql.id(staged.schema, staged.name)} as a
      where ${scopePredicate(s.selector, { alias: 's' })} and (${keyOf('s')}) = (${keyOf('a')})
      returning s.*
    )
    select count(*)::text as rows, ${archiveRowChecksum(s.columns, 'g')} as checksum from gone g`.execute(trx);
  // As COPY (the plain restore), the archived identity values go in as they were.
  const overriding = s.columns.some((c) => c.identity !== null) ? sql`overriding system value` : sql``;
  await sql`insert into ${sql.id(s.live.schema, s.live.name)} (${cols}) ${overriding} select ${cols} from ${sql.id(staged.schema, staged.name)}`.execute(trx);
  await sql`drop table ${sql.id(staged.schema, staged.name)}`.execute(trx);
  return gone.rows[0]!;
}

/**
 * `partgov restore --archive DIR --confirm X/Y`: checks every file's SHA-256
 * against the manifest (an altered, missing or extra file is refused), refuses
 * a scope that has rows again, then loads every table in one transaction
 * (referenced tables first) and proves the restored rows' count and checksum
 * equal the archived ones before it commits.
 */
export async function runRestore(ctx: StageContext, raw: RestoreInput): Promise<RestoreResult> {
  const r = await restoreScope(ctx, raw);
  return judged(r, r.tables.map((t) => ({ name: `restore:${t.table}`, status: r.dry_run ? ('skip' as const) : t.checksum_matches === false ? ('fail' as const) : ('pass' as const), detail: `${t.rows} row(s)${t.checksum_matches === null ? '' : t.checksum_matches ? ', checksum equal to the archive' : ', checksum DIFFERENT from the archive'}`, figures: { rows: t.rows } })));
}

async function restoreScope(ctx: StageContext, raw: RestoreInput): Promise<Omit<RestoreResult, keyof StageVerdict>> {
  const i = parseStageInput('restore', restoreInputSchema, raw);
  const input = { ...i, archiveDir: i.archive };
  if (input.replace && !input.merge) throw new InputInvalidError('--replace works with --merge (it replaces rows of a scope that has rows)', { fix: 'add --merge' });
  const o = { settings: ctx.settings, config: requireConfig(ctx, 'restore') };
  const database = ctx.database;
  const started = performance.now();
  const manifest = await readVerifiedArchive(input.archiveDir);
  const target = parseScopeTarget({ tenantId: manifest.tenant_id, scope: manifest.scope, confirm: input.confirm }, 'restore');
  const { db } = database;
  await assertStateSchema(db);
  // Purge wrote referencing tables first; load the other way round.
  const entries = [...manifest.tables].reverse();
  const sources: (ArchiveSource & { entry: (typeof entries)[number]; key: readonly string[] })[] = [];
  for (const entry of entries) {
    const table = o.config.tables.find((t) => `${t.schema}.${t.name}` === entry.table);
    if (!table) throw new InputInvalidError(`the archive holds ${entry.table}, which is not in the config`, { fix: 'restore with the config the purge ran with' });
    const model = await requireTable(db, { schema: table.schema, name: table.name });
    const columns = entry.columns.map((name) => {
      const c = model.columns.find((x) => x.name === name && x.generated === null);
      if (!c) throw new InputInvalidError(`${entry.table} has no column ${JSON.stringify(name)} the archive holds`, { fix: 'restore into a table with the archived columns (the schema changed since the purge)' });
      return c;
    });
    // --merge trusts a unique key to refuse a row that is there already: without one it would load a duplicate.
    if (input.merge && !model.constraints.some((c) => c.kind === 'primary_key') && !model.indexes.some((x) => x.isUnique)) {
      throw new SafetyRefusedError('restore-merge-needs-key', `${entry.table} has no primary key or unique index: --merge could not tell an archived row that is there already, and would load it twice`, { fix: 'restore into an empty scope (leave --merge out), or give the table a primary key' });
    }
    const key = model.constraints.find((c) => c.kind === 'primary_key')?.columns ?? [];
    if (input.replace && key.length === 0) {
      throw new SafetyRefusedError('restore-replace-needs-key', `${entry.table} has no primary key: --replace could not tell which row an archived row replaces`, { fix: 'leave --replace out, or give the table a primary key' });
    }
    sources.push({ table: entry.table, live: { schema: table.schema, name: table.name }, selector: await resolveScopeSelector(db, o.config, table, target), columns, entry, key });
  }
  for (const s of input.merge ? [] : sources) {
    const any = await sql<{ x: boolean }>`select exists (select 1 from ${sql.id(s.live.schema, s.live.name)} where ${scopePredicate(s.selector)}) as x`.execute(db);
    if (any.rows[0]!.x) {
      throw new SafetyRefusedError('restore-scope-not-empty', `${s.table} already has rows of ${target.tenantId}/${target.scope}: restoring would duplicate them`, { fix: 'purge the scope first (with --archive, to keep what is there now), then restore; or, to add this archive to rows restored from another one, --merge' });
    }
  }
  // Restored rows come back as they were archived: the application's triggers must not rewrite them or repeat their
  // side effects (as pg_restore --disable-triggers). As a replica they stay quiet; without that right, refused.
  const mayReplica = await mayWriteAsReplica(db);
  let asReplica = false;
  for (const s of sources) asReplica = (await quietWrites(db, s.live, mayReplica, 'restore-target-triggers')) || asReplica;
  const base = { archive: input.archiveDir, tenant_id: target.tenantId, scope: target.scope, merge: input.merge, replace: input.replace };
  const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
  if (input.dryRun) {
    return { ...base, dry_run: true, tables: sources.map((s) => ({ table: s.table, rows: s.entry.rows, checksum: s.entry.checksum, checksum_matches: null, rows_replaced: null })), rows, duration_ms: Math.round(performance.now() - started), audit_id: null };
  }
  const labels = sources.map((s) => s.table);
  try {
    return await withAdvisoryLocks(db, 'partitions', labels, async () => {
      const client = await database.pool.connect();
      const tables: RestoreResult['tables'] = [];
      try {
        await client.query('begin');
        await client.query("select set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)", [`${o.settings.lockTimeoutMs}ms`, `${o.settings.statementTimeoutMs}ms`]);
        if (asReplica) await client.query("select set_config('session_replication_role', 'replica', true)");
        for (const s of sources) {
          const q = scopeChecksumQuery(s).compile(db);
          const scopeNow = async () => (await client.query<{ rows: string; checksum: string }>(q.sql, [...q.parameters])).rows[0]!;
          // --merge: the scope's rows before, so the proof is what the load added (the checksum is a sum).
          const before = input.merge ? await scopeNow() : { rows: '0', checksum: '0' };
          let replaced = { rows: '0', checksum: '0' };
          try {
            if (input.replace) replaced = await loadReplacing(client, input.archiveDir, s);
            else await loadArchivedTable(client, input.archiveDir, s.entry, s.live);
          } catch (err) {
            if (sqlStateOf(err) === SqlState.uniqueViolation) {
              throw new SafetyRefusedError('restore-rows-present', `${s.table}: a row of the archive is in the table already (${(err as { detail?: string }).detail ?? (err as Error).message}); nothing was restored`, {
                fix: input.merge ? 'that row was written again, or restored from another archive: if this archive is the later one of a purge in rounds, add --replace to take its version of the row; else restore into an empty scope (purge it first, with --archive)' : 'purge the scope first (with --archive), then restore',
              });
            }
            throw err;
          }
          // A replica skips foreign-key checks too: the restored rows' references are checked here instead.
          if (asReplica) await assertReferencesExist(client, db, s);
          const after = await scopeNow();
          // The checksum is a sum of int8 hashes: an integer, exact in BigInt.
          // With --replace: what is there now = before - the replaced rows + the archive's.
          const now = input.merge
            ? { rows: String(BigInt(after.rows) - BigInt(before.rows) + BigInt(replaced.rows)), checksum: String(BigInt(after.checksum) - BigInt(before.checksum) + BigInt(replaced.checksum)) }
            : after;
          const matches = Number(now.rows) === s.entry.rows && now.checksum === s.entry.checksum;
          tables.push({ table: s.table, rows: Number(now.rows), checksum: now.checksum, checksum_matches: matches, rows_replaced: input.replace ? Number(replaced.rows) : null });
          if (!matches) {
            throw new SafetyRefusedError('restore-checksum-mismatch', `${s.table}: restored ${now.rows} row(s) with checksum ${now.checksum}, the archive says ${s.entry.rows} with ${s.entry.checksum}`, { fix: 'nothing was restored; check the table definition against the archive (types, collations) and report it' });
          }
        }
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        if (isRetryableLockError(err)) {
          throw new LockUnavailableError(`restore: could not get its locks within lock_timeout ${o.settings.lockTimeoutMs} ms`, { fix: 'run again when the conflicting session is gone, or raise --lock-timeout', cause: err });
        }
        throw err;
      } finally {
        client.release();
      }
      const auditId = await writeAudit(db, { command: 'restore', table: labels.join(', '), appEnv: o.settings.appEnv, tenantId: target.tenantId, scope: target.scope }, 'succeeded', [], { archive: input.archiveDir, tables });
      return { ...base, dry_run: false, tables, rows, duration_ms: Math.round(performance.now() - started), audit_id: auditId };
    });
  } catch (err) {
    if (err instanceof RunInProgressError) throw new SafetyRefusedError('restore-in-progress', `${err.message}: a purge, isolate or maintain is changing these tables`, { fix: err.fix });
    throw err;
  }
}

/**
 * Every restored row's foreign keys (MATCH SIMPLE: a NULL in the key skips the
 * check) point at an existing row, as the checks a replica skips would have
 * proved; refused (and the restore rolled back) naming the constraint otherwise.
 */
async function assertReferencesExist(client: pg.PoolClient, db: PartgovKysely, s: ArchiveSource): Promise<void> {
  const fks = await sql<{ name: string; columns: string[]; parent_schema: string; parent_name: string; parent_columns: string[] }>`
    select k.conname as name,
           array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i) join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) as columns,
           pn.nspname as parent_schema, pc.relname as parent_name,
           array(select a.attname::text from unnest(k.confkey) with ordinality u(n, i) join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i) as parent_columns
    from pg_constraint k join pg_class pc on pc.oid = k.confrelid join pg_namespace pn on pn.oid = pc.relnamespace
    where k.contype = 'f' and k.conparentid = 0 and k.conrelid = (quote_ident(${s.live.schema}) || '.' || quote_ident(${s.live.name}))::regclass`.execute(db);
  for (const fk of fks.rows) {
    const present = sql.join(fk.columns.map((c) => sql`r.${sql.id(c)} is not null`), sql` and `);
    const match = sql.join(fk.columns.map((c, i) => sql`p.${sql.id(fk.parent_columns[i]!)} = r.${sql.id(c)}`), sql` and `);
    const q = sql<{ n: string }>`select count(*)::text as n from ${sql.id(s.live.schema, s.live.name)} r
      where ${scopePredicate(s.selector, { alias: 'r' })} and ${present}
        and not exists (select 1 from ${sql.id(fk.parent_schema, fk.parent_name)} p where ${match})`.compile(db);
    const orphans = Number((await client.query<{ n: string }>(q.sql, [...q.parameters])).rows[0]!.n);
    if (orphans > 0) {
      throw new SafetyRefusedError('restore-missing-references', `${s.table}: ${orphans} restored row(s) break foreign key ${fk.name}: the ${fk.parent_schema}.${fk.parent_name} row(s) they reference are gone since the purge`, {
        fix: `nothing was restored; restore ${fk.parent_schema}.${fk.parent_name}'s rows first (from their own archive), or accept the loss`,
        details: { constraint: fk.name, orphans },
      });
    }
  }
}
