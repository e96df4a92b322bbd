import { strictly, verdict, type Check } from '../checks/check.js';
import { sql } from 'kysely';
import { compileDdl } from '../db/compile-ddl.js';
import { mayWriteAsReplica } from '../changelog/target-triggers.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { evaluateAppEnvRules } from '../config/app-env-rules.js';
import { partitionKeyColumns, type TableConfig } from '../config/config-schema.js';
import { findTableOid, introspectTable, readTablePrivileges } from '../db/catalog.js';
import { z } from 'zod';
import type { StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput } from '../stage/stage-input.js';
import { redactSecrets } from '../db/database-url.js';
import { objectNames } from '../db/object-names.js';
import { archiveNameOf } from '../db/shadow-pair.js';
import { lastSucceeded } from '../state/run-ledger.js';
import { pendingStateMigrations, stateSchema } from '../state/state-schema.js';
import { ddlGuardCheck, isSyncEnabled } from '../changelog/sync-state.js';

/** A preflight check is the common Check (src/checks/check.ts). */
export type PreflightCheck = Check;

export interface PreflightResult {
  /** Decided here: no failed check (and with strict, no warning). */
  ok: boolean;
  app_env: string;
  strict: boolean;
  server_version: string | null;
  checks: PreflightCheck[];
  failed: number;
  warned: number;
}

/** preflight's input: defaults and limits once, for the library and the CLI. */
export const preflightInputSchema = z.object({
  strict: flagInput('warnings count as failures'),
});
export type PreflightInput = z.input<typeof preflightInputSchema>;

/** PostgreSQL majors partgov supports (PRODUCT.md §8). */
export const minServerVersionNum = 140000;
export const maxServerMajor = 18;

async function tableChecks(db: PartgovKysely, t: TableConfig): Promise<PreflightCheck[]> {
  const label = `${t.schema}.${t.name}`;
  const oid = await findTableOid(db, t);
  if (oid === null) {
    return [
      {
        name: `table_exists:${label}`,
        status: 'fail',
        detail: `table ${label} does not exist`,
        fix: 'check "schema" and "name" in the config; names are case-sensitive',
      },
    ];
  }
  const checks: PreflightCheck[] = [{ name: `table_exists:${label}`, status: 'pass', detail: `table ${label} exists` }];
  const p = await readTablePrivileges(db, oid);
  const missing = [
    ['SELECT', p.canSelect],
    ['INSERT', p.canInsert],
    ['UPDATE', p.canUpdate],
    ['DELETE', p.canDelete],
    ['TRIGGER', p.canTrigger],
  ]
    .filter(([, has]) => !has)
    .map(([name]) => name as string);
  if (missing.length > 0 || !p.isOwner) {
    const what = [...missing, ...(p.isOwner ? [] : ['ownership (needed for DDL: rename, triggers, attach)'])];
    checks.push({
      name: `privileges:${label}`,
      status: 'fail',
      detail: `the current role lacks ${what.join(', ')} on ${label}`,
      fix: `connect as the table owner, or GRANT the owning role to this role (GRANT <owner> TO <role>)`,
    });
  } else {
    checks.push({ name: `privileges:${label}`, status: 'pass', detail: 'owner, with SELECT/INSERT/UPDATE/DELETE/TRIGGER' });
  }
  // plan's shadow and its partitions are created in the table's schema.
  const create = await sql<{ ok: boolean }>`select has_schema_privilege(current_user, ${t.schema}, 'CREATE') as ok`.execute(db);
  checks.push(
    create.rows[0]!.ok
      ? { name: `schema_create:${label}`, status: 'pass', detail: `may create the shadow in schema ${t.schema}` }
      : { name: `schema_create:${label}`, status: 'fail', detail: `the current role has no CREATE on schema ${t.schema}, where the shadow of ${label} goes`, fix: `${compileDdl(sql`grant create on schema ${sql.id(t.schema)} to`)} <this role> (or run partgov as the schema owner)` },
  );
  const model = await introspectTable(db, t);
  const columns = new Set(model?.columns.map((c) => c.name));
  const absent = partitionKeyColumns(t.layout).filter((c) => !columns.has(c));
  checks.push(
    absent.length
      ? {
          name: `key_column:${label}`,
          status: 'fail',
          detail: `partition key column ${absent.map((c) => JSON.stringify(c)).join(', ')} not in ${label}`,
          fix: `set the layout key to one of: ${[...columns].join(', ')}`,
        }
      : { name: `key_column:${label}`, status: 'pass', detail: `key ${partitionKeyColumns(t.layout).join(', ')} present` },
  );
  // Before the shadow exists only: a full copy lands in the table's own tablespace (plan creates it there).
  if (model?.tablespace && !model.partitioned && (await findTableOid(db, { schema: t.schema, name: objectNames.shadow(t.name) })) === null) {
    checks.push({
      name: `tablespace:${label}`,
      status: 'pass',
      detail: `${label} lives in tablespace ${model.tablespace}; plan creates its shadow there too: a full copy, ${Math.round(model.totalBytes / 1024 / 1024)} MB today with indexes, so that volume needs the room`,
    });
  }
  if (model && model.inheritanceChildren.length > 0) {
    checks.push({
      name: `inheritance:${label}`,
      status: 'fail',
      detail: `${label} has inheritance child table(s) ${model.inheritanceChildren.join(', ')}: their rows are read with it, their writes bypass its sync triggers (sync enable refuses)`,
      fix: `fold the children into ${label} (insert into only <parent> select * from only <child>; alter table <child> no inherit <parent>), or configure each child as a table of its own`,
    });
  }
  const appTriggers = model?.partitioned === false ? model.triggers.filter((x) => x.enabled && !x.name.startsWith('partgov_')).map((x) => x.name) : [];
  if (appTriggers.length > 0) {
    // The shadow needs them before cutover, and partgov's writes into it must not fire them (see replicaWrites).
    checks.push((await mayWriteAsReplica(db))
      ? { name: `app_triggers:${label}`, status: 'pass', detail: `trigger(s) ${appTriggers.join(', ')}: partgov writes copies as a replica, so on the shadow they stay quiet for its copy and replay` }
      : {
          name: `app_triggers:${label}`,
          status: 'warn',
          detail: `${label} has trigger(s) ${appTriggers.join(', ')}, which the shadow needs before cutover; this role may not set session_replication_role, so once they are on the shadow its copy and replay would fire them, and sync enable and backfill refuse`,
          fix: 'run partgov as a superuser, or (PostgreSQL 15+) GRANT SET ON PARAMETER session_replication_role TO <this role>',
        });
  }
  // While sync is on, the capture reads key columns by name: say whether renaming them is refused.
  const stateReady = (await sql<{ ok: boolean }>`select to_regclass('partgov.sync_guard') is not null as ok`.execute(db)).rows[0]!.ok;
  if (stateReady && ((await isSyncEnabled(db, t.schema, t.name, 'forward')) || (await isSyncEnabled(db, t.schema, t.name, 'reverse')))) checks.push(await ddlGuardCheck(db, t));
  if (model?.partitioned) {
    // Cut over by partgov (its archive kept, or retired after a recorded cutover): partitioned is where it should be.
    const archived = (await findTableOid(db, { schema: t.schema, name: archiveNameOf(t) })) !== null;
    const cutAt = archived ? null : await lastSucceeded(db, 'cutover', label).catch(() => null);
    if (archived || cutAt) {
      checks.push({ name: `not_partitioned:${label}`, status: 'pass', detail: `${label} is cut over (${model.partitionKey})${archived ? `, ${archiveNameOf(t)} kept for a rollback` : `, retired after the cutover of ${cutAt!.toISOString()}`}` });
      return checks;
    }
    checks.push({
      name: `not_partitioned:${label}`,
      status: 'warn',
      detail: `${label} is already partitioned (${model.partitionKey})`,
      fix: 'nothing to migrate for this table; remove it from the config or point it at the legacy table',
    });
  }
  return checks;
}

/**
 * The state schema: up to date, and usable by this role. A missing schema needs
 * CREATE on the database; an existing one that another role owns needs USAGE
 * (and CREATE for the change-log tables), or `migrate up` cannot help.
 */
async function stateSchemaCheck(db: PartgovKysely, pendingMigrations: () => Promise<number>): Promise<PreflightCheck> {
  const r = await sql<{ exists: boolean; usage: boolean | null; create: boolean | null; db_create: boolean }>`
    select n.oid is not null as exists,
           case when n.oid is not null then has_schema_privilege(current_user, n.oid, 'USAGE') end as usage,
           case when n.oid is not null then has_schema_privilege(current_user, n.oid, 'CREATE') end as create,
           has_database_privilege(current_user, current_database(), 'CREATE') as db_create
    from (select 1) one left join pg_namespace n on n.nspname = ${stateSchema}`.execute(db);
  const a = r.rows[0]!;
  if (!a.exists) {
    return a.db_create
      ? { name: 'state_schema', status: 'fail', detail: `schema "${stateSchema}" does not exist yet`, fix: 'run `partgov migrate up`' }
      : { name: 'state_schema', status: 'fail', detail: `schema "${stateSchema}" does not exist and this role may not create schemas in this database`, fix: `GRANT CREATE ON DATABASE <db> TO <this role>, or have the database owner run \`partgov migrate up\`` };
  }
  if (!a.usage || !a.create) {
    return { name: 'state_schema', status: 'fail', detail: `this role lacks ${[!a.usage && 'USAGE', !a.create && 'CREATE'].filter(Boolean).join(' and ')} on schema "${stateSchema}", which another role owns`, fix: `${compileDdl(sql`grant usage, create on schema ${sql.id(stateSchema)} to`)} <this role> (and ${compileDdl(sql`all on all tables in schema ${sql.id(stateSchema)}`)}), or run partgov as its owner` };
  }
  const pending = await pendingMigrations();
  return pending > 0
    ? { name: 'state_schema', status: 'fail', detail: `schema "${stateSchema}" is not up to date (${pending} state migration(s) pending)`, fix: 'run `partgov migrate up`' }
    : { name: 'state_schema', status: 'pass', detail: `schema "${stateSchema}" is up to date` };
}

/**
 * `partgov preflight`: connectivity, server version, the APP_ENV rule table,
 * the partgov state schema, and existence, privileges and key columns of every
 * configured table. Never throws for a failed check: it reports it.
 */
export async function runPreflight(ctx: StageContext, input: PreflightInput = {}): Promise<PreflightResult> {
  const o = { ...parseStageInput('preflight', preflightInputSchema, input), settings: ctx.settings, config: ctx.config };
  const checks: PreflightCheck[] = [];
  for (const r of evaluateAppEnvRules({
    settings: o.settings,
    config: o.config,
    command: 'preflight',
    startsEmbeddedDatabase: false,
  })) {
    checks.push({ name: `app_env:${r.id}`, status: r.status, detail: r.detail, ...(r.fix ? { fix: r.fix } : {}) });
  }
  let serverVersion: string | null = null;
  if (!o.settings.databaseUrl) {
    checks.push({
      name: 'connectivity',
      status: 'fail',
      detail: 'no database URL given',
      fix: 'pass --database-url or set DATABASE_URL',
    });
  } else {
    const conn = ctx.database;
    try {
      const v = await sql<{ num: string; version: string }>`select current_setting('server_version_num') as num, current_setting('server_version') as version`.execute(conn.db);
      const num = Number(v.rows[0]!.num);
      serverVersion = v.rows[0]!.version;
      checks.push({ name: 'connectivity', status: 'pass', detail: 'connected' });
      const major = Math.floor(num / 10000);
      checks.push(
        num < minServerVersionNum
          ? { name: 'server_version', status: 'fail', detail: `PostgreSQL ${serverVersion} is older than 14`, fix: 'upgrade the server to PostgreSQL 14 or newer' }
          : major > maxServerMajor
            ? { name: 'server_version', status: 'warn', detail: `PostgreSQL ${serverVersion} is newer than the tested 14–${maxServerMajor}`, fix: 'run the test suite against this major before relying on partgov here' }
            : { name: 'server_version', status: 'pass', detail: `PostgreSQL ${serverVersion}` },
      );
      checks.push(await stateSchemaCheck(conn.db, () => pendingStateMigrations(conn.db)));
      for (const t of o.config?.tables ?? []) checks.push(...(await tableChecks(conn.db, t)));
    } catch (err) {
      checks.push({
        name: 'connectivity',
        status: 'fail',
        detail: redactSecrets(`cannot query the server: ${(err as Error).message}`, o.settings.databaseUrl),
        fix: 'check host, port, database name and credentials in the URL, and that the server accepts connections',
      });
    }
  }
  const effective = strictly(checks, o.strict);
  const v = verdict(effective, { strict: o.strict });
  return {
    app_env: o.settings.appEnv,
    strict: o.strict,
    server_version: serverVersion,
    checks: effective,
    ok: v.ok,
    failed: v.failed,
    warned: v.warned,
  };
}
