import { describe, expect, it } from 'vitest';
import { describeDatabaseUrl, redactDatabaseUrl, redactSecrets } from '../../src/db/database-url.js';

describe('database URLs', () => {
  it('redacts the password in URLs and in free text', () => {
    const url = 'postgres://app:s3cr3t-pw@db.internal:5432/prod';
    expect(redactDatabaseUrl(url)).toBe('postgres://app:***@db.internal:5432/prod');
    expect(redactSecrets(`failed for ${url}: password s3cr3t-pw rejected`, url)).not.toContain('s3cr3t-pw');
    expect(redactDatabaseUrl('postgres://h/db?password=abc&x=1')).toBe('postgres://h/db?password=***&x=1');
  });

  it('knows local hosts and TLS modes', () => {
    expect(describeDatabaseUrl('postgres://u@localhost/db')).toMatchObject({ isLocal: true, tls: false, database: 'db' });
    expect(describeDatabaseUrl('postgres://u@10.0.0.5/db?sslmode=require')).toMatchObject({ isLocal: false, tls: true });
    expect(describeDatabaseUrl('postgresql://u@/db?host=/var/run/postgresql')).toMatchObject({ isLocal: true });
    expect(() => describeDatabaseUrl('mysql://u:pw@h/db')).toThrow(/not a postgres:\/\/ URL/);
  });
});
