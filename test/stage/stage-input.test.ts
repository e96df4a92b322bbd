import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { InputInvalidError } from '../../src/errors.js';
import { flagInput, flagOf, helpOf, numberInput, optionalNumberInput, parseStageInput, textInput } from '../../src/stage/stage-input.js';
import { verifyInputSchema } from '../../src/verify/run-verify.js';

const schema = z.object({
  table: textInput('configured table'),
  segments: numberInput({ min: 1, max: 65536, integer: true, default: 64, describe: 'hash segments' }),
  skewThreshold: numberInput({ min: 1, max: 1e9, default: 4, describe: 'ratio that warns' }),
  maxDuration: optionalNumberInput({ min: 1, max: 100, describe: 'seconds' }),
  strict: flagInput('warnings fail too'),
});

describe('stage inputs', () => {
  it('applies defaults and converts the CLI’s strings', () => {
    expect(parseStageInput('x', schema, { table: 't', segments: '7', skewThreshold: '2.5' })).toEqual({ table: 't', segments: 7, skewThreshold: 2.5, strict: false });
    expect(parseStageInput('x', schema, { table: 't', strict: true, maxDuration: 3 })).toEqual({ table: 't', segments: 64, skewThreshold: 4, maxDuration: 3, strict: true });
  });

  it.each([
    [{ table: 't', segments: 'abc' }, '--segments', 'must be a whole number from 1 to 65536'],
    [{ table: 't', segments: '' }, '--segments', 'must be a whole number from 1 to 65536'],
    [{ table: 't', segments: '1.5' }, '--segments', 'must be a whole number from 1 to 65536'],
    [{ table: 't', segments: '0' }, '--segments', 'must be a whole number from 1 to 65536'],
    [{ table: 't', skewThreshold: '-3' }, '--skew-threshold', 'must be a number from 1 to 1000000000'],
    [{ table: 't', skewThreshold: 'NaN' }, '--skew-threshold', 'must be a number from 1 to 1000000000'],
    [{}, '--table', 'is required'],
    [{ table: '' }, '--table', 'must not be empty'],
  ])('refuses %j as bad input naming %s', (input, flag, what) => {
    const err = (() => {
      try {
        parseStageInput('x', schema, input);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(InputInvalidError);
    expect((err as InputInvalidError).message).toContain(`${flag} ${what}`);
    expect((err as InputInvalidError).fix).toContain(`pass ${flag}`);
  });

  it('spells fields as the CLI’s flags, and help texts carry the schema’s default', () => {
    expect(flagOf('maxDiffKeys')).toBe('--max-diff-keys');
    expect(helpOf(verifyInputSchema, 'segments')).toBe('hash segments compared per table (default: 64)');
    expect(helpOf(verifyInputSchema, 'strict')).toBe('warnings fail too');
  });
});
