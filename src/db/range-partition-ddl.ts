import { sql, type RawBuilder } from 'kysely';
import type { RangeLayout } from '../config/config-schema.js';
import type { RangeBound } from '../config/range-bounds.js';
import { objectNames } from './object-names.js';
import { ownedBy } from './scope-partition.js';
import { setStorageParameters, type StorageParameters } from './storage-options.js';

/** `timestamp(3) with time zone` → `timestamp with time zone`: the precision does not change the range math. */
export function withoutPrecision(type: string): string {
  return type.replace(/\(\d+\)/, '');
}

/** A range bound as the literal the column type takes: a UTC midnight for timestamptz, a date otherwise. */
export function boundLiteral(d: Date, columnType: string): string {
  const day = d.toISOString().slice(0, 10);
  return withoutPrecision(columnType) === 'timestamp with time zone' ? `${day} 00:00:00+00` : day;
}

/**
 * The statements that create one range partition `<table>_<label>` of `parent`
 * and, with a sub-partitioned layout, its leaves (hash remainders, or list
 * values plus a DEFAULT): the same names plan gives them, each owned by
 * `owner` (the parent's), the leaves with `storage` (a sibling leaf's).
 */
export function rangePartitionStatements(schema: string, table: string, parent: string, bound: RangeBound, layout: RangeLayout, columnType: string, owner: string, storage: StorageParameters): { name: string; statement: RawBuilder<unknown> }[] {
  const name = objectNames.range(table, bound.label);
  // sql.lit: a DDL bound cannot be a bind parameter.
  const range = sql`for values from (${sql.lit(boundLiteral(bound.from, columnType))}) to (${sql.lit(boundLiteral(bound.to, columnType))})`;
  const sub = layout.subpartition;
  const by = sub ? (sub.type === 'hash' ? sql` partition by hash (${sql.id(sub.key)})` : sql` partition by list (${sql.id(sub.key)})`) : sql``;
  const out = [{ name, statement: sql`create table ${sql.id(schema, name)} partition of ${sql.id(schema, parent)} ${range}${by}` }];
  if (sub?.type === 'hash') {
    for (let r = 0; r < sub.partitions; r++) {
      const leaf = objectNames.hashLeaf(name, r, sub.partitions);
      out.push({ name: leaf, statement: sql`create table ${sql.id(schema, leaf)} partition of ${sql.id(schema, name)} for values with (modulus ${sql.lit(sub.partitions)}, remainder ${sql.lit(r)})` });
    }
  } else if (sub?.type === 'list') {
    for (const v of sub.values) {
      const leaf = objectNames.listValue(name, v);
      out.push({ name: leaf, statement: sql`create table ${sql.id(schema, leaf)} partition of ${sql.id(schema, name)} for values in (${sql.lit(v)})` });
    }
    const def = objectNames.defaultPartition(name);
    out.push({ name: def, statement: sql`create table ${sql.id(schema, def)} partition of ${sql.id(schema, name)} default` });
  }
  const leaves = new Set(sub ? out.slice(1).map((o) => o.name) : [name]);
  return out.flatMap((o) => {
    const ref = { schema, name: o.name };
    const set = leaves.has(o.name) ? setStorageParameters(ref, storage) : null;
    return [o, { name: o.name, statement: ownedBy(ref, owner) }, ...(set ? [{ name: o.name, statement: set }] : [])];
  });
}
