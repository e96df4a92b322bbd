import { describe, expect, it } from 'vitest';
import { numberFlag } from '../../src/cli/number-flag.js';
import { InputInvalidError } from '../../src/errors.js';

describe('numberFlag', () => {
  it('accepts numbers in range', () => {
    expect(numberFlag('--x', '10000', { integer: true, min: 1 })).toBe(10000);
    expect(numberFlag('--x', '0.95', { max: 1 })).toBe(0.95);
  });

  it.each([
    ['abc', {}],
    ['', {}],
    ['1.5', { integer: true }],
    ['0', { min: 1 }],
    ['2', { max: 1 }],
    ['-3', {}],
  ] as const)('refuses %j (%j) as bad input naming the flag', (value, o) => {
    expect(() => numberFlag('--skew-threshold', value, o)).toThrow(InputInvalidError);
    expect(() => numberFlag('--skew-threshold', value, o)).toThrow(/--skew-threshold/);
  });
});
