import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { runGuarded, type GuardRetryEvent } from '../db/run-guarded.js';
import { resolveShadowPair, type ShadowPair } from '../db/shadow-pair.js';
import { sqlFileText } from '../db/sql-file.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { compileDdl } from '../plan/compile-ddl.js';
import { RunInProgressError } from '../errors.js';
import { assertStateSchema } from '../migrate/run-migrate.js';

/** Fixed trigger names on the legacy table, so `disable` removes exactly what `enable` added. */
export const syncTriggerName = 'partgov_sync_shadow';
export const syncTruncateTriggerName = 'partgov_sync_shadow_truncate';

/** The statements the trigger runs, generated with kysely quoting (see sql/sync/mirror-row.sql). */
export interface MirrorStatements {
  upsert: string;
  delete: string;
  keyChanged: string;
  truncate: string;
}

/** Builds the per-table statements the generic trigger function executes. */
export function mirrorStatements(pair: ShadowPair): MirrorStatements {
  const target = sql.id(pair.shadow.schema, pair.shadow.name);
  const cols = pair.copyColumns.map((c) => c.name);
  const colList = sql.join(cols.map((c) => sql.id(c)));
  const fromNew = sql.join(cols.map((c) => sql`(${sql.raw('$1')}).${sql.id(c)}`));
  const excluded = sql.join(cols.map((c) => sql`excluded.${sql.id(c)}`));
  const keyList = sql.join(pair.shadowKey.map((c) => sql.id(c)));
  const keyFrom = (param: string) => sql.join(pair.shadowKey.map((c) => sql`(${sql.raw(param)}).${sql.id(c)}`));
  const overriding = pair.overridingSystemValue ? sql` overriding system value` : sql``;
  // $1/$2 are EXECUTE … USING placeholders inside the trigger, written with sql.raw because
  // kysely would otherwise turn them into its own bind parameters.
  return {
    upsert: compileDdl(
      sql`insert into ${target} (${colList})${overriding} values (${fromNew}) on conflict (${keyList}) do update set (${colList}) = row(${excluded})`,
    ),
    delete: compileDdl(sql`delete from ${target} where (${keyList}) = (${keyFrom('$1')})`),
    keyChanged: compileDdl(
      sql`select ${sql.join(
        pair.shadowKey.map((c) => sql`(${sql.raw('$1')}).${sql.id(c)} is distinct from (${sql.raw('$2')}).${sql.id(c)}`),
        sql` or `,
      )}`,
    ),
    truncate: compileDdl(sql`truncate ${target}`),
  };
}

export interface SyncResult {
  table: string;
  shadow: string;
  action: 'enable' | 'disable';
  /** Whether the trigger existed before this run (enable twice and disable twice are no-ops). */
  was_enabled: boolean;
  enabled: boolean;
}

export interface SyncOptions {
  action: 'enable' | 'disable';
  settings: RuntimeSettings;
  onRetry?: (e: GuardRetryEvent) => void;
}

/** Whether the sync trigger is on the legacy table. */
export async function isSyncEnabled(db: PartgovKysely, schema: string, table: string): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and t.tgname = ${syncTriggerName}`.execute(db);
  return r.rows[0]!.n > 0;
}

/**
 * `partgov sync enable|disable`: installs or removes the dual-write triggers on
 * the legacy table. CREATE/DROP TRIGGER take a SHARE ROW EXCLUSIVE lock on the
 * legacy table, so both run under lock_timeout with retries.
 */
export async function runSync(db: PartgovKysely, table: TableConfig, o: SyncOptions): Promise<SyncResult> {
  await assertStateSchema(db); // the trigger functions live in schema partgov
  const pair = await resolveShadowPair(db, table);
  return withAdvisoryLock(db, 'sync', pair.label, () => holdBackfillLock(db, pair.label, o.action, async () => {
    const wasEnabled = await isSyncEnabled(db, table.schema, table.name);
    const legacy = sql.id(table.schema, table.name);
    const guard = {
      lockTimeoutMs: o.settings.lockTimeoutMs,
      statementTimeoutMs: o.settings.statementTimeoutMs,
      retries: o.settings.lockRetries,
      ...(o.onRetry ? { onRetry: o.onRetry } : {}),
    };
    if (o.action === 'enable') {
      const s = mirrorStatements(pair);
      await runGuarded(
        db,
        async (trx) => {
          // sql.raw: package-owned function definitions from sql/sync/mirror-row.sql.
          await sql.raw(sqlFileText('sync/mirror-row.sql')).execute(trx);
          // Trigger arguments are string literals (sql.lit doubles any quote in them).
          await sql`create or replace trigger ${sql.id(syncTriggerName)} after insert or update or delete on ${legacy}
                    for each row execute function partgov.mirror_row(${sql.lit(s.upsert)}, ${sql.lit(s.delete)}, ${sql.lit(s.keyChanged)})`.execute(trx);
          await sql`create or replace trigger ${sql.id(syncTruncateTriggerName)} after truncate on ${legacy}
                    for each statement execute function partgov.mirror_truncate(${sql.lit(s.truncate)})`.execute(trx);
        },
        { ...guard, label: `sync enable ${pair.label}` },
      );
    } else {
      await runGuarded(
        db,
        async (trx) => {
          await sql`drop trigger if exists ${sql.id(syncTriggerName)} on ${legacy}`.execute(trx);
          await sql`drop trigger if exists ${sql.id(syncTruncateTriggerName)} on ${legacy}`.execute(trx);
        },
        { ...guard, label: `sync disable ${pair.label}` },
      );
    }
    return {
      table: pair.label,
      shadow: `${pair.shadow.schema}.${pair.shadow.name}`,
      action: o.action,
      was_enabled: wasEnabled,
      enabled: o.action === 'enable',
    };
  }));
}

/**
 * Sync changes while a backfill runs would break the backfill's assumptions
 * (an offline copy takes no row locks), so sync holds the backfill lock too.
 */
async function holdBackfillLock<T>(db: PartgovKysely, label: string, action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await withAdvisoryLock(db, 'backfill', label, work);
  } catch (err) {
    if (err instanceof RunInProgressError && err.details.operation === 'backfill') {
      throw new RunInProgressError(`a backfill of ${label} is running; sync ${action} must not change under it`, {
        fix: 'stop the backfill (its checkpoint is kept), run `partgov sync enable`, then run `partgov backfill` again (sync first, then copy)',
        cause: err,
        details: err.details,
      });
    }
    throw err;
  }
}
