/**
 * Typed errors. Each class maps to exactly one exit code of the CLI contract
 * (PRODUCT.md §4) and carries a fix hint that names the next thing to do.
 */

/** Exit codes of the CLI contract. */
export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  badInput: 2,
  refused: 3,
  lockUnavailable: 4,
  internal: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type PartgovErrorCode =
  | 'bad_input'
  | 'config_invalid'
  | 'refused'
  | 'lock_unavailable'
  | 'run_in_progress'
  | 'database_error'
  | 'internal_error';

const exitCodeOf: Record<PartgovErrorCode, ExitCode> = {
  bad_input: ExitCode.badInput,
  config_invalid: ExitCode.badInput,
  refused: ExitCode.refused,
  lock_unavailable: ExitCode.lockUnavailable,
  run_in_progress: ExitCode.lockUnavailable,
  database_error: ExitCode.internal,
  internal_error: ExitCode.internal,
};

export interface PartgovErrorOptions {
  fix: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class PartgovError extends Error {
  readonly code: PartgovErrorCode;
  readonly fix: string;
  readonly details: Record<string, unknown>;

  constructor(code: PartgovErrorCode, message: string, options: PartgovErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fix = options.fix;
    this.details = options.details ?? {};
  }

  get exitCode(): ExitCode {
    return exitCodeOf[this.code];
  }
}

/** Bad flags or arguments (exit 2). Nothing was changed. */
/**
 * A value as one POSIX shell word, for the commands fix hints spell out: as
 * is when plain, else single-quoted, so a table or scope with spaces or quotes
 * pastes into a shell as the one argument it is.
 *
 * @example
 * shellWord('memory_nodes') // memory_nodes
 * shellWord("Q4 Report's")  // 'Q4 Report'\''s'
 */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

export class InputInvalidError extends PartgovError {
  constructor(message: string, options: PartgovErrorOptions) {
    super('bad_input', message, options);
  }
}

/** One entry of a config validation failure. */
export interface ConfigIssue {
  path: string;
  problem: string;
  fix: string;
}

/** The config file failed validation (exit 2). Nothing was changed. */
export class ConfigInvalidError extends PartgovError {
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `  - ${i.path}: ${i.problem}`).join('\n');
    super('config_invalid', `config ${file} is invalid:\n${lines}`, {
      fix: issues.map((i) => `${i.path}: ${i.fix}`).join('; '),
      details: { file, issues },
    });
    this.issues = issues;
  }
}

/** A safety guard refused the action (exit 3). Nothing was changed. */
export class SafetyRefusedError extends PartgovError {
  readonly ruleId: string;
  constructor(ruleId: string, message: string, options: PartgovErrorOptions) {
    super('refused', `[${ruleId}] ${message}`, { ...options, details: { rule_id: ruleId, ...options.details } });
    this.ruleId = ruleId;
  }
}

/** A lock could not be taken within lock_timeout, after retries (exit 4). Safe to retry. */
export class LockUnavailableError extends PartgovError {
  constructor(message: string, options: PartgovErrorOptions) {
    super('lock_unavailable', message, options);
  }
}

/** Another partgov run holds the advisory lock for this (operation, table) (exit 4). */
export class RunInProgressError extends PartgovError {
  constructor(message: string, options: PartgovErrorOptions) {
    super('run_in_progress', message, options);
  }
}

/** The database returned an error partgov cannot handle (exit 5). */
export class DatabaseError extends PartgovError {
  constructor(message: string, options: PartgovErrorOptions) {
    super('database_error', message, options);
  }
}

/** Turns anything thrown into a PartgovError, so the CLI has one shape to print. */
export function toPartgovError(err: unknown): PartgovError {
  if (err instanceof PartgovError) return err;
  const pgCode = sqlStateOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (pgCode !== undefined || isConnectionError(err)) {
    return new DatabaseError(`database error${pgCode ? ` (SQLSTATE ${pgCode})` : ''}: ${message}`, {
      fix: databaseErrorFix(pgCode, message),
      cause: err,
      details: pgCode ? { sqlstate: pgCode } : {},
    });
  }
  return new PartgovError('internal_error', `internal error: ${message}`, {
    fix: 'run again with --verbose and report the stack trace',
    cause: err,
  });
}

/** What to do about a database error partgov has no better word for, by SQLSTATE class. */
function databaseErrorFix(code: string | undefined, message: string): string {
  // At connect: a server before 14 knows no client_connection_check_interval, which partgov sets on every session.
  if (code === '42704' && message.includes('client_connection_check_interval')) return 'partgov needs PostgreSQL 14 or later (it runs on 14 to 18): this server is older; upgrade it, or run partgov against a newer one';
  if (code === undefined || code.startsWith('08')) return 'check that the server is reachable (host, port, TLS, pg_hba.conf), then run the command again';
  if (code === '42501') return "grant the role the privilege the message names (preflight lists what partgov needs), or run partgov as the table's owner; then run the command again";
  if (code === '3D000') return 'the database the URL names does not exist on that server: check its name (the path of --database-url or DATABASE_URL; `psql -l` lists them), then run the command again';
  if (code.startsWith('28')) return 'check the user name and password in the connection URL (PGPASSWORD, ~/.pgpass), then run the command again';
  if (code === '57014') return 'a statement ran past statement_timeout: raise statement_timeout_ms (or --statement-timeout) for this run, then run the command again';
  if (code.startsWith('53')) return 'the server ran out of a resource (disk, memory, connections): free it, then run the command again';
  if (code.startsWith('23')) return 'a row breaks a constraint (the message names it): repair the row or the constraint, then run the command again';
  return 'read the server message above, mend its cause, then run the command again';
}

/** The SQLSTATE of a pg error, if it is one. */
export function sqlStateOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

const connectionErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && connectionErrorCodes.has(code)) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error/i.test(message);
}
