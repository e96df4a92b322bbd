import { sql } from 'kysely';
import { runGuarded, type GuardOptions } from '../db/run-guarded.js';
import type { PartgovKysely } from '../db/state-tables.js';

/** One named change to the database: what `--dry-run` prints and the audit log records. */
export interface Step {
  id: string;
  description: string;
  /** The exact SQL text that runs (identifiers quoted by kysely, values literal). */
  sql: string;
}

export interface StepReport extends Step {
  status: 'succeeded' | 'failed' | 'not_executed';
}

export interface AuditTarget {
  command: string;
  table: string | null;
  appEnv: string;
  tenantId?: string | null;
  scope?: string | null;
}

export interface StepRunOptions {
  dryRun: boolean;
  guard: GuardOptions;
  audit: AuditTarget;
  /** Extra figures for the audit row. */
  details?: Record<string, unknown>;
}

export interface StepRun {
  dry_run: boolean;
  steps: StepReport[];
  audit_id: string | null;
}

/** Renders steps as a reviewable SQL script (what `--dry-run` prints on stdout). */
export function renderSteps(steps: readonly Step[]): string {
  return steps.map((s) => `-- ${s.id}: ${s.description.replace(/[\u0000-\u001f\u007f]/g, ' ')}\n${s.sql};\n`).join('\n');
}

/**
 * Runs steps in one transaction under the guard (lock_timeout, retries on lock
 * timeout), or with `dryRun` runs nothing. Each step is reported as succeeded,
 * failed or not executed, and the outcome is written to partgov.audit_log
 * (not for a dry run, which changes nothing). A failure rolls back every step
 * and is rethrown after the audit row is written.
 */
export async function runSteps(db: PartgovKysely, steps: readonly Step[], o: StepRunOptions): Promise<StepRun> {
  if (o.dryRun) return { dry_run: true, steps: steps.map((s) => ({ ...s, status: 'not_executed' })), audit_id: null };
  let current = -1;
  let failure: unknown;
  try {
    await runGuarded(
      db,
      async (trx) => {
        for (current = 0; current < steps.length; current++) {
          // sql.raw: the step's text was compiled by kysely from quoted identifiers and literals.
          await sql.raw(steps[current]!.sql).execute(trx);
        }
      },
      o.guard,
    );
  } catch (err) {
    failure = err;
  }
  const reports: StepReport[] = steps.map((s, i) => ({
    ...s,
    // One transaction: on failure nothing before the failed step stayed either.
    status: failure === undefined ? 'succeeded' : i === current ? 'failed' : 'not_executed',
  }));
  const audit = await writeAudit(db, o.audit, failure === undefined ? 'succeeded' : 'failed', reports, {
    ...o.details,
    ...(failure === undefined ? {} : { error: (failure as Error).message }),
  }).catch(() => null);
  if (failure !== undefined) throw failure;
  return { dry_run: false, steps: reports, audit_id: audit };
}

/** Appends one row to partgov.audit_log; returns its id. */
export async function writeAudit(
  db: PartgovKysely,
  target: AuditTarget,
  outcome: 'planned' | 'succeeded' | 'failed' | 'refused',
  steps: readonly StepReport[],
  details: Record<string, unknown>,
): Promise<string> {
  const row = await db
    .insertInto('partgov.audit_log')
    .values({
      app_env: target.appEnv,
      command: target.command,
      table_name: target.table,
      tenant_id: target.tenantId ?? null,
      scope: target.scope ?? null,
      outcome,
      steps: JSON.stringify(steps.map((s) => ({ id: s.id, status: s.status, sql: s.sql }))),
      details: JSON.stringify(details),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
