import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

async function filesUnder(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p, ext)));
    else if (ext.test(e.name)) out.push(p);
  }
  return out;
}

describe('runbook links', () => {
  it('every runbooks/<name>.md that the code, the README or a runbook names exists', async () => {
    const sources = [...(await filesUnder(path.join(repoRoot, 'src'), /\.ts$/)), ...(await filesUnder(path.join(repoRoot, 'runbooks'), /\.md$/)), path.join(repoRoot, 'README.md'), path.join(repoRoot, 'docs', 'performance.md')];
    const runbooks = new Set(await readdir(path.join(repoRoot, 'runbooks')));
    const missing: string[] = [];
    let seen = 0;
    for (const f of sources) {
      const text = await readFile(f, 'utf8');
      for (const m of text.matchAll(/runbooks\/([A-Za-z0-9_-]+\.md)/g)) {
        seen++;
        if (!runbooks.has(m[1]!)) missing.push(`${path.relative(repoRoot, f)}: runbooks/${m[1]}`);
      }
      // Links between runbooks name their neighbour without the folder.
      if (f.includes(`${path.sep}runbooks${path.sep}`)) {
        for (const m of text.matchAll(/\]\(([A-Za-z0-9_-]+\.md)(?:#[^)]*)?\)/g)) {
          seen++;
          if (!runbooks.has(m[1]!)) missing.push(`${path.relative(repoRoot, f)}: ${m[1]}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});
