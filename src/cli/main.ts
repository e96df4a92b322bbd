import { Command, Option } from 'commander';
import { runInit } from '../init/run-init.js';
import { runMigrate } from '../migrate/run-migrate.js';
import { runPreflight } from '../preflight/run-preflight.js';
import { runDemo } from '../demo/run-demo.js';
import { renderPlanSql, runPlan } from '../plan/run-plan.js';
import { runSync } from '../sync/run-sync.js';
import { maxJobs, runBackfill } from '../backfill/run-backfill.js';
import { selectTables } from '../config/load-config.js';
import { InputInvalidError } from '../errors.js';
import { backfillProgress } from './backfill-progress.js';
import { numberFlag } from './number-flag.js';
import { runVerify } from '../verify/run-verify.js';
import { runShadowRead } from '../shadow-read/run-shadow-read.js';
import { renderChecks, renderMigrate } from './render.js';
import { runCommand, type GlobalOptions } from './run-command.js';
import { renderSteps } from '../steps/run-steps.js';
import { runCutover, runRetire, runRollback } from '../cutover/run-cutover.js';
import { renderStatus, runStatus } from '../status/run-status.js';

type Handler = (globals: GlobalOptions, opts: Record<string, unknown>, args: string[]) => Promise<number>;

function example(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', `\nExample:\n  ${text}\n`);
}

/** Builds the commander program. Commands parse flags, call one library function, and print. */
export function buildProgram(onExit: (code: number) => void): Command {
  const program = new Command('partgov')
    .description('Govern partitioned PostgreSQL tables safely: plan, backfill, verify, cut over, purge, gate.')
    .option('--config <file>', 'config file', undefined)
    .option('--database-url <url>', 'PostgreSQL URL (default: env DATABASE_URL)')
    .option('--json', 'print one JSON document on stdout; logs go to stderr')
    .option('--lock-timeout <ms>', 'lock_timeout for every DDL or destructive step')
    .option('--statement-timeout <ms>', 'statement_timeout for every step')
    .addOption(new Option('--app-env <env>', 'dev|ci|prod (default: env APP_ENV, else dev)'))
    .option('--verbose', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride();

  const action = (handler: Handler) =>
    async function (this: Command, ...rest: unknown[]) {
      const globals = this.optsWithGlobals<GlobalOptions>();
      const args = rest.slice(0, -2).filter((a): a is string => typeof a === 'string');
      onExit(await handler(globals, this.opts(), args));
    };

  example(
    program.command('init').description('write a starter partgov.config.json (the example memory schema)'),
    'partgov init --config partgov.config.json',
  )
    .option('--force', 'overwrite an existing file')
    .action(
      action((g, o) =>
        runCommand({ name: 'init', config: 'none' }, g, async () => {
          const result = await runInit({ file: g.config ?? 'partgov.config.json', force: o.force === true });
          return { ok: true, result, human: `wrote ${result.file} (${result.tables} tables); edit it, then run \`partgov preflight\`` };
        }),
      ),
    );

  example(
    program.command('preflight').description('check connectivity, server version, APP_ENV rules, state schema and tables'),
    'partgov preflight --strict --json > preflight.json',
  )
    .option('--strict', 'warnings count as failures')
    .action(
      action((g, o) =>
        runCommand({ name: 'preflight', config: 'optional', reportsAppEnvRules: true }, g, async (ctx) => {
          const result = await runPreflight({
            settings: ctx.settings,
            config: ctx.config,
            strict: o.strict === true,
            migrationsFolder: ctx.config?.migrations_dir,
          });
          return { ok: result.ok, result, human: renderChecks('preflight', result.checks) };
        }),
      ),
    );

  example(
    program
      .command('migrate')
      .description("apply partgov's state schema and the plan's DDL migrations")
      .argument('<action>', 'up | down | status'),
    'partgov migrate up && partgov migrate status --json',
  )
    .option('--all', 'with down: revert every migration, not only the last')
    .option('--dry-run', 'with up/down: print the SQL of what would run, apply nothing')
    .action(
      action((g, o, [direction]) =>
        runCommand({ name: 'migrate', config: 'optional' }, g, async (ctx) => {
          if (direction !== 'up' && direction !== 'down' && direction !== 'status') {
            throw new InputInvalidError(`unknown migrate action ${JSON.stringify(direction)}`, {
              fix: 'use `partgov migrate up`, `partgov migrate down [--all]` or `partgov migrate status`',
            });
          }
          const result = await runMigrate(ctx.database().db, {
            action: direction,
            all: o.all === true,
            dryRun: o.dryRun === true,
            planFolder: ctx.config?.migrations_dir,
            lockTimeoutMs: ctx.settings.lockTimeoutMs,
            statementTimeoutMs: ctx.settings.statementTimeoutMs,
            lockRetries: ctx.settings.lockRetries,
          });
          return { ok: true, result, human: renderMigrate(result) };
        }),
      ),
    );

  example(
    program.command('plan').description('generate the partitioned shadow DDL from the legacy catalog (SQL on stdout)'),
    'partgov plan --table memory_nodes > plan.sql   # or: partgov plan --out partgov/migrations',
  )
    .option('--table <name>', 'only this configured table')
    .option('--out <dir>', 'write numbered up/down migration files for `partgov migrate up`')
    .action(
      action((g, o) =>
        runCommand({ name: 'plan', config: 'required' }, g, async (ctx) => {
          const result = await runPlan(ctx.database().db, ctx.requireConfig(), {
            table: o.table as string | undefined,
            out: o.out as string | undefined,
          });
          for (const t of result.tables) {
            ctx.log(`plan ${t.table} -> ${t.shadow_name}: ${t.layout}, ${t.leaf_count} leaves, ${t.statements.length} statements${t.shadow_exists ? ' (shadow already exists)' : ''}`);
            for (const c of t.changes) ctx.log(`  change: ${c}`);
            for (const n of t.notes) ctx.log(`  note: ${n}`);
          }
          for (const f of result.files) ctx.log(`${f.status} ${f.up}`);
          return { ok: true, result, human: result.tables.map((t) => renderPlanSql(t)).join('\n') };
        }),
      ),
    );

  example(
    program
      .command('sync')
      .description('enable: log every change to the legacy table for the shadow; replay: apply the log; disable: remove it')
      .argument('<action>', 'enable | disable | replay'),
    'partgov sync enable --table memory_nodes --dry-run > sync.sql',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--dry-run', 'print the SQL enable/disable would run and change nothing')
    .action(
      action((g, o, [direction]) =>
        runCommand({ name: 'sync', config: 'required' }, g, async (ctx) => {
          if (direction !== 'enable' && direction !== 'disable' && direction !== 'replay') {
            throw new InputInvalidError(`unknown sync action ${JSON.stringify(direction)}`, { fix: 'use `partgov sync enable|disable|replay --table T`' });
          }
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const dryRun = o.dryRun === true;
          const result = await runSync(ctx.database().db, table!, {
            action: direction,
            settings: ctx.settings,
            dryRun,
            onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate} (${e.message}); retrying, ${e.retriesLeft} left`),
          });
          if (dryRun) {
            ctx.log(`sync ${direction} ${result.table}: dry run, nothing changed`);
            return { ok: true, result, human: renderSteps(result.steps) || `-- sync ${direction}: nothing to do (sync is already ${result.enabled ? 'on' : 'off'})` };
          }
          const human =
            direction === 'replay'
              ? `sync replay ${result.table}: ${result.replay!.entries} log entries, ${result.replay!.keys} keys rewritten (${result.replay!.rows_inserted} rows), ${result.replay!.waiting} waiting for the backfill, ${result.rejected_keys} rejected keys`
              : `sync ${result.enabled ? 'enabled' : 'disabled'} on ${result.table} -> ${result.shadow} (change log ${result.change_log})${result.was_enabled === result.enabled ? ' (it already was)' : ''}${result.entries_dropped ? `; ${result.entries_dropped} unreplayed entries dropped` : ''}`;
          return { ok: result.rejected_keys === 0, result, human };
        }),
      ),
    );

  example(
    program.command('backfill').description('copy legacy rows into the shadow in resumable, checksummed keyset batches'),
    'partgov backfill --table memory_nodes --batch-size 10000 --sleep-ms 20 --max-batch-ms 2000',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--batch-size <n>', 'rows per batch (the ceiling adaptive sizing returns to)', '10000')
    .option('--jobs <n>', 'batches in flight at once, each on its own connection; also leaf index builds at once with --defer-indexes', '1')
    .option('--sleep-ms <n>', 'pause between batches', '0')
    .option('--max-batch-ms <n>', 'halve the batch when one takes longer', '5000')
    .option('--max-duration <s>', 'stop cleanly after this many seconds; run again to continue')
    .option('--defer-indexes', 'drop secondary shadow indexes for the copy, build them per leaf afterwards')
    .option('--restart', 'empty the shadow, forget the checkpoint and copy from the first key again')
    .action(
      action((g, o) =>
        runCommand({ name: 'backfill', config: 'required' }, g, async (ctx) => {
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const jobs = numberFlag('--jobs', o.jobs, { integer: true, min: 1, max: maxJobs });
          const progress = backfillProgress();
          try {
            // One connection per job, one for the advisory lock, one for chunk probes, one for replay.
            const result = await runBackfill(ctx.database({ maxConnections: jobs + 3 }).db, table!, {
              settings: ctx.settings,
              jobs,
              batchSize: numberFlag('--batch-size', o.batchSize, { integer: true, min: 1 }),
              sleepMs: numberFlag('--sleep-ms', o.sleepMs, { integer: true }),
              maxBatchMs: numberFlag('--max-batch-ms', o.maxBatchMs, { integer: true, min: 1 }),
              ...(o.maxDuration !== undefined ? { maxDurationSec: numberFlag('--max-duration', o.maxDuration, { min: 1 }) } : {}),
              deferIndexes: o.deferIndexes === true,
              restart: o.restart === true,
              onProgress: (p) => progress.update(p),
              onEvent: (m) => ctx.log(`backfill: ${m}`),
            });
            progress.stop();
            const human = [
              `backfill ${result.table} -> ${result.shadow}: ${result.complete ? 'complete' : `stopped (${result.stopped_reason}); run again to continue`}`,
              `  ${result.rows_copied} rows in ${result.batches} batches, ${(result.duration_ms / 1000).toFixed(1)} s, ${result.rows_per_sec} rows/s, ${result.retries} retries`,
              `  checkpoint: ${result.final_checkpoint.rows_copied} rows total, last key ${JSON.stringify(result.final_checkpoint.last_key)}`,
              ...(result.deferred_indexes.dropped.length ? [`  deferred indexes: ${result.deferred_indexes.dropped.join(', ')} (${result.deferred_indexes.leaf_indexes_built} leaf indexes built in ${(result.deferred_indexes.build_ms / 1000).toFixed(1)} s)`] : []),
            ].join('\n');
            return { ok: true, result, human };
          } finally {
            progress.stop();
          }
        }),
      ),
    );

  example(
    program.command('verify').description('prove the shadow holds exactly the legacy rows, and check partition health'),
    'partgov verify --json > verify.json   # exit 1 when a check fails',
  )
    .option('--table <name>', 'only this configured table')
    .option('--segments <n>', 'hash segments compared per table', '64')
    .option('--max-diff-keys <n>', 'differing keys listed per table', '100')
    .option('--strict', 'warnings fail too')
    .option('--skew-threshold <x>', 'largest/smallest hash leaf ratio that warns', '4')
    .option('--bloat-threshold <x>', 'dead-tuple ratio that warns', '0.2')
    .action(
      action((g, o) =>
        runCommand({ name: 'verify', config: 'required', recordsOwnRuns: true }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const result = await runVerify(ctx.database().db, config, {
            url: ctx.settings.databaseUrl!,
            table: o.table as string | undefined,
            segments: numberFlag('--segments', o.segments, { integer: true, min: 1, max: 65536 }),
            maxDiffKeys: numberFlag('--max-diff-keys', o.maxDiffKeys, { integer: true, min: 1, max: 1_000_000 }),
            strict: o.strict === true,
            skewThreshold: numberFlag('--skew-threshold', o.skewThreshold, { min: 1 }),
            bloatThreshold: numberFlag('--bloat-threshold', o.bloatThreshold, { max: 1 }),
            statementTimeoutMs: ctx.settings.statementTimeoutMs,
            lockTimeoutMs: ctx.settings.lockTimeoutMs,
            appEnv: ctx.settings.appEnv,
            evidenceDir: config.evidence_dir,
          });
          const human = result.tables
            .map((t) => renderChecks(`verify ${t.table} (${t.equality.duration_ms} ms, ${t.equality.queries} queries)`, t.checks.map((c) => ({ ...c, status: c.status === 'warn' && result.strict ? 'fail' : c.status }))))
            .join('\n\n');
          return { ok: result.ok, result, human: `${human}${result.evidence_file ? `\nevidence: ${result.evidence_file}` : ''}` };
        }),
      ),
    );

  example(
    program.command('shadow-read').description('run the read queries on legacy and shadow for sampled scopes; compare results, latency and pruning'),
    'partgov shadow-read --table memory_nodes --samples 50 --min-overlap 0.95 --json',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--samples <n>', 'scope keys sampled', '20')
    .option('--limit <k>', 'rows compared per query (top k)', '100')
    .option('--min-overlap <x>', 'lowest acceptable result overlap', '0.95')
    .action(
      action((g, o) =>
        runCommand({ name: 'shadow-read', config: 'required' }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const [table] = selectTables(config, o.table as string);
          const result = await runShadowRead(ctx.database(), table!, {
            samples: numberFlag('--samples', o.samples, { integer: true, min: 1, max: 100_000 }),
            limit: numberFlag('--limit', o.limit, { integer: true, min: 1, max: 100_000 }),
            minOverlap: numberFlag('--min-overlap', o.minOverlap, { max: 1 }),
            evidenceDir: config.evidence_dir,
          });
          const ok = result.ok;
          const human = [
            ...result.queries.map((q) =>
              `${q.overlap_min >= result.min_overlap && q.leaves_touched_max === 1 ? 'ok  ' : 'FAIL'} ${q.name}: overlap min ${q.overlap_min} mean ${q.overlap_mean}` +
              ` | p50/p95 legacy ${q.legacy_p50_ms}/${q.legacy_p95_ms} ms, shadow ${q.shadow_p50_ms}/${q.shadow_p95_ms} ms | leaves touched ${q.leaves_touched_max}` +
              (q.overlap_min < result.min_overlap ? ` (worst scope ${JSON.stringify(q.worst_scope)})` : ''),
            ),
            `shadow-read ${result.table}: ${ok ? 'passed' : 'FAILED'} over ${result.samples} sampled ${result.scope_column} values (min overlap ${result.min_overlap})`,
          ].join('\n');
          return { ok, result, human };
        }),
      ),
    );

  for (const verb of ['cutover', 'rollback'] as const) {
    example(
      program
        .command(verb)
        .description(verb === 'cutover' ? 'swap the verified shadow in: one short transaction under lock_timeout; the legacy table stays as an exact archive' : 'swap the archive back in, losing no write made since cutover; sync runs forward again'),
      `partgov ${verb} --table memory_nodes --confirm memory_nodes --dry-run`,
    )
      .requiredOption('--table <name>', 'configured table')
      .option('--confirm <table>', 'the table name again: required')
      .option('--dry-run', 'list what follows the swap and print its SQL; change nothing')
      .action(
        action((g, o) =>
          runCommand({ name: verb, config: 'required' }, g, async (ctx) => {
            const [table] = selectTables(ctx.requireConfig(), o.table as string);
            const run = verb === 'cutover' ? runCutover : runRollback;
            const result = await run(ctx.database().db, table!, {
              settings: ctx.settings,
              confirm: o.confirm as string | undefined,
              dryRun: o.dryRun === true,
              onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate} (${e.message}); retrying, ${e.retriesLeft} left`),
              onEvent: (m) => ctx.log(`${verb}: ${m}`),
            });
            if (result.dry_run) {
              for (const x of result.objects) ctx.log(`${x.action === 'carried' ? 'carried' : 'REFUSED'} ${x.kind} ${x.name}: ${x.detail}`);
              return { ok: true, result, human: result.script };
            }
            const human = result.already
              ? `${verb} ${result.table}: already done, nothing changed`
              : `${verb} ${result.table}: swapped in one transaction, exclusive locks held ${result.lock_held_ms} ms (${result.attempts} attempt(s)); replayed ${result.replayed_before_lock} log entries before the lock and ${result.replayed_in_lock} inside it; ${result.objects.length} dependent object(s) carried; ${verb === 'cutover' ? `the legacy table is ${result.archive}, kept exact` : 'sync runs forward again'}`;
            return { ok: true, result, human };
          }),
        ),
      );
  }

  example(
    program.command('retire').description('stop feeding the archive after cutover and drop it (or keep it as a plain table)'),
    'partgov retire --table memory_nodes --confirm memory_nodes --keep-archive',
  )
    .requiredOption('--table <name>', 'configured table')
    .option('--confirm <table>', 'the table name again: required')
    .option('--keep-archive', 'keep the archive table, only stop the change log')
    .option('--dry-run', 'print the SQL; change nothing')
    .action(
      action((g, o) =>
        runCommand({ name: 'retire', config: 'required' }, g, async (ctx) => {
          const [table] = selectTables(ctx.requireConfig(), o.table as string);
          const result = await runRetire(ctx.database().db, table!, { settings: ctx.settings, confirm: o.confirm as string | undefined, keepArchive: o.keepArchive === true, dryRun: o.dryRun === true });
          if (result.dry_run) return { ok: true, result, human: renderSteps(result.steps) };
          return { ok: true, result, human: `retire ${result.table}: change log removed${result.archive_dropped ? `, ${result.archive} dropped` : `, ${result.archive} kept`}` };
        }),
      ),
    );

  example(
    program.command('status').description('where each configured table stands: shadow, sync, backfill %, verify, cutover'),
    'partgov status --json',
  )
    .option('--table <name>', 'only this configured table')
    .action(
      action((g, o) =>
        runCommand({ name: 'status', config: 'required' }, g, async (ctx) => {
          const result = await runStatus(ctx.database().db, ctx.requireConfig(), { table: o.table as string | undefined });
          return { ok: true, result, human: renderStatus(result) };
        }),
      ),
    );

  example(
    program.command('demo').description('run the pipeline on the example schema in an embedded PostgreSQL'),
    'partgov demo --nodes 200000',
  )
    .option('--nodes <n>', 'memory_nodes rows to generate', '100000')
    .action(
      action((g, o) =>
        runCommand({ name: 'demo', config: 'none', startsEmbeddedDatabase: true }, g, async (ctx) => {
          const result = await runDemo({ nodes: numberFlag('--nodes', o.nodes, { integer: true, min: 1 }), log: ctx.log, settings: ctx.settings });
          return { ok: result.ok, result, human: result.summary };
        }),
      ),
    );

  return program;
}

/** The CLI entry: parses argv and exits with the contract's exit code. */
export async function main(argv: string[]): Promise<void> {
  let code: number | undefined;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    // commander's own help/version output exits 0; its usage errors are bad input (exit 2).
    code = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
  }
  process.exit(code ?? 0);
}
