import { SafetyRefusedError } from '../errors.js';
import { describeDatabaseUrl } from '../db/database-url.js';
import type { PartgovConfig } from './config-schema.js';
import type { AppEnv, RuntimeSettings } from './runtime-settings.js';

/** What a rule looks at: the resolved settings, the config, and what the command is about to do. */
export interface RuleContext {
  settings: RuntimeSettings;
  config: PartgovConfig | undefined;
  command: string;
  /** The command would start an embedded PostgreSQL server (demo, bench). */
  startsEmbeddedDatabase: boolean;
}

export interface AppEnvRule {
  id: string;
  /** Environments the rule applies in. */
  appliesIn: readonly AppEnv[];
  checks: string;
  why: string;
  fix: string;
  /** Returns a description of the violation, or null when the rule holds. */
  violation(ctx: RuleContext): string | null;
}

/** lock_timeout above this in prod lets a DDL sit in the lock queue long enough to stall the app. */
export const prodMaxLockTimeoutMs = 10_000;

/**
 * The APP_ENV safety rules (PRODUCT.md §5), one row each. Every command checks
 * them before it opens a connection; `preflight` reports each as a check.
 */
export const appEnvRules: readonly AppEnvRule[] = [
  {
    id: 'prod-no-embedded-database',
    appliesIn: ['prod'],
    checks: 'no embedded PostgreSQL server is started',
    why: 'an embedded server in prod would hold data nobody backs up and hide a misrouted DATABASE_URL',
    fix: 'point --database-url (or DATABASE_URL) at the real server, or run with APP_ENV=dev',
    violation: (ctx) =>
      ctx.startsEmbeddedDatabase ? `command "${ctx.command}" would start an embedded PostgreSQL server` : null,
  },
  {
    id: 'prod-remote-requires-tls',
    appliesIn: ['prod'],
    checks: 'a connection to a non-local host requires TLS (sslmode=require, verify-ca or verify-full)',
    why: 'credentials and row data would cross the network in clear text',
    fix: 'add ?sslmode=verify-full (or require) to the database URL',
    violation: (ctx) => {
      if (!ctx.settings.databaseUrl) return null;
      const url = describeDatabaseUrl(ctx.settings.databaseUrl);
      if (url.isLocal || url.tls) return null;
      return `host ${url.host} is not local and the URL does not require TLS (sslmode=${url.sslmode ?? 'unset'})`;
    },
  },
  {
    id: 'prod-lock-timeout-required',
    appliesIn: ['prod'],
    checks: 'lock_timeout is set explicitly',
    why: 'a DDL step that waits in the lock queue without a bound blocks every query behind it',
    fix: 'pass --lock-timeout <ms>, set PARTGOV_LOCK_TIMEOUT_MS, or set "lock_timeout_ms" in the config',
    violation: (ctx) => (ctx.settings.lockTimeoutExplicit ? null : 'lock_timeout is not set'),
  },
  {
    id: 'prod-statement-timeout-required',
    appliesIn: ['prod'],
    checks: 'statement_timeout is set explicitly',
    why: 'a runaway statement holds its locks and snapshot until someone notices',
    fix: 'pass --statement-timeout <ms>, set PARTGOV_STATEMENT_TIMEOUT_MS, or set "statement_timeout_ms" in the config',
    violation: (ctx) => (ctx.settings.statementTimeoutExplicit ? null : 'statement_timeout is not set'),
  },
  {
    id: 'prod-lock-timeout-ceiling',
    appliesIn: ['prod'],
    checks: `lock_timeout is at most ${prodMaxLockTimeoutMs} ms`,
    why: 'while a DDL waits for its lock, every later query on the table queues behind it',
    fix: `use --lock-timeout ${prodMaxLockTimeoutMs} or less; partgov retries a lock timeout with backoff`,
    violation: (ctx) =>
      ctx.settings.lockTimeoutMs > prodMaxLockTimeoutMs ? `lock_timeout is ${ctx.settings.lockTimeoutMs} ms` : null,
  },
  {
    id: 'prod-purge-partition-first',
    appliesIn: ['prod'],
    checks: 'the configured default purge mode is "partition"',
    why: 'a DELETE default turns a seconds-long purge into an hours-long, bloat-making one without anyone choosing it',
    fix: 'set "purge": {"default_mode": "partition"}; pass --mode auto|delete on the one run that needs it',
    violation: (ctx) => {
      const mode = ctx.config?.purge.default_mode;
      return mode && mode !== 'partition' ? `purge.default_mode is "${mode}"` : null;
    },
  },
  {
    id: 'prod-retention-archive-default',
    appliesIn: ['prod'],
    checks: 'range retention defaults to archive (detach and keep), not drop',
    why: 'a drop default destroys data on every scheduled maintain run with nobody deciding it',
    fix: 'set retention.action to "archive"; drop archives deliberately with `partgov maintain --drop-archived`',
    violation: (ctx) => {
      const dropping = (ctx.config?.tables ?? []).filter(
        (t) => t.layout.type === 'range' && t.layout.retention?.action === 'drop',
      );
      return dropping.length ? `retention.action is "drop" for ${dropping.map((t) => t.name).join(', ')}` : null;
    },
  },
];

export interface RuleOutcome {
  id: string;
  status: 'pass' | 'fail' | 'skip';
  checks: string;
  detail: string;
  fix: string;
}

/** Evaluates every rule; rules that do not apply in this APP_ENV are `skip`. */
export function evaluateAppEnvRules(ctx: RuleContext): RuleOutcome[] {
  return appEnvRules.map((rule) => {
    if (!rule.appliesIn.includes(ctx.settings.appEnv)) {
      return { id: rule.id, status: 'skip', checks: rule.checks, detail: `not enforced in ${ctx.settings.appEnv}`, fix: '' };
    }
    const v = rule.violation(ctx);
    return v === null
      ? { id: rule.id, status: 'pass', checks: rule.checks, detail: 'holds', fix: '' }
      : { id: rule.id, status: 'fail', checks: rule.checks, detail: v, fix: rule.fix };
  });
}

/** Fail-fast: throws SafetyRefusedError (exit 3) naming the first violated rule. */
export function assertAppEnvRules(ctx: RuleContext): void {
  for (const rule of appEnvRules) {
    if (!rule.appliesIn.includes(ctx.settings.appEnv)) continue;
    const v = rule.violation(ctx);
    if (v !== null) {
      throw new SafetyRefusedError(rule.id, `refused in APP_ENV=${ctx.settings.appEnv}: ${v}. ${rule.why}.`, {
        fix: rule.fix,
      });
    }
  }
}
