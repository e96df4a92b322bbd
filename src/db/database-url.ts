import { InputInvalidError } from '../errors.js';

export interface DatabaseUrlInfo {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: string | undefined;
  /** TLS is required by the URL (sslmode require, verify-ca or verify-full, or ssl=true). */
  tls: boolean;
  /** Loopback or a unix socket: no network between client and server. */
  isLocal: boolean;
}

const localHosts = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);

function parse(url: string): URL {
  try {
    // An empty host (socket URLs like postgresql://u@/db?host=/run/postgresql) is valid
    // for libpq but not for WHATWG URL; parse it as localhost, the ?host= wins later.
    const parsed = new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)\//i, '$1localhost/'));
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new Error('not postgres');
    return parsed;
  } catch (err) {
    throw new InputInvalidError(`database URL ${redactDatabaseUrl(url)} is not a postgres:// URL`, {
      fix: 'pass --database-url postgres://user@host:5432/dbname (or set DATABASE_URL)',
      cause: err,
    });
  }
}

/** Host, database, user and TLS facts of a connection URL, without its password. */
export function describeDatabaseUrl(url: string): DatabaseUrlInfo {
  const u = parse(url);
  const hostParam = u.searchParams.get('host');
  const host = hostParam ?? u.hostname;
  const sslmode = u.searchParams.get('sslmode') ?? undefined;
  const ssl = u.searchParams.get('ssl');
  return {
    host: host || 'localhost',
    port: u.port ? Number(u.port) : 5432,
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
    user: decodeURIComponent(u.username),
    sslmode,
    tls: ['require', 'verify-ca', 'verify-full'].includes(sslmode ?? '') || ssl === 'true' || ssl === '1',
    isLocal: localHosts.has(host) || host.startsWith('127.') || host.startsWith('/'),
  };
}

/** The URL with its password replaced by `***`; safe for logs, JSON and evidence. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)([^@]*)@/i, '$1***@').replace(/(password=)[^&]*/gi, '$1***');
}

/** Removes every occurrence of the URL's password from a text (error messages, logs). */
export function redactSecrets(text: string, url: string | undefined): string {
  if (!url) return text;
  let out = text.split(url).join(redactDatabaseUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password.length >= 3) out = out.split(password).join('***');
  } catch {
    // an unparsable URL has no password we can find; the redaction above still applies
  }
  return out;
}
