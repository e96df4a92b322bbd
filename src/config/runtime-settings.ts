import { z } from 'zod';
import { InputInvalidError } from '../errors.js';
import type { PartgovConfig } from './config-schema.js';
import { formatJsonPath } from './load-config.js';

export const appEnvs = ['dev', 'ci', 'prod'] as const;
export type AppEnv = (typeof appEnvs)[number];

const msString = z
  .string()
  .regex(/^\d+$/, 'must be a whole number of milliseconds')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 86_400_000, 'must be between 1 and 86400000');

/** The environment variables partgov reads; validated like the config. */
export const envSchema = z.object({
  APP_ENV: z.enum(appEnvs).optional(),
  DATABASE_URL: z.string().min(1).optional(),
  PARTGOV_LOCK_TIMEOUT_MS: msString.optional(),
  PARTGOV_STATEMENT_TIMEOUT_MS: msString.optional(),
});
export type PartgovEnv = z.output<typeof envSchema>;

export function parseEnv(env: NodeJS.ProcessEnv): PartgovEnv {
  const picked = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]])),
  );
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = formatJsonPath(issue.path);
    throw new InputInvalidError(`environment variable ${name} ${issue.message}`, {
      fix: name === 'APP_ENV' ? 'set APP_ENV to dev, ci or prod' : `fix or unset ${name}`,
    });
  }
  return result.data;
}

/** Flags that override env and config. */
export interface SettingsFlags {
  appEnv?: string;
  databaseUrl?: string;
  lockTimeout?: string;
  statementTimeout?: string;
}

/** Everything a command needs to know about where and how carefully to run. */
export interface RuntimeSettings {
  appEnv: AppEnv;
  databaseUrl: string | undefined;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** Whether lock_timeout was set explicitly (flag, env or config) rather than defaulted. */
  lockTimeoutExplicit: boolean;
  statementTimeoutExplicit: boolean;
  lockRetries: number;
}

/** Defaults outside prod; prod requires both to be set explicitly (rule prod-timeouts-required). */
export const defaultLockTimeoutMs = 5_000;
export const defaultStatementTimeoutMs = 0;

function parseMsFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 86_400_000) {
    throw new InputInvalidError(`${name} ${JSON.stringify(value)} is not a number of milliseconds`, {
      fix: `pass ${name} as a whole number between 1 and 86400000, e.g. ${name} 3000`,
    });
  }
  return n;
}

/** Resolves settings with precedence flag > environment > config > default. */
export function resolveSettings(
  flags: SettingsFlags,
  env: PartgovEnv,
  config: PartgovConfig | undefined,
): RuntimeSettings {
  let appEnv: AppEnv = env.APP_ENV ?? 'dev';
  if (flags.appEnv !== undefined) {
    if (!(appEnvs as readonly string[]).includes(flags.appEnv)) {
      throw new InputInvalidError(`--app-env ${JSON.stringify(flags.appEnv)} is not an app environment`, {
        fix: 'pass --app-env dev, ci or prod',
      });
    }
    appEnv = flags.appEnv as AppEnv;
  }
  const lock = parseMsFlag('--lock-timeout', flags.lockTimeout) ?? env.PARTGOV_LOCK_TIMEOUT_MS ?? config?.lock_timeout_ms;
  const stmt =
    parseMsFlag('--statement-timeout', flags.statementTimeout) ??
    env.PARTGOV_STATEMENT_TIMEOUT_MS ??
    config?.statement_timeout_ms;
  return {
    appEnv,
    databaseUrl: flags.databaseUrl ?? env.DATABASE_URL,
    lockTimeoutMs: lock ?? defaultLockTimeoutMs,
    statementTimeoutMs: stmt ?? defaultStatementTimeoutMs,
    lockTimeoutExplicit: lock !== undefined,
    statementTimeoutExplicit: stmt !== undefined,
    lockRetries: config?.lock_retries ?? 5,
  };
}
