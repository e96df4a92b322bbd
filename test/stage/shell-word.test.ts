import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellWord } from '../../src/errors.js';

describe('shellWord (commands in fix hints)', () => {
  it('leaves plain words as they are and single-quotes the rest', () => {
    expect(shellWord('memory_nodes')).toBe('memory_nodes');
    expect(shellWord('perf:perf/x-1.2')).toBe('perf:perf/x-1.2');
    expect(shellWord('Daily Totals')).toBe("'Daily Totals'");
    expect(shellWord("Q4 Report's")).toBe("'Q4 Report'\\''s'");
    expect(shellWord('')).toBe("''");
  });

  it('gives a POSIX shell back exactly the value, one argument each', () => {
    const values = ["Q4 Report's", 'a b', '$HOME', '`id`', 'x"y', 'Événements – v2', 'semi;colon', "''", '*'];
    const echoed = execFileSync('/bin/sh', ['-c', `printf '%s\\n' ${values.map(shellWord).join(' ')}`], { encoding: 'utf8' });
    expect(echoed.split('\n').slice(0, -1)).toEqual(values);
  });
});
