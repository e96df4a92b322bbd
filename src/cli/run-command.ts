import { assertAppEnvRules } from '../config/app-env-rules.js';
import type { PartgovConfig } from '../config/config-schema.js';
import { loadConfig } from '../config/load-config.js';
import { parseEnv, resolveSettings, type RuntimeSettings } from '../config/runtime-settings.js';
import { redactSecrets } from '../db/database-url.js';
import { openDatabase, type PartgovDatabase } from '../db/open-database.js';
import { ExitCode, toPartgovError, type PartgovError } from '../errors.js';
import { recordRun } from '../state/run-ledger.js';
import { stageContext, type StageContext, type StageProgress } from '../stage/stage-context.js';

/** Options every command accepts (PRODUCT.md §4). */
export interface GlobalOptions {
  config?: string;
  databaseUrl?: string;
  json?: boolean;
  lockTimeout?: string;
  statementTimeout?: string;
  appEnv?: string;
  verbose?: boolean;
}

export interface CommandSpec {
  name: string;
  /** 'required': load and validate the config file; 'optional': load it when it exists. */
  config: 'required' | 'optional' | 'none';
  startsEmbeddedDatabase?: boolean;
  /** preflight reports the APP_ENV rules as checks instead of refusing on them. */
  reportsAppEnvRules?: boolean;
  /** The stage writes its own partgov.run rows (verify: one per table); the frame writes none. */
  recordsOwnRuns?: boolean;
}

/** What a command body gets: validated settings and config, a lazily opened database, stderr logging. */
export interface CommandContext {
  settings: RuntimeSettings;
  config: PartgovConfig | undefined;
  requireConfig(): PartgovConfig;
  /** Opens the database on first call; `maxConnections` sizes the pool (first call wins). */
  database(options?: { maxConnections?: number }): PartgovDatabase;
  log(line: string): void;
  /** The stage context over that database: settings, config, stderr logging and retry notices. */
  stage(options?: { maxConnections?: number; onProgress?: (p: StageProgress) => void }): StageContext;
  json: boolean;
}

/** A command's figures plus whether it passed; `exitCode` overrides the ok → 0 / !ok → 1 default. */
export interface CommandOutcome<R extends object> {
  ok: boolean;
  result: R;
  /** Text for a terminal; in --json mode the result is printed instead. */
  human: string;
  /** Where the human text goes: stdout by default; plan prints SQL to stdout and the summary to stderr. */
  humanTo?: 'stdout' | 'stderr';
  exitCode?: number;
}

/**
 * What partgov.run records of a command: its table as `schema.name` (from the
 * config when it lists it) and its flags, never the database URL.
 */
function ledgerEntry(globals: GlobalOptions, config: PartgovConfig | undefined): { table: string | undefined; args: Record<string, unknown> } {
  const args: Record<string, unknown> = { ...globals };
  delete args.databaseUrl;
  const name = typeof args.table === 'string' ? args.table : undefined;
  const t = name === undefined ? undefined : config?.tables.find((x) => x.name === name || `${x.schema}.${x.name}` === name);
  return { table: t ? `${t.schema}.${t.name}` : name, args };
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text.length === 0) resolve();
    else stream.write(text.endsWith('\n') ? text : `${text}\n`, () => resolve());
  });
}

/**
 * Runs one CLI command: validates env, flags and config (exit 2 on bad input),
 * checks the APP_ENV rules (exit 3), runs the body, prints one JSON document or
 * human text, maps errors to exit codes, and redacts the database password from
 * everything it prints. Returns the exit code.
 */
export async function runCommand<R extends object>(
  spec: CommandSpec,
  globals: GlobalOptions,
  body: (ctx: CommandContext) => Promise<CommandOutcome<R>>,
): Promise<number> {
  const startedAt = new Date();
  const json = globals.json === true;
  let databaseUrl: string | undefined = globals.databaseUrl ?? process.env.DATABASE_URL;
  let opened: PartgovDatabase | undefined;
  const redact = (text: string) => redactSecrets(text, databaseUrl);
  const envelope = (ok: boolean) => ({
    command: spec.name,
    ok,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
  });
  try {
    const env = parseEnv(process.env);
    const configFile = globals.config ?? 'partgov.config.json';
    let config: PartgovConfig | undefined;
    if (spec.config === 'required' || (spec.config === 'optional' && globals.config !== undefined)) {
      config = await loadConfig(configFile);
    } else if (spec.config === 'optional') {
      config = await loadConfig(configFile).catch((err: PartgovError) => {
        if (err.code === 'bad_input') return undefined; // no config file: fine for this command
        throw err;
      });
    }
    const settings = resolveSettings(globals, env, config);
    databaseUrl = settings.databaseUrl;
    if (!spec.reportsAppEnvRules) assertAppEnvRules({ settings, config, command: spec.name, startsEmbeddedDatabase: spec.startsEmbeddedDatabase === true });
    const ctx: CommandContext = {
      settings,
      config,
      json,
      requireConfig: () => {
        if (!config) throw new Error('this command needs a config');
        return config;
      },
      database: (options) => {
        opened ??= openDatabase({ url: settings.databaseUrl, applicationName: `partgov ${spec.name}`, ...options });
        return opened;
      },
      log: (line) => process.stderr.write(`${redact(line)}\n`),
      stage: (options = {}) =>
        stageContext(() => ctx.database(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }), {
          settings,
          config,
          log: (m) => ctx.log(`${spec.name}: ${m}`),
          onRetry: (e) => ctx.log(`${e.label}: ${e.sqlstate ?? 'error'} (${e.message}); retrying, ${e.retriesLeft} left`),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        }),
    };
    const ledger = ledgerEntry(globals, config);
    const outcome = await body(ctx);
    const code = outcome.exitCode ?? (outcome.ok ? ExitCode.ok : ExitCode.checkFailed);
    // A dry run changes nothing, not even the ledger.
    if (opened && !spec.recordsOwnRuns && (globals as { dryRun?: boolean }).dryRun !== true) {
      await recordRun(opened.db, { command: spec.name, table: ledger.table ?? null, appEnv: ctx.settings.appEnv, startedAt, status: outcome.ok ? 'succeeded' : 'failed', args: ledger.args ?? {}, result: outcome.result }).catch(
        (err: unknown) => ctx.log(`partgov ${spec.name}: could not record the run in partgov.run (${(err as Error).message})`),
      );
    }
    if (json) {
      await write(process.stdout, redact(JSON.stringify({ ...envelope(outcome.ok), ...outcome.result }, null, 2)));
    } else {
      await write(outcome.humanTo === 'stderr' ? process.stderr : process.stdout, redact(outcome.human));
    }
    return code;
  } catch (thrown) {
    const err = toPartgovError(thrown);
    // A refusal (exit 2/3) or a busy lock (exit 4) changed nothing and records nothing; a failure mid-way is recorded.
    if (opened && !spec.recordsOwnRuns && err.exitCode === ExitCode.internal) {
      const ledger = ledgerEntry(globals, undefined);
      await recordRun(opened.db, { command: spec.name, table: ledger.table ?? null, appEnv: globals.appEnv ?? process.env.APP_ENV ?? 'dev', startedAt, status: 'failed', args: ledger.args ?? {}, result: null, error: redact(err.message) }).catch(() => undefined);
    }
    if (json) {
      const error = { code: err.code, exit_code: err.exitCode, message: err.message, fix: err.fix, details: err.details };
      await write(process.stdout, redact(JSON.stringify({ ...envelope(false), error }, null, 2)));
    }
    const trace = globals.verbose && thrown instanceof Error && thrown.stack ? `\n${thrown.stack}` : '';
    await write(process.stderr, redact(`partgov ${spec.name}: ${err.message}\n  fix: ${err.fix}${trace}`));
    return err.exitCode;
  } finally {
    await opened?.close().catch(() => undefined);
  }
}
