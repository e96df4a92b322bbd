import { describe, expect, it } from 'vitest';
import { onConflictFailure, onlyFailure } from '../../src/cutover/statement-evidence.js';

const table = { schema: 'Shop', name: 'Orders' };
const keys = [['Tenant Scope', 'id']];
const names = new Set(['Orders_pkey']);
const judge = (q: string) => onConflictFailure(q, table, keys, names);

describe('onConflictFailure (pg_stat_statements texts that would fail on the partitioned table)', () => {
  it('names a conflict target no unique index of the partitioned table has', () => {
    expect(judge('insert into "Shop"."Orders" (id, total) values ($1, $2) on conflict (id) do update set total = excluded.total')).toBe(
      'ON CONFLICT (id): no unique index of the partitioned table has exactly these columns; it has (Tenant Scope, id)',
    );
    expect(judge('INSERT INTO "Orders" ("Tenant Scope", id) VALUES ($1, $2) ON CONFLICT ("id") DO NOTHING')).toMatch(/^ON CONFLICT \(id\)/);
    expect(judge('insert into "Orders" values ($1) on conflict on constraint "Orders_shadow_pkey" do nothing')).toBe('ON CONFLICT ON CONSTRAINT Orders_shadow_pkey: the partitioned table has no constraint of that name');
  });

  it('passes targets that match in any order, constraints the table keeps, and no target at all', () => {
    expect(judge('insert into "Shop"."Orders" (id) values ($1) on conflict (id, "Tenant Scope") do nothing')).toBeNull();
    expect(judge('insert into "Orders" (id) values ($1) on conflict on constraint "Orders_pkey" do nothing')).toBeNull();
    expect(judge('insert into "Orders" (id) values ($1) on conflict do nothing')).toBeNull();
  });

  it('leaves other tables, unquoted names of another case, and expressions alone', () => {
    expect(judge('insert into "Shop"."Orders_archive" (id) values ($1) on conflict (id) do nothing')).toBeNull();
    expect(judge('insert into orders (id) values ($1) on conflict (id) do nothing')).toBeNull(); // folds to orders, not Orders
    expect(judge('insert into other."Orders" (id) values ($1) on conflict (id) do nothing')).toBeNull();
    expect(judge('insert into "Orders" (id) values ($1) on conflict (lower(note)) do nothing')).toBeNull();
  });

  it('folds unquoted names as PostgreSQL does', () => {
    const lower = onConflictFailure('INSERT INTO Shop.ORDERS (ID) VALUES ($1) ON CONFLICT (ID) DO NOTHING', { schema: 'shop', name: 'orders' }, [['tenant', 'id']], new Set());
    expect(lower).toBe('ON CONFLICT (id): no unique index of the partitioned table has exactly these columns; it has (tenant, id)');
  });
});

describe('onlyFailure (ONLY reaches the partitioned parent alone)', () => {
  it('names SELECT, UPDATE, DELETE and TRUNCATE with ONLY on the table, and nothing else', () => {
    expect(onlyFailure('select * from only "Shop"."Orders" where id = $1', table)).toBe('FROM ONLY: on the partitioned table it reaches the parent alone, which holds no row (no error, no row)');
    expect(onlyFailure('UPDATE ONLY "Orders" SET total = $1', table)).toMatch(/^UPDATE ONLY/);
    expect(onlyFailure('delete from only "Orders" where id = $1', table)).toMatch(/^FROM ONLY/);
    expect(onlyFailure('truncate table only "Shop"."Orders"', table)).toBe('TRUNCATE ONLY: refused on a partitioned table');
    expect(onlyFailure('select * from "Orders" where note = $1', table)).toBeNull();
    expect(onlyFailure('select * from only "Shop"."Orders_archive"', table)).toBeNull();
  });
});
