import { Option } from 'commander';
import { lockFigure, purgeInputSchema, runPurge, type PurgeResult } from '../../purge/run-purge.js';
import { restoreInputSchema, runRestore } from '../../purge/run-restore.js';
import { helpOf, parseStageInput } from '../../stage/stage-input.js';
import { runCommand } from '../run-command.js';
import { action, example, inputOptions, scopeTargetOptions, type CommandKit } from '../command-kit.js';

function renderPurge(r: PurgeResult): string {
  const lines = r.tables.map((t) => {
    const rows = `${t.rows_exact ? '' : '~'}${t.rows} row(s)`;
    // A DELETE strategy over no row of the scope ran nothing: say that, not "delete".
    if (t.strategy === 'none' || ((t.strategy === 'delete' || t.strategy === 'pruned_delete') && t.rows_exact && t.rows === 0)) {
      return `  ${t.table}: nothing to purge (${t.strategy === 'none' ? 'no partition can hold the scope' : 'no row of the scope'})`;
    }
    const read = t.default_leaves_read > 0 ? `; ${r.dry_run ? 'would read' : 'read'} ${t.default_leaves_read} DEFAULT leaf/leaves to prove them free of the scope, writes going on` : '';
    const what = `${t.partitions.length} partition(s), ${rows}${read}`;
    const left = t.rows_left_unarchived ? `\n    ${t.rows_left_unarchived} row(s) of the scope written or changed after the archive were left in place (not in the archive): stop the application's writes to it, then purge again with a new --archive` : '';
    const done = r.dry_run ? '' : `; ${t.ms} ms, ${lockFigure(t)}${t.archive_table_rows_deleted !== null ? `; ${t.archive_table_rows_deleted} row(s) removed from the kept legacy table too` : ''}${left}`;
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
  inputOptions(scopeTargetOptions(example(
    program
      .command('purge')
      .description("remove one tenant's scope from every configured table: its dedicated partitions emptied (swapped for empty twins, or TRUNCATEd) or dropped (partition mode), else a batched DELETE pruned to its partitions (auto, delete)"),
    "partgov purge --tenant-id acme --scope perf --confirm acme/perf --dry-run",
  ), purgeInputSchema), purgeInputSchema, '--table <name...>', '--dry-run', '--archive <dir>', '--drop-partitions', '--allow-delete')
    .addOption(new Option('--mode <mode>', helpOf(purgeInputSchema, 'mode')).choices(['partition', 'auto', 'delete']))
    .action(
      action((g, o) =>
        runCommand({ name: 'purge', config: 'required' }, g, async (ctx) => {
          const result = await runPurge(ctx.stage(), parseStageInput('purge', purgeInputSchema, o));
          return { ok: result.ok, result, human: renderPurge(result) };
        }),
      ),
    );

  inputOptions(example(
    program.command('restore').description('load a purge archive back: SHA-256 of every file checked first, the restored rows checksummed before commit'),
    'partgov restore --archive artifacts/purge/acme__perf__20261122T030000Z --confirm acme/perf',
  ), restoreInputSchema, '--archive <dir>', '--confirm <tenant/scope>', '--dry-run', '--merge', '--replace')
    .action(
      action((g, o) =>
        runCommand({ name: 'restore', config: 'required' }, g, async (ctx) => {
          const result = await runRestore(ctx.stage(), parseStageInput('restore', restoreInputSchema, o));
          const lines = result.tables.map((t) => `  ${t.table}: ${t.rows} row(s)${t.rows_replaced ? ` (${t.rows_replaced} replacing the row with their key)` : ''}${t.checksum_matches ? ', checksum equal to the archive' : ''}`);
          const head = result.dry_run ? `restore ${result.tenant_id}/${result.scope} — DRY RUN: archive intact, ${result.merge ? 'would add to the scope\'s rows' : 'scope empty; would load'}:` : `restored ${result.tenant_id}/${result.scope} from ${result.archive} in ${result.duration_ms} ms; audit row ${result.audit_id}:`;
          return { ok: result.ok, result, human: [head, ...lines].join('\n') };
        }),
      ),
    );
}
