import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartgovConfig } from '../../src/config/config-schema.js';
import { renderPlanSql, runPlan, type PlanResult } from '../../src/plan/run-plan.js';
import { applyStatements, createMemoryExample } from '../helpers/example-schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { stageFor } from '../helpers/stage.js';

const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');
const now = new Date('2026-11-22T12:00:00Z');
let t: TestDatabase;
let config: PartgovConfig;
let plan: PlanResult;

beforeAll(async () => {
  t = await createTestDatabase('plan');
  config = await createMemoryExample(t.db);
  plan = await runPlan(stageFor(t, config, { now }));
});
afterAll(async () => t.drop());

/** Leaf relations an EXPLAIN of the query touches. */
async function explainLeaves(query: string, params: unknown[]): Promise<string[]> {
  const r = await t.pool.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`explain (format json, costs off) ${query}`, params);
  const found = new Set<string>();
  const walk = (node: PlanNode) => {
    if (node['Relation Name']) found.add(node['Relation Name']);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(r.rows[0]!['QUERY PLAN'][0]!.Plan);
  return [...found];
}
interface PlanNode {
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

describe('plan on the example memory schema', () => {
  it.each(['memory_nodes', 'memory_edges', 'memory_commits', 'memory_outbox'])('%s matches its golden SQL byte for byte', (name) => {
    const table = plan.tables.find((x) => x.legacy_name === name)!;
    const text = renderPlanSql(table);
    const file = path.join(goldenDir, `${name}.sql`);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, text);
    expect(text).toBe(readFileSync(file, 'utf8'));
  });

  it('is stable across runs', async () => {
    const again = await runPlan(stageFor(t, config, { now }));
    expect(again.tables.map((x) => renderPlanSql(x))).toEqual(plan.tables.map((x) => renderPlanSql(x)));
  });

  it('says what it changes', () => {
    const nodes = plan.tables.find((x) => x.legacy_name === 'memory_nodes')!;
    expect(nodes.changes).toContain('PRIMARY KEY (id) becomes PRIMARY KEY (scope_key, id): a partitioned table\'s primary key must include the partition key');
    const outbox = plan.tables.find((x) => x.legacy_name === 'memory_outbox')!;
    expect(outbox.changes.some((c) => c.startsWith('PRIMARY KEY (id) becomes PRIMARY KEY (created_at, scope_key, id)'))).toBe(true);
    const commits = plan.tables.find((x) => x.legacy_name === 'memory_commits')!;
    expect(commits.notes.some((n) => n.includes('memory_commits_id_seq'))).toBe(true);
  });

  describe('applied to the server', () => {
    beforeAll(async () => {
      for (const table of plan.tables) await applyStatements(t.db, table.statements);
      await sql`insert into memory_nodes (tenant_id, scope, scope_key, kind, body) values ('t', 's', 't:s', 'fact', 'legacy row')`.execute(t.db);
    });

    it('has the planned partitions with their bounds', async () => {
      const r = await sql<{ parent: string; n: number; bounds: string[] }>`
        select i.inhparent::regclass::text as parent, count(*)::int as n, array_agg(pg_get_expr(c.relpartbound, c.oid) order by c.relname) as bounds
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent::regclass::text in ('memory_nodes_shadow', 'memory_nodes_default', 'memory_edges_default', 'memory_outbox_shadow', 'memory_outbox_2026_11')
        group by 1 order by 1`.execute(t.db);
      const by = Object.fromEntries(r.rows.map((x) => [x.parent, x]));
      expect(by.memory_edges_default!.n).toBe(32);
      expect(by.memory_edges_default!.bounds[7]).toBe('FOR VALUES WITH (modulus 32, remainder 7)');
      expect(by.memory_nodes_shadow!.bounds.sort()).toEqual(['DEFAULT', "FOR VALUES IN ('perf:perf')"]);
      expect(by.memory_nodes_default!.n).toBe(32);
      // 2026-11 + 3 premade months, from now (the legacy table is empty) + DEFAULT
      expect(by.memory_outbox_shadow!.bounds).toContain("FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')");
      expect(by.memory_outbox_shadow!.n).toBe(5);
      // each month: the perf scope's own leaf (O(1) purge) and a DEFAULT for the rest
      expect(by.memory_outbox_2026_11!.bounds.sort()).toEqual(['DEFAULT', "FOR VALUES IN ('perf:perf')"]);
    });

    it('has every parent index on every leaf, and the PK includes the key', async () => {
      // A partitioned index's tree holds one leaf index per leaf table it reached.
      const r = await sql<{ idx: string; leaf_indexes: number }>`
        select pi.indexrelid::regclass::text as idx,
               (select count(*)::int from pg_partition_tree(pi.indexrelid) x where x.isleaf) as leaf_indexes
        from pg_index pi where pi.indrelid = 'memory_nodes_shadow'::regclass order by 1`.execute(t.db);
      expect(r.rows.map((x) => x.idx)).toEqual([
        'memory_nodes_id_idx',
        'memory_nodes_payload_idx_shadow',
        'memory_nodes_scope_created_idx_shadow',
        'memory_nodes_scope_kind_idx_shadow',
        'memory_nodes_shadow_pkey',
      ]);
      expect(r.rows.every((x) => x.leaf_indexes === 33)).toBe(true);
      const pk = await sql<{ def: string }>`select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'memory_nodes_shadow'::regclass and contype = 'p'`.execute(t.db);
      expect(pk.rows[0]!.def).toBe('PRIMARY KEY (scope_key, id)');
    });

    it('keeps defaults and identity: an INSERT without id succeeds past the legacy ids', async () => {
      const r = await sql<{ id: string; payload: unknown; created_at: Date }>`
        insert into memory_nodes_shadow (tenant_id, scope, scope_key, kind, body) values ('t', 's', 't:s', 'fact', 'x') returning id, payload, created_at`.execute(t.db);
      expect(r.rows[0]!.payload).toEqual({});
      expect(r.rows[0]!.created_at).toBeInstanceOf(Date);
      const c = await sql<{ id: string }>`insert into memory_commits_shadow (tenant_id, scope, scope_key, commit_hash, author, message) values ('t', 's', 't:s', 'h', 'a', 'm') returning id`.execute(t.db);
      expect(Number(c.rows[0]!.id)).toBeGreaterThan(0);
    });

    it('a scope-keyed query touches exactly one leaf (isolated scope, hashed DEFAULT); a time-bounded one only its months', async () => {
      expect(await explainLeaves('select * from memory_edges_shadow where scope_key = $1', ['tenant_1:scope_3'])).toHaveLength(1);
      expect(await explainLeaves('select * from memory_nodes_shadow where scope_key = $1', ['perf:perf'])).toEqual(['memory_nodes_iso_perf_perf_ab16ef56']);
      const dflt = await explainLeaves('select * from memory_nodes_shadow where scope_key = $1', ['tenant_1:scope_3']);
      expect(dflt).toHaveLength(1);
      expect(dflt[0]).toMatch(/^memory_nodes_default_p\d\d$/);
      const months = await explainLeaves("select * from memory_outbox_shadow where created_at >= '2026-11-05' and created_at < '2026-12-10'", []);
      expect(months.sort()).toEqual(['memory_outbox_2026_11_default', 'memory_outbox_2026_11_perf_perf_ab16ef56', 'memory_outbox_2026_12_default', 'memory_outbox_2026_12_perf_perf_ab16ef56']);
      expect(await explainLeaves("select * from memory_outbox_shadow where scope_key = $1 and created_at >= '2026-11-05' and created_at < '2026-12-10'", ['perf:perf'])).toHaveLength(2);
    });
  });
});
