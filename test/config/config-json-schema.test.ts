import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/config-schema.js';
import { packagePath } from '../../src/package-root.js';

describe('shipped JSON Schema', () => {
  it('matches the zod schema (regenerate with `npm run schema`)', () => {
    const shipped = JSON.parse(readFileSync(packagePath('schema', 'partgov.config.schema.json'), 'utf8')) as unknown;
    expect(shipped).toEqual(configJsonSchema());
  });

  it('describes the layouts and forbids unknown keys', () => {
    const text = JSON.stringify(configJsonSchema());
    for (const layout of ['"hash"', '"isolatable"', '"range"']) expect(text).toContain(layout);
    expect(text).toContain('"additionalProperties":false');
  });
});
