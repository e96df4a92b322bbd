import { Option } from 'commander';
import { selectTables } from '../../config/load-config.js';
import { runPurge, type PurgeMode, type PurgeResult } from '../../purge/run-purge.js';
import { runRestore } from '../../purge/run-restore.js';
import { runCommand } from '../run-command.js';
import { action, example, scopeTargetOptions, type CommandKit } from '../command-kit.js';

function renderPurge(r: PurgeResult): string {
  const lines = r.tables.map((t) => {
    const rows = `${t.rows_exact ? '' : '~'}${t.rows} row(s)`;
    const what = t.strategy === 'none' ? 'no partition can hold the scope' : `${t.partitions.length} partition(s), ${rows}`;
    const done = r.dry_run || t.strategy === 'none' ? '' : `; ${t.ms} ms, exclusive lock ${t.lock_held_ms} ms${t.archive_table_rows_deleted !== null ? `; ${t.archive_table_rows_deleted} row(s) removed from the kept legacy table too` : ''}`;
    return `  ${t.table}: ${t.strategy} (${what})${done}`;
  });
  const head = r.dry_run
    ? `purge ${r.tenant_id}/${r.scope} (mode ${r.mode}) — DRY RUN, nothing changed:`
    : `purged ${r.tenant_id}/${r.scope} (mode ${r.mode}) in ${r.duration_ms} ms; audit row ${r.audit_id}:`;
  const archive = r.archive ? [`  archive: ${r.archive.dir} (${r.archive.rows} row(s), ${r.archive.bytes} bytes, SHA-256 in MANIFEST.json)`] : [];
  const tail = [`  tables that needed a DELETE: ${r.purge_delete_strategy_tables_total}`];
  return [head, ...lines, ...archive, ...tail, ...(r.dry_run ? ['', r.script] : [])].join('\n');
}

/** `partgov purge` and `partgov restore`: flags, one library call, a renderer. */
export function registerPurge(program: CommandKit['program']): void {
  scopeTargetOptions(example(
    program
      .command('purge')
      .description("remove one tenant's scope from every configured table: TRUNCATE/DROP of its dedicated partitions (partition mode), else a batched DELETE pruned to its partitions (auto, delete)"),
    "partgov purge --tenant-id acme --scope perf --confirm acme/perf --dry-run",
  ))
    .addOption(new Option('--mode <mode>', 'partition (default: purge.default_mode) | auto | delete').choices(['partition', 'auto', 'delete']))
    .option('--table <name...>', 'only these configured tables')
    .option('--dry-run', 'print the plan per table and its SQL; change nothing')
    .option('--archive <dir>', 'first stream the rows out (COPY, gzip, SHA-256 manifest) into a new directory under <dir>')
    .option('--drop-partitions', 'detach and drop dedicated partitions instead of truncating them')
    .option('--allow-delete', 'in prod, allow --mode delete')
    .action(
      action((g, o) =>
        runCommand({ name: 'purge', config: 'required' }, g, async (ctx) => {
          const config = ctx.requireConfig();
          const names = o.table as string[] | undefined;
          const tables = names === undefined ? undefined : names.flatMap((n) => selectTables(config, n));
          const result = await runPurge(ctx.database(), {
            tenantId: o.tenantId as string | undefined,
            scope: o.scope as string | undefined,
            confirm: o.confirm as string | undefined,
            ...(o.mode ? { mode: o.mode as PurgeMode } : {}),
            ...(tables ? { tables } : {}),
            dryRun: o.dryRun === true,
            ...(typeof o.archive === 'string' ? { archiveDir: o.archive } : {}),
            allowDelete: o.allowDelete === true,
            dropPartitions: o.dropPartitions === true,
          }, {
            settings: ctx.settings,
            config,
            onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate} (${e.message}); retrying, ${e.retriesLeft} left`),
            onEvent: (m) => ctx.log(`purge: ${m}`),
          });
          return { ok: true, result, human: renderPurge(result) };
        }),
      ),
    );

  example(
    program.command('restore').description('load a purge archive back: SHA-256 of every file checked first, the restored rows checksummed before commit'),
    'partgov restore --archive artifacts/purge/acme__perf__20261122T030000Z --confirm acme/perf',
  )
    .requiredOption('--archive <dir>', 'the archive directory purge --archive printed')
    .option('--confirm <tenant/scope>', "the archive's tenant and scope, as <tenant>/<scope>: required")
    .option('--dry-run', 'check the archive and the target; load nothing')
    .action(
      action((g, o) =>
        runCommand({ name: 'restore', config: 'required' }, g, async (ctx) => {
          const result = await runRestore(ctx.database(), { archiveDir: o.archive as string, confirm: o.confirm as string | undefined, dryRun: o.dryRun === true }, { settings: ctx.settings, config: ctx.requireConfig() });
          const lines = result.tables.map((t) => `  ${t.table}: ${t.rows} row(s)${t.checksum_matches ? ', checksum equal to the archive' : ''}`);
          const head = result.dry_run ? `restore ${result.tenant_id}/${result.scope} — DRY RUN: archive intact, scope empty; would load:` : `restored ${result.tenant_id}/${result.scope} from ${result.archive} in ${result.duration_ms} ms; audit row ${result.audit_id}:`;
          return { ok: true, result, human: [head, ...lines].join('\n') };
        }),
      ),
    );
}
