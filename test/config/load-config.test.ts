import { describe, expect, it } from 'vitest';
import { formatJsonPath, namesTable, parseConfig, parseQuotedTableName, selectTables } from '../../src/config/load-config.js';
import { ConfigInvalidError, InputInvalidError } from '../../src/errors.js';

const table = { name: 'memory_nodes', layout: { type: 'hash', key: 'scope_key' } };

function issuesOf(raw: unknown) {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as ConfigInvalidError).issues;
  }
  throw new Error('config was accepted');
}

describe('parseConfig', () => {
  it('fills defaults for a minimal config', () => {
    const c = parseConfig({ tables: [table] });
    expect(c.tables[0]).toMatchObject({ schema: 'public', layout: { type: 'hash', key: 'scope_key', partitions: 32 } });
    expect(c.purge.default_mode).toBe('partition');
    expect(c.lock_retries).toBe(5);
  });

  it.each([
    ['wrong type', { tables: [{ ...table, layout: { type: 'hash', key: 'k', partitions: '32' } }] }, 'tables[0].layout.partitions', /expected number/],
    ['unknown key', { tables: [table], lock_timout_ms: 10 }, '(root)', /lock_timout_ms/],
    ['unknown layout', { tables: [{ ...table, layout: { type: 'rangex', key: 'k' } }] }, 'tables[0].layout.type', /hash", "isolatable" or "range/],
    ['duplicate table', { tables: [table, table] }, 'tables[1].name', /duplicate table public.memory_nodes/],
    ['missing scope key', { tables: [{ name: 't', layout: { type: 'hash' } }] }, 'tables[0].layout.key', /expected string/],
    ['no tables', { tables: [] }, 'tables', /at least one table/],
    ['bad interval', { tables: [{ name: 't', layout: { type: 'range', column: 'c', interval: 'year' } }] }, 'tables[0].layout.interval', /day|week|month/],
    ['too many partitions', { tables: [{ ...table, layout: { type: 'hash', key: 'k', partitions: 5000 } }] }, 'tables[0].layout.partitions', /1024/],
    ['64-byte name', { tables: [{ ...table, name: 'x'.repeat(64) }] }, 'tables[0].name', /63 bytes/],
    ['a name written as SQL quotes it', { tables: [{ ...table, name: '"Sales & Ops"."Order Lines"' }] }, 'tables[0].name', /without quotes.*"schema":"Sales & Ops","name":"Order Lines"/],
    ['a bare schema before a quoted name', { tables: [{ ...table, name: 'sales."Order Lines"' }] }, 'tables[0].name', /"schema":"sales","name":"Order Lines"/],
    ['bad start date', { tables: [{ name: 't', layout: { type: 'range', column: 'c', interval: 'day', start: '2026/01/01' } }] }, 'tables[0].layout.start', /date like/],
  ])('%s is refused naming %s', (_name, raw, path, problem) => {
    const issues = issuesOf(raw);
    const issue = issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(`${issue!.problem} ${issue!.fix}`).toMatch(problem);
    expect(issue!.fix.length).toBeGreaterThan(5);
  });

  it('renders JSON paths with indexes', () => {
    expect(formatJsonPath(['tables', 0, 'layout', 'key'])).toBe('tables[0].layout.key');
    expect(formatJsonPath([])).toBe('(root)');
  });

  it('selectTables refuses a table that is not configured, listing the configured ones', () => {
    const c = parseConfig({ tables: [table] });
    expect(selectTables(c, 'public.memory_nodes')).toHaveLength(1);
    expect(() => selectTables(c, 'nope')).toThrow(InputInvalidError);
    expect(() => selectTables(c, 'nope')).toThrow(/not in the config/);
  });

  it('selectTables takes a table named as SQL quotes it: quoted parts exact, bare parts folded, anything else refused', () => {
    const c = parseConfig({ tables: [{ schema: 'Tenant Data', name: 'Doc-Chunks "v2"', layout: { type: 'hash', key: 'k' } }, table] });
    for (const name of ['"Tenant Data"."Doc-Chunks ""v2"""', '"Doc-Chunks ""v2"""', ' "Tenant Data" . "Doc-Chunks ""v2""" ', 'Tenant Data.Doc-Chunks "v2"']) {
      expect(selectTables(c, name).map((t) => t.name), name).toEqual(['Doc-Chunks "v2"']);
    }
    expect(selectTables(c, 'PUBLIC."memory_nodes"').map((t) => t.name)).toEqual(['memory_nodes']);
    expect(parseQuotedTableName('"a"."b"')).toEqual(['a', 'b']);
    // cutover's --confirm names the table the same ways, exactly.
    expect(namesTable(c.tables[0]!, '"Tenant Data"."Doc-Chunks ""v2"""')).toBe(true);
    expect(namesTable(c.tables[0]!, '"Tenant Data"."doc-chunks ""v2"""')).toBe(false);
    for (const bad of ['"tenant data"."Doc-Chunks ""v2"""', '"Tenant Data".', '"a"."b"."c"', '"unclosed', '"MEMORY_NODES"']) {
      expect(() => selectTables(c, bad), bad).toThrow(/not in the config/);
    }
  });
});
