import { sqlStateOf } from '../errors.js';

/** SQLSTATE codes partgov reacts to, named once (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SqlState = {
  lockNotAvailable: '55P03',
  deadlockDetected: '40P01',
  serializationFailure: '40001',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  uniqueViolation: '23505',
  notNullViolation: '23502',
  /** Also "no partition of relation … found for row". */
  checkViolation: '23514',
  undefinedTable: '42P01',
  undefinedColumn: '42703',
  insufficientPrivilege: '42501',
  invalidCatalogName: '3D000',
  invalidPassword: '28P01',
} as const;

/** Errors a step may simply run again: the database state is unchanged by the failed attempt. */
export const retryableLockStates: ReadonlySet<string> = new Set([
  SqlState.lockNotAvailable,
  SqlState.deadlockDetected,
  SqlState.serializationFailure,
]);

/** The server went away under the session (pg_terminate_backend, restart). A fresh connection may succeed. */
export const connectionLostStates: ReadonlySet<string> = new Set([
  SqlState.adminShutdown,
  SqlState.crashShutdown,
  SqlState.cannotConnectNow,
]);

export function isRetryableLockError(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code !== undefined && retryableLockStates.has(code);
}
