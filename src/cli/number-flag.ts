import { InputInvalidError } from '../errors.js';

/**
 * A numeric flag's value, or bad input (exit 2) naming the flag. Number() alone
 * would let "abc" through as NaN, and a NaN threshold makes every check pass.
 */
export function numberFlag(flag: string, value: unknown, o: { integer?: boolean; min?: number; max?: number } = {}): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isFinite(n) || n < min || n > max || (o.integer && !Number.isInteger(n))) {
    throw new InputInvalidError(`${flag} ${JSON.stringify(value)} is not ${o.integer ? 'a whole number' : 'a number'} from ${min} to ${max}`, {
      fix: `pass ${flag} <${o.integer ? 'whole number' : 'number'}>`,
    });
  }
  return n;
}
