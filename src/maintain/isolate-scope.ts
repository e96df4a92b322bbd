import { sql } from 'kysely';
import { z } from 'zod';
import { selectTables } from '../config/load-config.js';
import { requireConfig, type StageContext } from '../stage/stage-context.js';
import { flagInput, parseStageInput } from '../stage/stage-input.js';
import type { TableConfig } from '../config/config-schema.js';
import { withAdvisoryLocks } from '../db/advisory-lock.js';
import { constraintState, findTableOid, readPartitionTree, requireTable, type PartitionModel, type TableModel, type TableRef } from '../db/catalog.js';
import { compileDdl } from '../db/compile-ddl.js';
import { objectNames } from '../db/object-names.js';
import { defaultBeside, defaultLeavesForKey, isDedicatedLeaf, leavesForKey, leavesUnder } from '../db/partition-routing.js';
import { releaseLocksBeforeFlush, runGuarded } from '../db/run-guarded.js';
import { dropRetiredPartitions } from '../db/retired-partitions.js';
import { keysFromRowsText, parseScopeTarget, resolveScopeSelector, type ScopeTarget } from '../db/scope-target.js';
import { partitionedTableOf } from '../db/shadow-pair.js';
import type { PartgovKysely } from '../db/state-tables.js';
import { InputInvalidError, RunInProgressError, SafetyRefusedError, sqlStateOf } from '../errors.js';
import { assertStateSchema } from '../state/state-schema.js';
import { writeAudit, type Step } from '../steps/run-steps.js';
import { cleanupDdl, moveScopeOutOfDefault, provableLeafBound, type ScopeMove } from './move-scope.js';
import { scopeConstraintNames, scopeGuardDdl, scopeGuardNames, tableLikeRootDdl } from '../db/scope-partition.js';
import { readStorageParameters, type StorageParameters } from '../db/storage-options.js';
import { judged, type StageVerdict } from '../checks/check.js';

/** isolate's input: defaults and limits once, for the library and the CLI. */
export const isolateInputSchema = z.object({
  // The three guards are checked by parseScopeTarget, whose refusals name each mistake.
  tenantId: z.string().optional().describe('tenant (exact value): required'),
  scope: z.string().optional().describe('scope (exact value): required'),
  confirm: z.string().optional().describe('the tenant and scope again, as <tenant>/<scope>: required'),
  table: z.array(z.string().min(1)).optional().describe('only these isolatable tables (default: every isolatable table in the config)'),
  dryRun: flagInput('print the steps per table; change nothing'),
});
export type IsolateInput = z.input<typeof isolateInputSchema>;

export interface IsolateTableResult {
  table: string;
  /** The partitioned table acted on: the table itself after cutover, else its shadow. */
  partitioned: string;
  partition: string;
  /** created: a new scope's partition; moved: a scope's rows moved out of the DEFAULT online; already_isolated: nothing to do. */
  action: 'created' | 'moved' | 'already_isolated';
  rows_moved: number;
  /** The one DEFAULT leaf the key hashes into: the only one scanned under an exclusive lock. */
  default_leaf: string | null;
  /** Exclusive locks held by the switch (first lock to commit). */
  lock_held_ms: number;
  /**
   * Rows of the DEFAULT leaf PostgreSQL scans under the exclusive lock (the leaf's estimate):
   * a new scope's CHECK on the leaf, or a copy's hash bound a text key's CHECK cannot prove.
   * 0 where the leaf was copied online and a CHECK proves the copy (a key type without a collation).
   */
  rows_scanned_under_lock: number;
  steps: Step[];
}

export interface IsolateResult extends StageVerdict {
  tenant_id: string;
  scope: string;
  scope_key: string;
  dry_run: boolean;
  tables: IsolateTableResult[];
  /** Tables whose partition key is shared by the tenant's other scopes (or other tenants' scope of this name): the partition holds them too. */
  notes: string[];
  audit_id: string | null;
}

interface IsolateTarget {
  table: TableConfig;
  root: TableRef;
  tree: PartitionModel[];
  keyColumn: string;
  keyValue: string;
}

/** The partitioned table isolate acts on: itself after cutover, else its shadow. */
async function requirePartitionedTable(db: PartgovKysely, table: TableConfig): Promise<TableRef> {
  const ref = await partitionedTableOf(db, table);
  if (ref) return ref;
  throw new InputInvalidError(`${table.schema}.${table.name} has no partitioned table yet (neither itself nor ${objectNames.shadow(table.name)})`, {
    fix: 'run `partgov plan --out …` and `partgov migrate up` first',
  });
}

const checkName = (keyValue: string) => scopeConstraintNames(keyValue).notScope;

/**
 * The steps that give a new scope its own LIST partition without a scan of
 * the whole DEFAULT under an exclusive lock. PostgreSQL skips the scan of a
 * DEFAULT leaf whose validated CHECK proves it holds no row of the value, so:
 * every DEFAULT leaf the key can never hash into gets `CHECK (key <> K)`
 * added NOT VALID and validated without blocking writes (the application
 * can never write K there, so the constraint cannot fail a write); the one
 * leaf K hashes into gets its CHECK inside the switch transaction (a scan of
 * one leaf, not the DEFAULT), so no write of K can meet the constraint; then
 * ATTACH. After it the CHECK goes from that one leaf (K's rows would fall
 * there if its partition were ever dropped) and stays on the others, where
 * no write can meet it: purge's swap of K's partition then reads one leaf of
 * the DEFAULT instead of all of them.
 */
function isolateSteps(t: IsolateTarget, defaultLeaves: PartitionModel[], hashLeaf: PartitionModel, root: TableModel, storage: StorageParameters): { online: Step[]; swap: Step[]; after: Step[] } {
  const identityColumns = root.columns.filter((c) => c.identity !== null).map((c) => c.name);
  const name = checkName(t.keyValue);
  const check = sql`check (${sql.id(t.keyColumn)} <> ${sql.lit(t.keyValue)})`;
  const key = { column: t.keyColumn, value: t.keyValue };
  const others = defaultLeaves.filter((l) => l.oid !== hashLeaf.oid);
  const partition = objectNames.isolated(t.table.name, t.keyValue);
  const S = sql.id(t.root.schema, partition);
  const only = scopeConstraintNames(t.keyValue).onlyScope;
  const online: Step[] = [
    // The partition is built (indexes and all) before the lock: ATTACH of a ready empty table is a catalog change.
    ...tableLikeRootDdl(root, { schema: t.root.schema, name: partition }, identityColumns, root.owner, storage).map((text, i) => {
      if (i === 0) return { id: 'build', description: `the scope's partition, built empty beside the table with the root's columns, constraints and indexes`, sql: text };
      if (i <= identityColumns.length) return { id: `identity ${identityColumns[i - 1]}`, description: 'ids come from the root', sql: text };
      if (i === identityColumns.length + 1) return { id: 'owner', description: `owned by ${root.owner}, as the table (whose own ALTER TABLE and CREATE INDEX must own every partition)`, sql: text };
      return { id: 'storage', description: `the storage parameters of ${hashLeaf.name}, as plan gave every leaf`, sql: text };
    }),
    { id: 'only', description: 'proves the new partition holds only the scope (ATTACH skips its scan)', sql: compileDdl(sql`alter table ${S} add constraint ${sql.id(only)} check (${sql.id(t.keyColumn)} = ${sql.lit(t.keyValue)})`) },
    ...others.flatMap((l) => {
      const g = scopeGuardDdl(l, key);
      return [
        { id: `guard ${l.name}`, description: `constraint proving ${l.name} holds no row of the scope (NOT VALID: no scan under lock)`, sql: g.add },
        { id: `validate ${l.name}`, description: `validate it (SHARE UPDATE EXCLUSIVE: writes go on)`, sql: g.validate },
      ];
    }),
  ];
  const swap: Step[] = [
    // The root first: a writer that had routed a row of the scope to the DEFAULT before the switch would fail the new bound after it.
    { id: 'lock', description: `writers of ${t.root.name} wait (milliseconds) and route afresh after the switch`, sql: compileDdl(sql`lock table ${sql.id(t.root.schema, t.root.name)} in access exclusive mode`) },
    { id: `guard ${hashLeaf.name}`, description: `the one DEFAULT leaf the scope hashes into: checked inside the switch`, sql: compileDdl(sql`alter table ${sql.id(hashLeaf.schema, hashLeaf.name)} add constraint ${sql.id(name)} ${check}`) },
    { id: 'attach', description: `the scope's own partition (no DEFAULT scan: every leaf proves it holds no such row)`, sql: compileDdl(sql`alter table ${sql.id(t.root.schema, t.root.name)} attach partition ${S} for values in (${sql.lit(t.keyValue)})`) },
  ];
  // After the commit: the scope now routes to its own partition. The other leaves keep their CHECK (see above).
  const after = [
    { id: `unguard ${hashLeaf.name}`, description: 'the leaf the scope would fall into without its partition keeps no CHECK against it', sql: scopeGuardDdl(hashLeaf, key).drop },
    { id: 'unonly', description: 'the partition bound says it now', sql: compileDdl(sql`alter table ${S} drop constraint if exists ${sql.id(only)}`) },
  ];
  return { online, swap, after };
}

/** The leaf's heap size: what a CHECK's scan under the lock reads. */
async function leafBytes(db: PartgovKysely, leaf: PartitionModel): Promise<number> {
  const r = await sql<{ n: string }>`select pg_relation_size(${leaf.oid}::oid)::text as n`.execute(db);
  return Number(r.rows[0]!.n);
}

/** A leaf's row estimate; counted when there is none (never analyzed), which must not read as "no rows". */
async function leafRows(db: PartgovKysely, leaf: PartitionModel): Promise<number> {
  if (leaf.rowEstimate > 0) return leaf.rowEstimate;
  const r = await sql<{ n: string }>`select count(*)::text as n from ${sql.id(leaf.schema, leaf.name)}`.execute(db);
  return Number(r.rows[0]!.n);
}

/**
 * `partgov isolate --tenant-id X --scope Y --confirm X/Y`: gives the scope
 * its own partition in every isolatable table (the partitioned one: after
 * cutover the table itself, before it the shadow), so `purge` can TRUNCATE
 * it. A scope that is already isolated is left alone; a scope with rows in the
 * DEFAULT is moved out online (move-scope.ts) with a short final switch.
 */
export async function runIsolate(ctx: StageContext, raw: IsolateInput): Promise<IsolateResult> {
  const r = await isolateScope(ctx, raw);
  return judged(r, r.tables.map((t) => ({ name: `isolate:${t.table}`, status: r.dry_run ? ('skip' as const) : ('pass' as const), detail: `${t.action.replace('_', ' ')} ${t.partition}${t.rows_moved > 0 ? `, ${t.rows_moved} row(s) moved` : ''}${r.dry_run ? '' : `, exclusive locks ${t.lock_held_ms} ms`}`, figures: { rows_moved: t.rows_moved, lock_held_ms: t.lock_held_ms, rows_scanned_under_lock: t.rows_scanned_under_lock } })));
}

async function isolateScope(ctx: StageContext, raw: IsolateInput): Promise<Omit<IsolateResult, keyof StageVerdict>> {
  const i = parseStageInput('isolate', isolateInputSchema, raw);
  const config = requireConfig(ctx, 'isolate');
  const input = { ...i, tables: i.table?.flatMap((n) => selectTables(config, n)) };
  const { db } = ctx.database;
  const o = { settings: ctx.settings, config, onRetry: ctx.onRetry, onEvent: ctx.log };
  const target: ScopeTarget = parseScopeTarget(input, 'isolate');
  const tables = (input.tables ?? o.config.tables).filter((t) => t.layout.type === 'isolatable');
  if (tables.length === 0) {
    throw new InputInvalidError('no isolatable table selected: isolate works on tables with layout.type "isolatable"', { fix: 'set layout.type to "isolatable" for the tables whose scopes need their own partitions' });
  }
  await assertStateSchema(db);
  const labels = tables.map((t) => `${t.schema}.${t.name}`);
  const work = async (): Promise<Omit<IsolateResult, keyof StageVerdict>> => {
    const results: IsolateTableResult[] = [];
    const plans: { t: IsolateTarget; steps: ReturnType<typeof isolateSteps> | null; hashLeaf: PartitionModel | null; partition: string; move: ScopeMove | null; hasRows: boolean; viaCopy: boolean; provable: boolean; leafMb: number; guardSteps: Step[]; leafScanRows: number }[] = [];
    let keyValue = '';
    const notes: string[] = [];
    for (const table of tables) {
      const sel = await resolveScopeSelector(db, o.config, table, target);
      if (sel.keysFromRows !== null && sel.keyValue === null) {
        const keys = sel.keysFromRows;
        throw new InputInvalidError(keys.length === 0
          ? `${table.schema}.${table.name} reads a scope's ${sel.keyColumn} from its rows (scope_key_source "rows"), and ${target.tenantId}/${target.scope} has none: its key is not known yet`
          : `${target.tenantId}/${target.scope}'s rows in ${table.schema}.${table.name} hold ${keysFromRowsText(sel.keyColumn!, keys)}: no one partition can hold the scope`, {
          fix: keys.length === 0
            ? 'isolate it once the application has written its first row (its rows then move into the new partition online)'
            : `give the scope's rows one ${sel.keyColumn} value, or isolate by that column's values in layout.isolated`,
        });
      }
      if (!sel.keyIdentifiesScope) {
        notes.push(`${table.schema}.${table.name}: the partition is for ${sel.keyColumn} = ${JSON.stringify(sel.keyValue)}, which other scopes share, so it holds them too; purge of one scope deletes only its rows there (partition mode refuses, --mode auto)`);
      }
      const root = await requirePartitionedTable(db, table);
      const tree = await readPartitionTree(db, root);
      const t: IsolateTarget = { table, root, tree, keyColumn: sel.keyColumn!, keyValue: sel.keyValue! };
      keyValue = t.keyValue;
      const leaves = await leavesForKey(db, root, tree, t.keyColumn, t.keyValue);
      const partition = objectNames.isolated(table.name, t.keyValue);
      if (leaves.length === 1 && (await isDedicatedLeaf(db, leaves[0]!, t.keyColumn, t.keyValue))) {
        // A run that died after its switch may have left its CHECK where the scope's rows would fall without its partition: it would fail their writes then.
        const leaf = leaves[0]!;
        const def = defaultBeside(tree, leaf);
        const routed = def ? await defaultLeavesForKey(db, def, tree, t.keyColumn, t.keyValue) : [];
        if (!input.dryRun) {
          for (const l of routed) {
            for (const name of scopeGuardNames(t.keyValue)) {
              if ((await constraintState(db, l, name)) === null) continue;
              await runGuarded(db, (trx) => sql.raw(scopeGuardDdl(l, { column: t.keyColumn, value: t.keyValue }, name).drop).execute(trx), // sql.raw: compiled by kysely in scopeGuardDdl
                { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, label: `isolate: drop a leftover constraint on ${l.name}` });
            }
          }
          // ... and the old leaf its switch set aside, if it died before the drop.
          const guardOptions = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries };
          for (const gone of await dropRetiredPartitions(db, [root.schema], guardOptions, 'isolate')) o.onEvent?.(`dropped ${gone}, set aside by an earlier run that died before its drop`);
        }
        // A partition plan made (layout.isolated) or one made by hand has no guards yet: they go on now, online,
        // so the scope's first purge reads one DEFAULT leaf, not the whole DEFAULT (see isolateSteps).
        const others = def ? leavesUnder(tree, def.oid).filter((l) => !routed.some((r) => r.oid === l.oid)) : [];
        const guardSteps: Step[] = [];
        for (const l of others) {
          const state = await constraintState(db, l, checkName(t.keyValue));
          if (state === true) continue;
          const g = scopeGuardDdl(l, { column: t.keyColumn, value: t.keyValue });
          if (state === null) guardSteps.push({ id: `guard ${l.name}`, description: `constraint proving ${l.name} holds no row of the scope (NOT VALID: no scan under lock; the scope never hashes there, so no write can meet it)`, sql: g.add });
          guardSteps.push({ id: `validate ${l.name}`, description: 'validate it (SHARE UPDATE EXCLUSIVE: writes go on)', sql: g.validate });
        }
        plans.push({ t, steps: null, hashLeaf: null, partition: `${leaves[0]!.schema}.${leaves[0]!.name}`, move: null, hasRows: false, viaCopy: false, provable: false, leafMb: 0, guardSteps, leafScanRows: 0 });
        continue;
      }
      const rootPart = tree[0]!;
      const def = tree.find((p) => p.parentName === rootPart.name && p.parentSchema === rootPart.schema && p.bound === 'DEFAULT');
      if (!def || leaves.length !== 1) {
        throw new InputInvalidError(`${root.schema}.${root.name} is not LIST-partitioned by ${t.keyColumn} with a DEFAULT partition`, { fix: 'isolate works on the isolatable layout that `partgov plan` generates' });
      }
      const has = await sql<{ x: boolean }>`select exists (select 1 from ${sql.id(root.schema, root.name)} where ${sql.id(t.keyColumn)} = ${t.keyValue}) as x`.execute(db);
      const defaultLeaves = leavesUnder(tree, def.oid);
      const hashLeaf = leaves[0]!;
      const hasRows = has.rows[0]!.x;
      // A CHECK on the leaf scans it under the lock; a copy of it, proved by a CHECK equal to its bound, does not (see provableLeafBound).
      const provable = (await provableLeafBound(db, hashLeaf)) !== null;
      const leafMb = (await leafBytes(db, hashLeaf)) / 1024 / 1024;
      const viaCopy = hasRows || (provable && leafMb >= o.config.isolate.copy_leaf_min_mb);
      plans.push({ t, steps: isolateSteps(t, defaultLeaves, hashLeaf, await requireTable(db, root), await readStorageParameters(db, hashLeaf)), hashLeaf, partition: `${root.schema}.${partition}`,
        hasRows, viaCopy, provable, leafMb, guardSteps: [], leafScanRows: viaCopy && provable ? 0 : await leafRows(db, hashLeaf),
        move: { root, defaultParent: { schema: hashLeaf.parentSchema!, name: hashLeaf.parentName! }, leaf: hashLeaf, keyColumn: t.keyColumn, keyValue: t.keyValue, partition, guardName: checkName(t.keyValue) } });
    }
    const stepsOf = (p: (typeof plans)[number]) => {
      if (!p.steps) return p.guardSteps;
      if (!p.move || !p.viaCopy) {
        const scan = `: a scan of its ~${p.leafScanRows} row(s) (${p.leafMb.toFixed(1)} MB) under the lock${p.provable ? ' (the leaf is under isolate.copy_leaf_min_mb: copying it would cost more)' : ' (a collatable key: a copy of the leaf would be scanned as well)'}`;
        return [...p.steps.online, ...p.steps.swap.map((x) => (x.id.startsWith('guard ') ? { ...x, description: `${x.description}${scan}` } : x)), ...p.steps.after];
      }
      return [...p.steps.online, ...cleanupDdl(p.move).map((text, i) => ({ id: `clean ${i + 1}`, description: 'remove what an interrupted isolate left', sql: text })),
        { id: 'move', description: `copy ${p.hasRows ? `the scope's ${p.move.keyValue} rows and the rest of ${p.move.leaf.name}` : `${p.move.leaf.name} (${p.leafMb.toFixed(1)} MB; no row of the scope yet: the copy spares the switch a scan of the leaf)`} into two new tables, follow writes through a row trigger, then switch: detach ${p.move.leaf.name}, attach its copy without the scope (${p.leafScanRows > 0 ? `PostgreSQL scans its ~${p.leafScanRows} row(s) under the lock: a CHECK cannot prove a collatable key's hash bound` : 'no scan under the lock: a CHECK equal to the leaf\'s bound proves the copy'}), attach the scope's partition`, sql: '-- see runbooks/isolate-and-maintain.md' }];
    };
    if (input.dryRun) {
      for (const p of plans) results.push({ table: `${p.t.table.schema}.${p.t.table.name}`, partitioned: `${p.t.root.schema}.${p.t.root.name}`, partition: p.partition, action: p.steps ? (p.hasRows ? 'moved' : 'created') : 'already_isolated', default_leaf: p.hashLeaf ? `${p.hashLeaf.schema}.${p.hashLeaf.name}` : null, rows_moved: 0, lock_held_ms: 0, rows_scanned_under_lock: p.steps ? p.leafScanRows : 0, steps: stepsOf(p) });
      return { tenant_id: target.tenantId, scope: target.scope, scope_key: keyValue, dry_run: true, tables: results, notes, audit_id: null };
    }
    const guard = { lockTimeoutMs: o.settings.lockTimeoutMs, statementTimeoutMs: o.settings.statementTimeoutMs, retries: o.settings.lockRetries, onRetry: o.onRetry };
    for (const p of plans) {
      let held = 0;
      let rowsMoved = 0;
      let scanned = 0;
      // sql.raw: compiled by kysely above; each its own transaction under lock_timeout (a catalog change, then a scan that lets writes go on).
      for (const s of p.guardSteps) await runGuarded(db, (trx) => sql.raw(s.sql).execute(trx), { ...guard, label: `isolate: ${s.id}` });
      if (p.steps) {
        // A run that died before its switch may have left the partition built but unattached: build it again.
        const built = { schema: p.t.root.schema, name: objectNames.isolated(p.t.table.name, p.t.keyValue) };
        // Only a table partgov built (it carries the partgov_only constraint); any other table of that name is refused.
        if ((await findTableOid(db, built)) !== null) {
          if ((await constraintState(db, built, scopeConstraintNames(p.t.keyValue).onlyScope)) === null) {
            throw new InputInvalidError(`a table ${built.schema}.${built.name} exists and is not a partition partgov built`, { fix: 'rename or drop it; isolate names the scope\'s partition so' });
          }
          await runGuarded(db, (trx) => sql`drop table ${sql.id(built.schema, built.name)}`.execute(trx), { ...guard, label: 'isolate: drop an unattached partition an earlier run left' });
        }
        // Each online step on its own: ADD … NOT VALID is a catalog change under lock_timeout; VALIDATE scans without blocking writes.
        for (const s of p.steps.online) {
          const exists = s.id.startsWith('guard ') && (await constraintState(db, { schema: p.t.root.schema, name: s.id.slice('guard '.length) }, checkName(p.t.keyValue))) !== null;
          if (exists) continue; // a rerun after a crash
          await runGuarded(db, (trx) => sql.raw(s.sql).execute(trx), { ...guard, label: `isolate: ${s.id}` });
        }
        // Leave no constraint behind when the run fails: the online ones must not outlive it.
        const unguard = async () => {
          for (const s of p.steps!.after) await runGuarded(db, (trx) => sql.raw(s.sql).execute(trx), { ...guard, label: `isolate: ${s.id}` }).catch(() => undefined);
        };
        let copyLeaf = p.viaCopy;
        if (!copyLeaf) {
          try {
            // Held from the root's lock through the COMMIT.
            let first = 0;
            await runGuarded(db, async (trx) => {
              first = 0;
              await releaseLocksBeforeFlush(trx); // the audit row's commit below flushes it
              for (const s of p.steps!.swap) {
                await sql.raw(s.sql).execute(trx); // sql.raw: compiled by kysely in isolateSteps
                if (first === 0) first = performance.now();
              }
            }, { ...guard, label: `isolate ${p.t.root.name}` });
            held = performance.now() - first;
            scanned = p.leafScanRows;
            for (const s of p.steps!.after) await runGuarded(db, (trx) => sql.raw(s.sql).execute(trx), { ...guard, label: `isolate: ${s.id}` });
          } catch (err) {
            if (sqlStateOf(err) !== '23514') {
              await unguard();
              throw err;
            }
            // The application wrote the scope meanwhile (its leaf's CHECK failed; nothing changed): move those rows out instead.
            o.onEvent?.(`${p.t.keyValue} got rows while isolate ran: moving them out of ${p.hashLeaf!.name}`);
            copyLeaf = true;
          }
        }
        if (copyLeaf) {
          try {
            const moved = await moveScopeOutOfDefault(db, p.move!, guard, o.onEvent);
            held = moved.lockHeldMs;
            rowsMoved = moved.rows;
            // A scope that got its first rows while isolate ran was planned without a move.
            scanned = moved.copyScannedUnderLock ? p.leafScanRows || (await leafRows(db, p.hashLeaf!)) : 0;
            p.hasRows ||= moved.rows > 0;
          } catch (err) {
            await unguard();
            throw err;
          }
        }
      }
      results.push({ table: `${p.t.table.schema}.${p.t.table.name}`, partitioned: `${p.t.root.schema}.${p.t.root.name}`, partition: p.partition, action: p.steps ? (p.hasRows ? 'moved' : 'created') : 'already_isolated', default_leaf: p.hashLeaf ? `${p.hashLeaf.schema}.${p.hashLeaf.name}` : null, rows_moved: rowsMoved, lock_held_ms: Math.round(held * 10) / 10, rows_scanned_under_lock: scanned, steps: stepsOf(p) });
    }
    const auditId = await writeAudit(db, { command: 'isolate', table: labels.join(', '), appEnv: o.settings.appEnv, tenantId: target.tenantId, scope: target.scope }, 'succeeded',
      results.flatMap((r) => r.steps.map((s) => ({ ...s, status: 'succeeded' as const }))), { tables: results.map((r) => ({ table: r.table, partition: r.partition, action: r.action, lock_held_ms: r.lock_held_ms })) });
    return { tenant_id: target.tenantId, scope: target.scope, scope_key: keyValue, dry_run: false, tables: results, notes, audit_id: auditId };
  };
  try {
    return await withAdvisoryLocks(db, 'partitions', labels, work);
  } catch (err) {
    if (err instanceof RunInProgressError) throw new SafetyRefusedError('isolate-in-progress', `${err.message}: another purge, isolate or maintain is changing these partitions`, { fix: err.fix });
    throw err;
  }
}
