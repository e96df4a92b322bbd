import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCliMentions, cliReference } from '../../src/cli/cli-reference.js';
import { buildProgram } from '../../src/cli/main.js';
import { configReference } from '../../src/config/config-reference.js';
import { repoRoot } from '../helpers/cli.js';

const program = buildProgram(() => undefined);
const docs = ['README.md', 'docs/performance.md', ...readdirSync(path.join(repoRoot, 'runbooks')).filter((f) => f.endsWith('.md')).map((f) => `runbooks/${f}`)];

describe('the README and runbooks name only commands and flags that exist', () => {
  it("the README's CLI reference is the one commander generates (npm run docs)", () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('-->', readme.indexOf('<!-- cli-reference:start')) + 3, readme.indexOf('<!-- cli-reference:end -->')).trim();
    expect(section).toBe(cliReference(program).trim());
  });

  it("the README's config reference is the one the JSON Schema generates (npm run docs)", () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('-->', readme.indexOf('<!-- config-reference:start')) + 3, readme.indexOf('<!-- config-reference:end -->')).trim();
    expect(section).toBe(configReference().trim());
    expect(section).toContain('`purge.scope_key_format`');
  });

  it.each(docs)('%s: every `partgov …` in code is a real command with real flags', (file) => {
    expect(checkCliMentions(readFileSync(path.join(repoRoot, file), 'utf8'), program)).toEqual([]);
  });

  it('the check catches an invented command and an invented flag', () => {
    const text = ['```sh', 'partgov frobnicate --table x', 'npx partgov purge --tenant-idd acme --scope perf', 'partgov --config c.json verify --json', '```', 'and inline `partgov cutover --force`.'].join('\n');
    expect(checkCliMentions(text, program)).toEqual([
      expect.stringMatching(/^line 2: `partgov frobnicate` is not a command/),
      'line 3: `partgov purge` has no option --tenant-idd',
      'line 6: `partgov cutover` has no option --force',
    ]);
  });
});
