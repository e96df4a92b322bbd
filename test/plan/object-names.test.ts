import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import type { RangeLayout } from '../../src/config/config-schema.js';
import { fitIdentifier, hashSuffix, objectNames, valueSlug } from '../../src/db/object-names.js';
import { rangeBounds, truncateToInterval } from '../../src/config/range-bounds.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('object names', () => {
  it('keeps short names and shortens long ones deterministically within 63 bytes', () => {
    expect(fitIdentifier('memory_nodes', '_shadow')).toBe('memory_nodes_shadow');
    const long = 'a'.repeat(63);
    const a = fitIdentifier(long, '_p07');
    expect(bytes(a)).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^a+_[0-9a-f]{8}_p07$/);
    expect(fitIdentifier(long, '_p07')).toBe(a);
    expect(fitIdentifier('b'.repeat(63), '_p07')).not.toBe(a);
  });

  it('never splits a multi-byte character', () => {
    const name = 'Zählerstände_für_Übersicht_'.repeat(3);
    const fitted = fitIdentifier(name, '_shadow');
    expect(bytes(fitted)).toBeLessThanOrEqual(63);
    expect(fitted).not.toContain('\uFFFD');
    expect(Buffer.from(fitted, 'utf8').toString('utf8')).toBe(fitted);
  });

  it('slugs list values, adding a hash when the slug lost characters', () => {
    expect(valueSlug('perf')).toBe('perf');
    expect(valueSlug('perf:perf')).toMatch(/^perf_perf_[0-9a-f]{8}$/);
    expect(valueSlug('Perf:Perf')).not.toBe(valueSlug('perf:perf'));
    expect(valueSlug('日本')).toMatch(/^v_[0-9a-f]{8}$/);
  });

  it('pads hash suffixes to the modulus width', () => {
    expect(hashSuffix(7, 32)).toBe('_p07');
    expect(hashSuffix(7, 128)).toBe('_p007');
    expect(objectNames.hashLeaf('t', 3, 4)).toBe('t_p03');
  });
});

describe('range bounds', () => {
  const layout = (l: Partial<RangeLayout>) =>
    parseConfig({ tables: [{ name: 't', layout: { type: 'range', column: 'c', interval: 'month', ...l } }] }).tables[0]!.layout as RangeLayout;
  const now = new Date('2026-11-22T15:00:00Z');

  it('months from the legacy minimum through premake months ahead', () => {
    const b = rangeBounds(layout({ premake: 2 }), now, new Date('2026-09-14T08:00:00Z'));
    expect(b.map((x) => x.label)).toEqual(['2026_09', '2026_10', '2026_11', '2026_12', '2027_01']);
    expect(b[4]!.to.toISOString()).toBe('2027-02-01T00:00:00.000Z');
  });

  it('weeks start on Monday and days are UTC', () => {
    expect(truncateToInterval(new Date('2026-11-22T23:59:00Z'), 'week').toISOString().slice(0, 10)).toBe('2026-11-16');
    const days = rangeBounds(layout({ interval: 'day', premake: 1, start: '2026-11-21' }), now, null);
    expect(days.map((x) => x.label)).toEqual(['2026_11_21', '2026_11_22', '2026_11_23']);
  });

  it('refuses an absurd start that would create thousands of partitions', () => {
    expect(() => rangeBounds(layout({ interval: 'day', start: '1990-01-01' }), now, null)).toThrow(/more than 5000/);
  });
});
