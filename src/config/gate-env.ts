import { z } from 'zod';
import { InputInvalidError } from '../errors.js';

/**
 * The Gate C knobs (PRODUCT.md §6, the seed document in shared/reference):
 * environment variables validated like the config, so a misspelt value exits
 * 2 naming the variable instead of silently meaning something else.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const posInt = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);
const ms = posInt.refine((n) => n <= 600_000, 'must be at most 600000 ms');
const fraction = z.string().regex(/^\d*\.?\d+$/, 'must be a number').transform(Number).refine((n) => n >= 0 && n <= 1, 'must be between 0 and 1');
const scales = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of row counts, e.g. 100000,1000000')
  .transform((s) => s.split(',').map(Number))
  .refine((xs) => xs.every((x) => x >= 100 && x <= 100_000_000), 'each scale must be between 100 and 100000000');

export const gateEnvSchema = z.object({
  GATEC_FAIL_ON_FAIL: bool.default(false),
  GATEC_PERF_PROFILE: z.enum(['balanced', 'recall_slo', 'write_slo']).default('balanced'),
  GATEC_SCALES: scales.default([100_000]),
  GATEC_REQUIRE_SCALE: posInt.optional(),
  GATEC_REQUIRE_RECALL_CASE: bool.default(true),
  GATEC_REQUIRE_WRITE_CASE: bool.default(true),
  GATEC_SLO_RECALL_P95_MS: z.string().regex(/^\d*\.?\d+$/, 'must be a number of milliseconds').transform(Number).default(800),
  GATEC_SLO_WRITE_P95_MS: z.string().regex(/^\d*\.?\d+$/, 'must be a number of milliseconds').transform(Number).default(300),
  GATEC_SLO_MAX_ERROR_RATE: fraction.default(0.03),
  GATEC_RESET_IMPL: z.enum(['scope_purge', 'perf_seed']).default('scope_purge'),
  GATEC_RESET_PURGE_MODE: z.enum(['partition', 'auto', 'delete']).default('partition'),
  GATEC_RESET_PURGE_FAIL_ON_DELETE: bool.default(true),
  GATEC_ENFORCE_PARTITION_FIRST_RESET: bool.default(true),
  GATEC_PARTITION_READ_SHADOW_CHECK: bool.default(true),
  GATEC_PARTITION_READ_SHADOW_LIMIT: posInt.refine((n) => n >= 1 && n <= 10_000, 'must be between 1 and 10000').default(50),
  GATEC_PARTITION_READ_SHADOW_MIN_OVERLAP: fraction.default(0.95),
  GATEC_PARTITION_DUAL_WRITE_ENABLED: bool.optional(),
  GATEC_AUTO_ADAPT_RATE_LIMIT: bool.default(true),
  GATEC_MAX_RATE_LIMIT_RETRIES: posInt.refine((n) => n <= 1000, 'must be at most 1000').default(10),
  GATEC_BENCH_PACE_MS: ms.optional(),
  GATEC_PACE_STEP_MS: ms.default(50),
  GATEC_PACE_MAX_MS: ms.default(2000),
  GATEC_BENCH_CONCURRENCY: posInt.refine((n) => n >= 1 && n <= 64, 'must be between 1 and 64').default(8),
  GATEC_BENCH_OPS: posInt.refine((n) => n >= 1 && n <= 1_000_000, 'must be between 1 and 1000000').default(200),
});

export type GateEnv = z.output<typeof gateEnvSchema>;

/** The pacing a profile starts with, unless GATEC_BENCH_PACE_MS says otherwise (the seed's defaults). */
export function startPaceMs(env: GateEnv): number {
  if (env.GATEC_BENCH_PACE_MS !== undefined) return env.GATEC_BENCH_PACE_MS;
  return env.GATEC_PERF_PROFILE === 'recall_slo' ? 50 : env.GATEC_PERF_PROFILE === 'write_slo' ? 150 : 0;
}

/** Reads and validates every GATEC_* variable; a bad value is exit 2 naming it. */
export function parseGateEnv(env: NodeJS.ProcessEnv): GateEnv {
  const picked = Object.fromEntries(Object.keys(gateEnvSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]!.trim()]])));
  const unknown = Object.keys(env).filter((k) => k.startsWith('GATEC_') && !(k in gateEnvSchema.shape));
  if (unknown.length > 0) {
    throw new InputInvalidError(`unknown environment variable ${unknown.join(', ')}`, { fix: `unset it, or use one of: ${Object.keys(gateEnvSchema.shape).join(', ')}` });
  }
  const r = gateEnvSchema.safeParse(picked);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new InputInvalidError(`environment variable ${name}=${JSON.stringify(picked[name] ?? '')} ${issue.message}`, { fix: `fix or unset ${name}` });
  }
  const out = r.data;
  return out;
}
