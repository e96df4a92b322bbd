import { describe, expect, it } from 'vitest';
import { formatScopeKey } from '../../src/db/scope-target.js';

describe('formatScopeKey', () => {
  it('fills {tenant} and {scope} in one pass: a value holding the other placeholder stays as typed', () => {
    expect(formatScopeKey('{tenant}:{scope}', { tenantId: 'acme', scope: 'payroll' })).toBe('acme:payroll');
    expect(formatScopeKey('{scope}@{tenant}', { tenantId: 'acme', scope: 'payroll' })).toBe('payroll@acme');
    expect(formatScopeKey('{tenant}:{scope}', { tenantId: 'a{scope}', scope: 'x' })).toBe('a{scope}:x');
  });
});
