/** One check's outcome, the same shape for every stage (preflight, verify, shadow-read, sync, gate). */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable id, e.g. `equality`, `privileges:public.orders`. */
  name: string;
  status: CheckStatus;
  /** One sentence a DBA can read. */
  detail: string;
  /** The figures behind the status (counts, ratios, milliseconds). */
  figures?: Record<string, unknown>;
  /** What the check is about: differing keys, tables, objects. */
  objects?: string[];
  /** What to do next when it did not pass. */
  fix?: string;
}

export interface Verdict {
  ok: boolean;
  failed: number;
  warned: number;
}

/**
 * The one pass/fail rule: any `fail` fails; with `strict`, any `warn` fails too.
 * `skip` never fails (a check that did not apply).
 *
 * @example
 * verdict([{ name: 'skew', status: 'warn', detail: '…' }], { strict: true }) // { ok: false, failed: 0, warned: 1 }
 */
export function verdict(checks: readonly Check[], o: { strict: boolean }): Verdict {
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  return { ok: failed === 0 && (!o.strict || warned === 0), failed, warned };
}

/** Checks as `strict` sees them: warnings become failures (what preflight --strict reports). */
export function strictly(checks: readonly Check[], strict: boolean): Check[] {
  return checks.map((c) => (strict && c.status === 'warn' ? { ...c, status: 'fail' } : c));
}

/** What every stage's result carries: the checks it made and its own verdict on them. */
export interface StageVerdict {
  ok: boolean;
  checks: Check[];
}

/** A stage's result with its checks and the verdict on them (the stage decides; the CLI only reads `ok`). */
export function judged<T extends object>(result: T, checks: Check[], o: { strict: boolean } = { strict: false }): T & StageVerdict {
  return { ...result, checks, ok: verdict(checks, o).ok };
}
