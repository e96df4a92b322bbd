import { sql, type RawBuilder } from 'kysely';
import { compileDdl } from './compile-ddl.js';
import { setStorageParameters, type StorageParameters } from './storage-options.js';
import { fitIdentifier, shortHash } from './object-names.js';
import type { TableRef } from './catalog.js';

/**
 * The constraint names for a scope key K: `partgov_not_<h>` (`CHECK (key <>
 * K)` on DEFAULT leaves: it lets ATTACH of K's partition skip their scan, and
 * stays on every leaf K cannot hash into, so 16 hex digits: hundreds of
 * thousands of isolated scopes share leaves without two keys meeting on one
 * name) and `partgov_only_<h>` (`CHECK (key = K)` on its partition before
 * ATTACH; also the mark of a table partgov built).
 */
export function scopeConstraintNames(keyValue: string): { notScope: string; onlyScope: string } {
  return { notScope: fitIdentifier('partgov_not', `_${shortHash(keyValue, 16)}`), onlyScope: fitIdentifier('partgov_only', `_${shortHash(keyValue)}`) };
}

/**
 * A scope's guard `CHECK (key <> K)` on one leaf: added NOT VALID (a catalog
 * change), validated (one read of the leaf, writes go on), dropped. Values are
 * literals: DDL takes no parameters.
 */
export function scopeGuardDdl(leaf: TableRef, key: { column: string; value: string }, name = scopeConstraintNames(key.value).notScope): { add: string; validate: string; drop: string } {
  const t = sql.id(leaf.schema, leaf.name);
  return {
    add: compileDdl(sql`alter table ${t} add constraint ${sql.id(name)} check (${sql.id(key.column)} <> ${sql.lit(key.value)}) not valid`),
    validate: compileDdl(sql`alter table ${t} validate constraint ${sql.id(name)}`),
    drop: compileDdl(sql`alter table ${t} drop constraint if exists ${sql.id(name)}`),
  };
}

/** Every name a `CHECK (key <> K)` of partgov's has had: the current one, and the 8-digit one of earlier versions, whose crashed runs may have left it. */
export function scopeGuardNames(keyValue: string): string[] {
  return [scopeConstraintNames(keyValue).notScope, fitIdentifier('partgov_not', `_${shortHash(keyValue)}`)];
}

/**
 * DDL of an empty table shaped like the root, ready to ATTACH: its columns,
 * defaults, constraints, generated columns and indexes, without identity (the
 * root allocates ids for its partitions), owned by the root's owner, with
 * a sibling leaf's storage parameters.
 */
export function tableLikeRootDdl(root: TableRef & { tablespace: string | null }, target: TableRef, identityColumns: readonly string[], owner: string, storage: StorageParameters): string[] {
  const t = sql.id(target.schema, target.name);
  const set = setStorageParameters(target, storage);
  // The root's tablespace, which a partition created by PARTITION OF would inherit (LIKE copies its indexes' own).
  const space = root.tablespace ? sql` tablespace ${sql.id(root.tablespace)}` : sql``;
  return [
    compileDdl(sql`create table ${t} (like ${sql.id(root.schema, root.name)} including defaults including constraints including generated including indexes)${space}`),
    ...identityColumns.map((c) => compileDdl(sql`alter table ${t} alter column ${sql.id(c)} drop identity if exists`)),
    compileDdl(ownedBy(target, owner)),
    ...(set ? [compileDdl(set)] : []),
  ];
}

/**
 * `ALTER TABLE … OWNER TO` the root's owner, for a partition partgov creates.
 * A partition left to partgov's role breaks the owner's own DDL on the root:
 * ALTER TABLE … ADD COLUMN and CREATE INDEX recurse into every partition and
 * need to own each ("must be owner of table …"), and its VACUUM skips it.
 */
export function ownedBy(target: TableRef, owner: string): RawBuilder<unknown> {
  return sql`alter table ${sql.id(target.schema, target.name)} owner to ${sql.id(owner)}`;
}
