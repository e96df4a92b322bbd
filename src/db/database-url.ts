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

const localHosts = new Set(['localhost', '::1', '[::1]', '']);
/** 127.0.0.0/8 written as an address; `127.evil.example.com` is a DNS name, not loopback. */
const ipv4Loopback = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * The userinfo's password as written, up to the *last* `@`: a password with an
 * unencoded `@`, `/`, `#` or `?` still ends there (WHATWG URL parsing would cut it short).
 */
const rawPassword = /^(postgres(?:ql)?:\/\/[^:@/]*:)(.*)@([^@]*)$/is;

function parse(url: string): URL {
  const raw = rawPassword.exec(url)?.[2];
  if (raw !== undefined && /[@/#?]|%(?![0-9a-f]{2})/i.test(raw)) {
    // Connecting would send a fragment of the password as host or database name (and print it).
    throw new InputInvalidError(`the password in database URL ${redactDatabaseUrl(url)} holds a character that must be percent-encoded (@ / # ? %)`, {
      fix: "percent-encode it (node -e 'console.log(encodeURIComponent(process.argv[1]))' 'the password'), or pass it in PGPASSWORD or ~/.pgpass instead",
    });
  }
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
    // An explicit sslmode decides (node-postgres lets sslmode=disable override ssl=true).
    tls: sslmode !== undefined ? ['require', 'verify-ca', 'verify-full'].includes(sslmode) : ssl === 'true' || ssl === '1',
    isLocal: localHosts.has(host) || ipv4Loopback.test(host) || host.startsWith('/'),
  };
}

/** The URL with its password replaced by `***`; safe for logs, JSON and evidence. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(rawPassword, '$1***@$3').replace(/(password=)[^&]*/gi, '$1***');
}

/** Removes every occurrence of the URL's password from a text (error messages, logs). */
export function redactSecrets(text: string, url: string | undefined): string {
  if (!url) return text;
  let out = text.split(url).join(redactDatabaseUrl(url));
  const candidates = new Set<string>();
  const raw = rawPassword.exec(url)?.[2];
  if (raw) {
    candidates.add(raw);
    try {
      candidates.add(decodeURIComponent(raw));
    } catch {
      // a lone % is not an escape: the raw form is redacted
    }
  }
  try {
    candidates.add(decodeURIComponent(new URL(url).password));
  } catch {
    // not parsable as a URL: the raw form above still applies
  }
  for (const p of [...candidates].sort((a, b) => b.length - a.length)) {
    if (p.length >= 3) out = out.split(p).join('***');
  }
  return out;
}
