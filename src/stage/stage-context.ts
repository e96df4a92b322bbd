import type { PartgovConfig, TableConfig } from '../config/config-schema.js';
import { selectTables } from '../config/load-config.js';
import type { RuntimeSettings } from '../config/runtime-settings.js';
import type { PartgovDatabase } from '../db/open-database.js';
import type { GuardOptions, GuardRetryEvent } from '../db/run-guarded.js';
import { InputInvalidError } from '../errors.js';

/**
 * How far a long stage has got (backfill's rows, …): one shape for every
 * stage, so a renderer or a library user's callback needs to know none.
 */
export interface StageProgress {
  stage: string;
  table: string | null;
  done: number;
  total: number | null;
  unit: string;
  per_sec: number | null;
  eta_sec: number | null;
  /** Stage-specific figures, e.g. backfill's batches and batch_size. */
  figures: Record<string, number>;
}

/**
 * What every stage runs with: `run<Stage>(ctx, input)`. The database comes
 * with a connection factory (`database.open`), so no stage sees the URL;
 * settings carry the timeouts, retries and APP_ENV; the config is the parsed
 * file (undefined only for the commands that work without one).
 */
export interface StageContext {
  readonly database: PartgovDatabase;
  readonly settings: RuntimeSettings;
  readonly config: PartgovConfig | undefined;
  /** One line of what the stage is doing (the CLI writes it to stderr). */
  readonly log: (message: string) => void;
  readonly onProgress: (p: StageProgress) => void;
  /** A lock-timeout retry (the CLI says so on stderr). */
  readonly onRetry: (e: GuardRetryEvent) => void;
  readonly now: () => Date;
}

export interface StageContextParts {
  settings: RuntimeSettings;
  config?: PartgovConfig | undefined;
  log?: (message: string) => void;
  onProgress?: (p: StageProgress) => void;
  onRetry?: (e: GuardRetryEvent) => void;
  now?: () => Date;
}

/**
 * A context for library use; the parts left out do nothing (no logging, no
 * progress). `database` may be a function, called on first use: the CLI opens
 * the pool only for stages that touch the database (preflight reports a missing
 * URL as a failed check instead).
 */
export function stageContext(database: PartgovDatabase | (() => PartgovDatabase), parts: StageContextParts): StageContext {
  let opened = typeof database === 'function' ? undefined : database;
  return {
    get database() {
      opened ??= (database as () => PartgovDatabase)();
      return opened;
    },
    settings: parts.settings,
    config: parts.config,
    log: parts.log ?? (() => undefined),
    onProgress: parts.onProgress ?? (() => undefined),
    onRetry: parts.onRetry ?? (() => undefined),
    now: parts.now ?? (() => new Date()),
  };
}

/** The config, or bad input (exit 2) naming the stage that needs it. */
export function requireConfig(ctx: StageContext, stage: string): PartgovConfig {
  if (ctx.config) return ctx.config;
  throw new InputInvalidError(`${stage} needs a config file`, { fix: 'pass --config partgov.config.json (partgov init writes one)' });
}

/** The one configured table a stage acts on, by name or schema.name (exit 2 when it is not configured). */
export function configuredTable(ctx: StageContext, stage: string, name: string): TableConfig {
  const found = selectTables(requireConfig(ctx, stage), name);
  if (found.length > 1) {
    throw new InputInvalidError(`${stage}: table ${JSON.stringify(name)} is configured in ${found.length} schemas`, { fix: `name it with its schema: ${found.map((t) => `${t.schema}.${t.name}`).join(' or ')}` });
  }
  return found[0]!;
}

/** lock_timeout, statement_timeout and retries of the settings, for runGuarded. */
export function guardOf(ctx: StageContext, label: string): GuardOptions {
  return { label, lockTimeoutMs: ctx.settings.lockTimeoutMs, statementTimeoutMs: ctx.settings.statementTimeoutMs, retries: ctx.settings.lockRetries, onRetry: ctx.onRetry };
}

/** The same context with another config, database or log (an orchestrator running a stage on a copy of a table, or keeping its log). */
export function derivedContext(ctx: StageContext, change: { config?: PartgovConfig; database?: PartgovDatabase; log?: (message: string) => void }): StageContext {
  return stageContext(change.database ?? (() => ctx.database), { settings: ctx.settings, config: change.config ?? ctx.config, log: change.log ?? ctx.log, onProgress: ctx.onProgress, onRetry: ctx.onRetry, now: ctx.now });
}
