import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { setLocalTimeouts } from '../db/run-guarded.js';
import { quietWrites, replicaWrites } from './target-triggers.js';
import type { ShadowPair } from '../db/shadow-pair.js';
import type { PartgovKysely, StateDatabase } from '../db/state-tables.js';
import { sqlStateOf } from '../errors.js';
import { changeLogOf, routeOf, type ChangeLog, type SyncDirection } from './change-log.js';

/** A legacy primary key as text values in key order (exact for every type). */
export type KeyText = string[];

export interface ReplayOptions {
  /** forward (default): legacy -> shadow; reverse: the cut-over table -> its archive. */
  direction?: SyncDirection;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** Keys taken per transaction (default 5000), each with all its log entries. */
  chunk?: number;
  /** Stop after this many entries (default: until nothing replayable is left). */
  maxEntries?: number;
  /** Count the entries left waiting afterwards (a full count of the log; default true). */
  countWaiting?: boolean;
}

export interface ReplayResult {
  /** Log entries consumed. */
  entries: number;
  /** Distinct legacy keys rewritten in the shadow. */
  keys: number;
  rows_deleted: number;
  rows_inserted: number;
  /** Keys the shadow rejected in this run (moved to partgov.sync_rejected). */
  rejected: number;
  transactions: number;
  /** Entries in the log when the replay ended: written meanwhile, or beyond the backfill's checkpoint (a later replay takes them); 0 when not counted. */
  waiting: number;
  duration_ms: number;
}

const defaultChunk = 5000;

/**
 * Whether the shadow rejected a row's data: classes 22 (data exception, e.g. a
 * value too long) and 23 (integrity: NOT NULL, CHECK, FOREIGN KEY, and "no
 * partition of relation found for row", 23514). Anything else (a lock timeout,
 * a dropped connection, a missing column after a schema change) is not the
 * row's fault: the entries stay in the log and the error goes to the caller.
 */
export function isRowRejection(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

const keyCols = (pair: ShadowPair, alias?: string) =>
  sql.join(pair.legacyKey.map((c) => (alias ? sql.id(alias, c.name) : sql.id(c.name))));

// sql.raw(c.type): format_type() text from the catalog, so text values compare as the column's type.
const typedKey = (pair: ShadowPair, values: RawBuilder<unknown>[]) => sql.join(pair.legacyKey.map((c, i) => sql`(${values[i]})::${sql.raw(c.type)}`));
/**
 * The rows of a JSON array of keys (each a JSON array of text) as a FROM item,
 * `partgov_keys(k)`: qualified, so a table column named like the element (a
 * column `x` turned an unqualified `x->>0` into that column) cannot capture it.
 */
const keyElements = (json: string) => sql`json_array_elements(${json}::json) as partgov_keys(k)`;
// sql.lit(i): an array index from this code, never input. As a bind parameter it would be
// `unknown`, and `json ->> unknown` resolves to the text (object key) operator.
const keyElement = (i: number) => sql`${sql.id('partgov_keys', 'k')}->>${sql.lit(i)}`;
const jsonElements = (pair: ShadowPair) => pair.legacyKey.map((_, i) => keyElement(i));

/**
 * Which log entries may be replayed now: all once the backfill is done, those
 * at or below its checkpoint while it runs, none before it starts or while the
 * shadow's primary key is dropped for the copy (see deferrablePrimaryKey). The
 * checkpoint row is read FOR KEY SHARE: a restart (which deletes it) waits for
 * this transaction, while batches, which only move it forward, update it
 * without waiting (FOR SHARE made every batch's commit wait on each replay poll).
 */
async function replayableFilter(trx: Kysely<StateDatabase>, pair: ShadowPair, direction: SyncDirection): Promise<RawBuilder<unknown> | null> {
  if (direction === 'reverse') return sql`true`; // the archive holds every row already: nothing to wait for
  const cp = await sql<{ last_key: KeyText | null; done: boolean; key_deferred: boolean }>`
    select last_key, done, exists (select 1 from jsonb_array_elements(deferred_indexes) d where d ? 'primary_key') as key_deferred
    from partgov.backfill_checkpoint where table_name = ${pair.label} for key share`.execute(trx);
  const row = cp.rows[0];
  if (!row) return null;
  // The copy dropped the shadow's primary key and builds it when complete: replay finds rows by it.
  if (row.key_deferred) return null;
  if (row.done) return sql`true`;
  if (row.last_key === null) return null;
  return sql`(${keyCols(pair)}) <= (${typedKey(pair, row.last_key.map((v) => sql`${v}`))})`;
}

/**
 * The distinct values of `cols` among the round's consumed entries, as a JSON
 * array of text arrays. Distinct on the text forms under "C" (hashed bytes):
 * the same set as the jsonb values it replaced, which sorted (~3x slower), and exact
 * where a nondeterministic collation would merge two spellings.
 */
const distinctTextRows = (cols: readonly { name: string }[]) => {
  const alias = (i: number) => sql.id(`v${i}`);
  return sql`(select json_agg(json_build_array(${sql.join(cols.map((_, i) => alias(i)))}))
              from (select distinct ${sql.join(cols.map((c, i) => sql`${sql.id(c.name)}::text collate "C" as ${alias(i)}`))} from consumed) d)`;
};

interface RoundOutcome {
  entries: number;
  keys: KeyText[];
  deleted: number;
  inserted: number;
}

/**
 * One replay transaction: take the keys of up to `limit` replayable entries (or,
 * with `only`, those keys) out of the log with all their entries, delete every
 * shadow version they name, and insert the current legacy rows of those keys. Serialized per
 * table by a transaction advisory lock, so two replays never interleave on a key.
 */
async function replayRound(db: PartgovKysely, pair: ShadowPair, log: ChangeLog, o: ReplayOptions, asReplica: boolean, limit: number, only?: KeyText[]): Promise<RoundOutcome> {
  return db.transaction().execute(async (trx) => {
    await setLocalTimeouts(trx, o.lockTimeoutMs, o.statementTimeoutMs);
    return replayRoundIn(trx, pair, log, asReplica, limit, only);
  });
}

/** Settings a replay round changes (why: in replayRoundIn), and back. */
const plannerOff = { enable_seqscan: 'off', enable_hashjoin: 'off', enable_mergejoin: 'off', jit: 'off' } as const;

/** A replay round inside the caller's transaction (cutover's swap replays the rest under its locks). */
async function replayRoundIn(
  trx: Kysely<StateDatabase>,
  pair: ShadowPair,
  log: ChangeLog,
  asReplica: boolean,
  limit: number,
  only?: KeyText[],
): Promise<RoundOutcome> {
  const logTable = sql.id(log.table.schema, log.table.name);
  const { source, target } = routeOf(pair, log.direction);
  const cols = sql.join(pair.copyColumns.map((c) => sql.id(c.name)));
  const overriding = target.columns.some((c) => c.identity === 'always') ? sql`overriding system value` : sql``;
  const versionCols = log.columns;
  // Forward, a key's shadow versions are found by the shadow key (every version the log names)
  // and its current row by the legacy key; reverse, the archive row by the legacy key and the
  // current row among the versions the log names (the partitioned table's key leads with them).
  const targetMatch = log.direction === 'forward' ? versionCols : pair.legacyKey;
  const match = (a: string, b: string, cs: readonly { name: string }[]) => sql.join(cs.map((c) => sql`${sql.id(a, c.name)} = ${sql.id(b, c.name)}`), sql` and `);
  const label = routeLabel(pair, log.direction);
  // A round touches few rows of big tables, by key: every join must probe an index. Left to
  // itself the planner hash-joined the round's keys to the whole target (a full scan per
  // round: 5,000 keys into a 1e6-row shadow took 550 ms, 164 ms probing; and a 1e5-row table
  // took 25 ms inside cutover's lock). Disabling plans inflates their cost estimates past
  // jit_above_cost, and compiling a round's plans over 32 leaves cost ~1 s (PostgreSQL 15,
  // 5,000 keys: delete 820 -> 39 ms, insert 212 -> 43 ms with jit off). The caller's
  // settings come back at the end of the round.
  // The round's writes are replication: the application's triggers on the target stay quiet (see replicaWrites).
  const settings: Record<string, string> = { ...plannerOff, ...(asReplica ? replicaWrites : {}) };
  const names = Object.keys(settings);
  const prior = await sql<Record<string, string>>`
    with prior as materialized (select ${sql.join(names.map((n) => sql`current_setting(${n}) as ${sql.id(n)}`))})
    select prior.*, pg_advisory_xact_lock(hashtext('partgov:replay'), hashtext(${label})),
           ${sql.join(names.map((n) => sql`set_config(${n}, ${settings[n]!}, true)`))}
    from prior`.execute(trx);
  const restore = async () => {
    const p = prior.rows[0]!;
    await sql`select ${sql.join(names.map((n) => sql`set_config(${n}, ${p[n]!}, true)`))}`.execute(trx);
  };
  const filter = await replayableFilter(trx, pair, log.direction);
  if (filter === null) {
    await restore();
    return { entries: 0, keys: [], deleted: 0, inserted: 0 };
  }
  const selection = only
    ? sql`(${keyCols(pair)}) in (select ${typedKey(pair, jsonElements(pair))} from ${keyElements(JSON.stringify(only))})`
    : sql`true`;
  // A round takes up to `limit` keys (grouped along the log's key index) with *every*
  // visible entry of theirs: with only some of a key's
  // entries, a version named by an entry left behind would stay in the target beside the
  // current row (then a later round's insert collides with it). The key index serves both.
  const taken = await sql<{ entries: number; keys: KeyText[] | null; versions: string[][] | null; deleted: number }>`
    with consumed as (delete from ${logTable} l
                      where (${keyCols(pair, 'l')}) in (select ${keyCols(pair)} from ${logTable} where ${filter} and ${selection} group by ${keyCols(pair)} limit ${limit})
                      returning ${sql.join(versionCols.map((c) => sql.id('l', c.name)))}),
         versions as (select distinct ${sql.join(targetMatch.map((c) => sql.id(c.name)))} from consumed),
         gone as (delete from ${sql.id(target.schema, target.name)} s using versions v where ${match('s', 'v', targetMatch)} returning 1)
    select (select count(*) from consumed)::int as entries,
           ${distinctTextRows(pair.legacyKey)} as keys,
           ${distinctTextRows(versionCols)} as versions,
           (select count(*) from gone)::int as deleted`.execute(trx);
  const t = taken.rows[0]!;
  const keys = t.keys ?? [];
  if (keys.length === 0) {
    await restore();
    return { entries: t.entries, keys, deleted: t.deleted, inserted: 0 };
  }
  const keysJson = JSON.stringify(keys);
  const currentRows =
    log.direction === 'forward'
      ? sql`(${keyCols(pair)}) in (select ${typedKey(pair, jsonElements(pair))} from ${keyElements(keysJson)})`
      : sql`(${sql.join(versionCols.map((c) => sql.id(c.name)))}) in (select ${sql.join(versionCols.map((c, i) => sql`(${keyElement(i)})::${sql.raw(c.type)}`))} from ${keyElements(JSON.stringify(t.versions ?? []))})`;
  // A key the target takes now is no longer rejected (a data-modifying CTE runs unreferenced).
  const inserted = await sql<{ n: number }>`
    with ins as (
           insert into ${sql.id(target.schema, target.name)} (${cols}) ${overriding}
           select ${cols} from ${sql.id(source.schema, source.name)} where ${currentRows}
           returning 1),
         accepted as (
           delete from partgov.sync_rejected where table_name = ${label} and key in (select value from jsonb_array_elements(${keysJson}::jsonb)))
    select count(*)::int as n from ins`.execute(trx);
  await restore();
  return { entries: t.entries, keys, deleted: t.deleted, inserted: inserted.rows[0]!.n };
}

/**
 * Replays every entry left in the log inside the caller's transaction, which
 * must hold the captured table exclusively (no entry can arrive meanwhile).
 * Anything the target rejects aborts the caller's transaction: cutover and
 * rollback must not swap in a table that lacks a row.
 */
export async function drainInTransaction(trx: Kysely<StateDatabase>, pair: ShadowPair, direction: SyncDirection): Promise<number> {
  const log = changeLogOf(pair, direction);
  const logTable = sql.id(log.table.schema, log.table.name);
  const asReplica = await quietWrites(trx, routeOf(pair, direction).target, pair.mayWriteAsReplica, 'sync-target-triggers');
  let entries = 0;
  // Nothing can be logged meanwhile (the caller holds the table), so a round that takes less
  // than a chunk took the rest; an empty log skips the rounds' planning (a few ms on a partitioned target).
  while ((await sql<{ any: boolean }>`select exists (select 1 from ${logTable}) as any`.execute(trx)).rows[0]!.any) {
    const r = await replayRoundIn(trx, pair, log, asReplica, defaultChunk);
    entries += r.entries;
    if (r.keys.length < defaultChunk) break;
  }
  return entries;
}

/** The name a direction's locks and rejected keys go by: the table's label, `(archive)` for the reverse direction. */
export function routeLabel(pair: ShadowPair, direction: SyncDirection): string {
  return direction === 'forward' ? pair.label : `${pair.label} (archive)`;
}

/**
 * Moves a key the target rejects out of the log, removes every row of that key
 * from the target (by the legacy key: a rare path, a scan is fine), and records why.
 */
async function rejectKey(db: PartgovKysely, pair: ShadowPair, log: ChangeLog, o: ReplayOptions, key: KeyText, err: unknown): Promise<number> {
  const logTable = sql.id(log.table.schema, log.table.name);
  const target = routeOf(pair, log.direction).target;
  const shadow = sql.id(target.schema, target.name);
  const label = routeLabel(pair, log.direction);
  return db.transaction().execute(async (trx) => {
    await setLocalTimeouts(trx, o.lockTimeoutMs, o.statementTimeoutMs);
    await sql`select pg_advisory_xact_lock(hashtext('partgov:replay'), hashtext(${label}))`.execute(trx);
    const keyMatch = sql`(${keyCols(pair)}) = (${typedKey(pair, key.map((v) => sql`${v}`))})`;
    const removed = await sql<{ n: number }>`
      with consumed as (delete from ${logTable} where ${keyMatch} returning ${sql.join(log.columns.map((c) => sql.id(c.name)))}),
           gone as (delete from ${shadow} s where (${sql.join(pair.legacyKey.map((c) => sql.id('s', c.name)))}) = (${typedKey(pair, key.map((v) => sql`${v}`))}) returning 1)
      select (select count(*) from consumed)::int as n, (select count(*) from gone) as gone`.execute(trx);
    await sql`
      insert into partgov.sync_rejected (table_name, key, sqlstate, error)
      values (${label}, ${JSON.stringify(key)}::jsonb, ${sqlStateOf(err) ?? null}, ${(err as Error).message ?? String(err)})
      on conflict (table_name, key) do update
        set sqlstate = excluded.sqlstate, error = excluded.error, last_at = now(), attempts = partgov.sync_rejected.attempts + 1`.execute(trx);
    return removed.rows[0]!.n;
  });
}

/** Entries in a direction's log: not replayable yet (beyond the backfill's checkpoint), or written since the last replay. */
export async function countLogEntries(db: PartgovKysely, pair: ShadowPair, direction: SyncDirection = 'forward'): Promise<number> {
  const log = changeLogOf(pair, direction);
  const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(log.table.schema, log.table.name)}`.execute(db);
  return r.rows[0]!.n;
}

/**
 * Applies replayable change-log entries to the shadow until none is left (or
 * `maxEntries`). A round the shadow rejects is redone key by key: the keys it
 * accepts are applied, each one it rejects goes to partgov.sync_rejected (and
 * its shadow versions are removed, so verify names it as missing). Any other
 * error (lock timeout, a dropped connection, a schema change) propagates for
 * the caller to retry or report; nothing is lost, the entries stay in the log.
 */
export async function replayChanges(db: PartgovKysely, pair: ShadowPair, o: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now();
  const log = changeLogOf(pair, o.direction ?? 'forward');
  const asReplica = await quietWrites(db, routeOf(pair, log.direction).target, pair.mayWriteAsReplica, 'sync-target-triggers');
  const chunk = o.chunk ?? defaultChunk;
  const result: ReplayResult = { entries: 0, keys: 0, rows_deleted: 0, rows_inserted: 0, rejected: 0, transactions: 0, waiting: 0, duration_ms: 0 };
  const add = (r: RoundOutcome) => {
    result.entries += r.entries;
    result.keys += r.keys.length;
    result.rows_deleted += r.deleted;
    result.rows_inserted += r.inserted;
    result.transactions++;
  };
  for (;;) {
    if (o.maxEntries !== undefined && result.entries >= o.maxEntries) break;
    let round: RoundOutcome;
    try {
      round = await replayRound(db, pair, log, o, asReplica, chunk);
    } catch (err) {
      if (!isRowRejection(err)) throw err;
      // The shadow rejected a row of this round (rolled back): find which keys, one at a time.
      await replayKeyByKey(db, pair, log, o, asReplica, result, add);
      continue;
    }
    add(round);
    // Fewer keys than a chunk: the log held no more when the round began (writers may keep adding).
    if (round.keys.length < chunk) break;
  }
  if (o.countWaiting !== false) result.waiting = await countLogEntries(db, pair, log.direction);
  result.duration_ms = Math.round(performance.now() - t0);
  return result;
}

/** After a rejected round: the same replayable entries, key by key (a small set, rarely reached). */
async function replayKeyByKey(
  db: PartgovKysely,
  pair: ShadowPair,
  log: ChangeLog,
  o: ReplayOptions,
  asReplica: boolean,
  result: ReplayResult,
  add: (r: RoundOutcome) => void,
): Promise<void> {
  const logTable = sql.id(log.table.schema, log.table.name);
  const keys = await db.transaction().execute(async (trx) => {
    const filter = await replayableFilter(trx, pair, log.direction);
    if (filter === null) return [];
    const r = await sql<{ key: KeyText }>`
      select distinct jsonb_build_array(${sql.join(pair.legacyKey.map((c) => sql`${sql.id(c.name)}::text`))}) as key
      from (select ${keyCols(pair)} from ${logTable} where ${filter} limit ${o.chunk ?? defaultChunk}) e`.execute(trx);
    return r.rows.map((x) => x.key);
  });
  for (const key of keys) {
    try {
      add(await replayRound(db, pair, log, o, asReplica, Number.MAX_SAFE_INTEGER, [key]));
    } catch (err) {
      if (!isRowRejection(err)) throw err;
      result.entries += await rejectKey(db, pair, log, o, key, err);
      result.rejected++;
    }
  }
}

export interface RejectedKey {
  key: KeyText;
  sqlstate: string | null;
  error: string;
  attempts: number;
}

/** Keys the shadow rejected and no later replay fixed, oldest first. */
export async function listRejectedKeys(db: PartgovKysely, label: string, limit: number): Promise<{ total: number; keys: RejectedKey[] }> {
  const r = await sql<RejectedKey & { total: number }>`
    select key, sqlstate, error, attempts, count(*) over ()::int as total
    from partgov.sync_rejected where table_name = ${label} order by first_at, key limit ${limit}`.execute(db);
  return { total: r.rows[0]?.total ?? 0, keys: r.rows.map(({ total: _t, ...k }) => k) };
}

/** A replay loop running beside writers (the backfill's, or a benchmark's): stop() ends it after its current round. */
export interface ReplayLoop {
  stop(): Promise<void>;
}

/**
 * Replays the change log behind the application until stopped, on the
 * connection pool it is given. Rounds are paced: after a small round it waits
 * `idleMs` (default 1 s) so entries gather into the next; a round that found
 * `burst` entries or more runs the next at once, so the log cannot grow faster
 * than replay drains it. A failed round is retried. Why a whole second: each
 * round costs a transaction, its planning and its commit whatever its size,
 * and they compete with the application for the same cores. With 8 writers
 * saturating 2 cores (bench:sync, PostgreSQL 18), the application's p95 with
 * sync on was 1.52x that with sync off at 200 ms, 1.27x at 1 s; the shadow
 * then trails by about a second of writes (at most 9,087 entries waiting).
 */
export function startReplayLoop(db: PartgovKysely, pair: ShadowPair, o: ReplayOptions & { idleMs?: number; burst?: number; onRound?: (r: ReplayResult) => void; onError?: (err: unknown) => void }): ReplayLoop {
  const stopped = new AbortController();
  const idleMs = o.idleMs ?? 1000;
  const burst = o.burst ?? 5_000;
  // A pause that stop() cuts short.
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopped.signal }).catch(() => undefined);
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      try {
        // No count of the waiting entries per round: on a long log that is a full scan each time.
        const r = await replayChanges(db, pair, { ...o, maxEntries: 50_000, countWaiting: false });
        o.onRound?.(r);
        if (r.entries < burst) await pause(idleMs);
      } catch (err) {
        o.onError?.(err);
        await pause(1000);
      }
    }
  })();
  return {
    stop: async () => {
      stopped.abort();
      await loop;
    },
  };
}
