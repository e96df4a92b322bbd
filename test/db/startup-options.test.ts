import { describe, expect, it } from 'vitest';
import { startupOptions } from '../../src/db/open-database.js';

describe('startupOptions', () => {
  it('writes -c name=value pairs, escaping spaces and backslashes in values', () => {
    expect(startupOptions({ lock_timeout: '5000ms', default_transaction_isolation: 'read committed', search_path: 'a\\b' })).toBe(
      '-c lock_timeout=5000ms -c default_transaction_isolation=read\\ committed -c search_path=a\\\\b',
    );
  });

  it('refuses a name that is not a setting name, so nothing else reaches the startup packet', () => {
    expect(() => startupOptions({ 'lock_timeout=1 -c role': 'x' })).toThrow(/not a setting name/);
  });
});
