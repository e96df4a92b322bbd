import { describe, expect, it } from 'vitest';
import { describeDatabaseUrl, redactDatabaseUrl, redactSecrets } from '../../src/db/database-url.js';

describe('database URLs', () => {
  it('redacts the password in URLs and in free text', () => {
    const url = 'postgres://app:s3cr3t-pw@db.internal:5432/prod';
    expect(redactDatabaseUrl(url)).toBe('postgres://app:***@db.internal:5432/prod');
    expect(redactSecrets(`failed for ${url}: password s3cr3t-pw rejected`, url)).not.toContain('s3cr3t-pw');
    expect(redactDatabaseUrl('postgres://h/db?password=abc&x=1')).toBe('postgres://h/db?password=***&x=1');
  });

  it('redacts passwords holding unencoded #, /, @ and ?, and refuses to connect with them (a fragment would become the host)', () => {
    for (const pw of ['S3cr#t:p@ss/w?rd%', 'Tr0ub@dor/3x']) {
      const url = `postgres://app:${pw}@db.internal:5432/prod`;
      expect(redactDatabaseUrl(url)).toBe('postgres://app:***@db.internal:5432/prod');
      expect(redactSecrets(`connect to ${url} failed; password ${pw} rejected`, url)).not.toMatch(/S3cr|Tr0ub|dor|w\?rd/);
      expect(() => describeDatabaseUrl(url)).toThrow(/must be percent-encoded/);
      try {
        describeDatabaseUrl(url);
      } catch (err) {
        expect(String((err as Error).message)).not.toMatch(/S3cr|Tr0ub|dor/);
      }
    }
    const encoded = `postgres://app:${encodeURIComponent('Tr0ub@dor/3x')}@db.internal/prod`;
    expect(describeDatabaseUrl(encoded)).toMatchObject({ host: 'db.internal', database: 'prod' });
    expect(redactSecrets('the password was Tr0ub@dor/3x', encoded)).toBe('the password was ***');
  });

  it('a DNS name under 127 is not loopback, and sslmode=disable beats ssl=true', () => {
    expect(describeDatabaseUrl('postgres://u@127.evil.example.com/db')).toMatchObject({ isLocal: false });
    expect(describeDatabaseUrl('postgres://u@127.0.0.2/db')).toMatchObject({ isLocal: true });
    expect(describeDatabaseUrl('postgres://u@db.example.com/db?ssl=true&sslmode=disable')).toMatchObject({ tls: false });
    expect(describeDatabaseUrl('postgres://u@db.example.com/db?ssl=true')).toMatchObject({ tls: true });
  });

  it('knows local hosts and TLS modes', () => {
    expect(describeDatabaseUrl('postgres://u@localhost/db')).toMatchObject({ isLocal: true, tls: false, database: 'db' });
    expect(describeDatabaseUrl('postgres://u@10.0.0.5/db?sslmode=require')).toMatchObject({ isLocal: false, tls: true });
    expect(describeDatabaseUrl('postgresql://u@/db?host=/var/run/postgresql')).toMatchObject({ isLocal: true });
    expect(() => describeDatabaseUrl('mysql://u:pw@h/db')).toThrow(/not a postgres:\/\/ URL/);
  });
});
