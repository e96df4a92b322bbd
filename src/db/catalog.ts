import type { StorageParameters } from './storage-options.js';
import { sql } from 'kysely';
import type { PartgovKysely } from './state-tables.js';
import { InputInvalidError } from '../errors.js';
import { querySqlFile } from './sql-file.js';
import { compileDdl } from './compile-ddl.js';

/**
 * Catalog rows turned into a small frozen model of a table. Queries live in
 * sql/catalog/*.sql; each one documents the relkind/contype codes it uses.
 */

export interface ColumnModel {
  readonly name: string;
  /** format_type() text, e.g. `character varying(64)`, `timestamp with time zone`. */
  readonly type: string;
  readonly notNull: boolean;
  readonly defaultExpr: string | null;
  readonly identity: 'always' | 'by_default' | null;
  readonly generated: 'stored' | 'virtual' | null;
  /** Explicit collation (quoted, schema-qualified) when it differs from the type default. */
  readonly collation: string | null;
  /** pg_type.typcategory: 'N' numeric, 'S' string, 'D' date/time, 'U' user (uuid, jsonb), 'A' array … */
  readonly typeCategory: string;
  /**
   * The type's seeded 64-bit hash function (its default hash opclass's), or null: checksums then hash its text.
   * `direct` false: declared for a binary-compatible type, so SQL reaches it only through hash_record_extended.
   */
  readonly hashFunction: { readonly schema: string; readonly name: string; readonly direct: boolean } | null;
  /** Its collation treats different strings as equal (case-insensitive ICU …): checksums hash it under "C". */
  readonly nondeterministic: boolean;
  /** Identity sequence options (`start with 1000 increment by 5 …`), or null. */
  readonly identityOptions: string | null;
}

export type ConstraintKind = 'primary_key' | 'unique' | 'check' | 'foreign_key' | 'exclusion';

export interface ConstraintModel {
  readonly name: string;
  readonly kind: ConstraintKind;
  /** pg_get_constraintdef() text, e.g. `PRIMARY KEY (id)`. */
  readonly definition: string;
  readonly columns: readonly string[];
  readonly indexName: string | null;
  readonly validated: boolean;
  readonly referencesTable: string | null;
}

export interface IndexModel {
  readonly name: string;
  /** pg_get_indexdef() text: `CREATE [UNIQUE] INDEX name ON schema.table USING …`. */
  readonly definition: string;
  readonly isUnique: boolean;
  readonly isPrimary: boolean;
  readonly isValid: boolean;
  /** The index exists for a PRIMARY KEY / UNIQUE / EXCLUDE constraint. */
  readonly backsConstraint: boolean;
  /** Key columns by name; null where the key is an expression. */
  readonly keyColumns: readonly (string | null)[];
  readonly predicate: string | null;
  /** The definition after `ON <table> USING `: method, keys, INCLUDE, WITH, WHERE. Null if it could not be split. */
  readonly usingClause: string | null;
}

export interface TriggerModel {
  readonly name: string;
  readonly definition: string;
  readonly enabled: boolean;
  /** The table as pg_get_triggerdef names it (`schema.name`, quoted where needed). */
  readonly onText: string;
}

/** A trigger's CREATE TRIGGER for another table (the shadow, before cutover), or its own text if it cannot be moved. */
export function triggerDdlOn(trigger: Pick<TriggerModel, 'definition' | 'onText'>, target: TableRef): string {
  const from = ` ON ${trigger.onText} `;
  const at = trigger.definition.indexOf(from);
  return at < 0 ? trigger.definition : `${trigger.definition.slice(0, at)} ON ${compileDdl(sql.id(target.schema, target.name))} ${trigger.definition.slice(at + from.length)}`;
}

export interface OwnedSequenceModel {
  readonly sequence: string;
  readonly column: string;
  readonly isIdentity: boolean;
}

export interface PolicyModel {
  readonly name: string;
  readonly command: 'all' | 'select' | 'insert' | 'update' | 'delete';
  readonly permissive: boolean;
  /** Role names; `public` for PUBLIC. */
  readonly roles: readonly string[];
  /** pg_get_expr text of USING / WITH CHECK, or null. */
  readonly using: string | null;
  readonly with_check: string | null;
}

export interface GrantModel {
  /** Role name, or `public`. */
  readonly grantee: string;
  /** SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER (MAINTAIN on 17+). */
  readonly privilege: string;
  readonly grantable: boolean;
}

/** A privilege on one column (GRANT UPDATE (status) ON t TO r). */
export interface ColumnGrantModel extends GrantModel {
  readonly column: string;
}

/** Row-level security, policies, grants and comments of a table (sql/catalog/access.sql). */
export interface TableAccessModel {
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  /** Row-level security filters what the current role sees of this table. */
  readonly rowSecurityActive: boolean;
  readonly policies: readonly PolicyModel[];
  readonly grants: readonly GrantModel[];
  readonly columnGrants: readonly ColumnGrantModel[];
  readonly comment: string | null;
  /** The role reading the catalog owns the table (the shadow it creates will be its own too). */
  readonly ownedByCurrentUser: boolean;
  readonly columnComments: readonly { column: string; comment: string }[];
}

/** A CREATE STATISTICS object on the table. */
export interface ExtendedStatisticsModel {
  readonly schema: string;
  readonly name: string;
  /** stxkind letters: d ndistinct, f dependencies, m mcv (expression statistics are implied). */
  readonly kinds: readonly string[];
  /** The column and expression list, as pg_get_statisticsobjdef_columns gives it. */
  readonly columns: string;
}

export interface TableModel {
  readonly schema: string;
  readonly name: string;
  readonly oid: string;
  readonly partitioned: boolean;
  readonly isPartition: boolean;
  /** pg_get_partkeydef(), e.g. `HASH (scope_key)`; null when not partitioned. */
  readonly partitionKey: string | null;
  readonly owner: string;
  readonly rowEstimate: number;
  readonly totalBytes: number;
  /** Its tablespace when not the database's default (null: the default). */
  readonly tablespace: string | null;
  /** Storage parameters (fillfactor, autovacuum_* …), the TOAST table's apart. */
  readonly storage: StorageParameters;
  /** `schema.name` of tables that INHERIT from this ordinary table (their rows are read with it; their writes fire their own triggers). */
  readonly inheritanceChildren: readonly string[];
  readonly columns: readonly ColumnModel[];
  readonly constraints: readonly ConstraintModel[];
  readonly indexes: readonly IndexModel[];
  readonly triggers: readonly TriggerModel[];
  readonly extendedStatistics: readonly ExtendedStatisticsModel[];
  readonly ownedSequences: readonly OwnedSequenceModel[];
  readonly access: TableAccessModel;
}

export interface PartitionModel {
  readonly schema: string;
  readonly name: string;
  readonly oid: string;
  readonly parentSchema: string | null;
  readonly parentName: string | null;
  readonly isLeaf: boolean;
  readonly level: number;
  /** `FOR VALUES …` or `DEFAULT`; null for the root. */
  readonly bound: string | null;
  readonly partitionKey: string | null;
  readonly rowEstimate: number;
  readonly totalBytes: number;
}

export interface TableRef {
  schema: string;
  name: string;
}

interface TableRow {
  oid: string;
  relkind: 'r' | 'p';
  is_partition: boolean;
  row_estimate: string;
  total_bytes: string;
  partition_key: string | null;
  owner: string;
  tablespace: string | null;
  reloptions: string[];
  toast_reloptions: string[];
  replica_identity: string;
  inheritance_children: string[];
}

const constraintKinds: Record<string, ConstraintKind> = {
  p: 'primary_key',
  u: 'unique',
  c: 'check',
  f: 'foreign_key',
  x: 'exclusion',
};

/** A named constraint on a table: null when absent, else whether it is validated (a crashed run may have left either). */
export async function constraintState(db: PartgovKysely, table: TableRef, name: string): Promise<boolean | null> {
  const r = await sql<{ v: boolean }>`select k.convalidated as v from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${table.schema} and c.relname = ${table.name} and k.conname = ${name}`.execute(db);
  return r.rows[0]?.v ?? null;
}

/** The table's oid, or null when no ordinary or partitioned table has that name. */
export async function findTableOid(db: PartgovKysely, ref: TableRef): Promise<string | null> {
  const rows = await querySqlFile<TableRow>(db, 'catalog/table.sql', [ref.schema, ref.name]);
  return rows[0]?.oid ?? null;
}

/** Reads a table's full model from the catalog, or null when it does not exist. */
export async function introspectTable(db: PartgovKysely, ref: TableRef): Promise<TableModel | null> {
  const [row] = await querySqlFile<TableRow>(db, 'catalog/table.sql', [ref.schema, ref.name]);
  if (!row) return null;
  const oid = row.oid;
  const [columns, constraints, indexes, triggers, sequences, access, extendedStatistics] = await Promise.all([
    querySqlFile<{
      name: string;
      type: string;
      not_null: boolean;
      default_expr: string | null;
      identity: string;
      generated: string;
      collation: string | null;
      type_category: string;
      hash_function: [string, string, string] | null;
      nondeterministic: boolean;
      identity_options: string | null;
    }>(db, 'catalog/columns.sql', [oid]),
    querySqlFile<{
      name: string;
      type: string;
      definition: string;
      columns: string[];
      index_name: string | null;
      validated: boolean;
      references_table: string | null;
    }>(db, 'catalog/constraints.sql', [oid]),
    querySqlFile<{
      name: string;
      definition: string;
      is_unique: boolean;
      is_primary: boolean;
      is_valid: boolean;
      backs_constraint: boolean;
      key_columns: (string | null)[];
      predicate: string | null;
      prefix_ok: boolean;
      using_clause: string;
    }>(db, 'catalog/indexes.sql', [oid]),
    querySqlFile<{ name: string; definition: string; enabled: boolean; on_text: string }>(db, 'catalog/triggers.sql', [oid]),
    querySqlFile<{ sequence: string; column_name: string; is_identity: boolean }>(db, 'catalog/owned-sequences.sql', [oid]),
    querySqlFile<{
      row_security: boolean;
      owned_by_current_user: boolean;
      force_row_security: boolean;
      row_security_active: boolean;
      comment: string | null;
      policies: PolicyModel[];
      grants: GrantModel[];
      column_grants: ColumnGrantModel[];
      column_comments: { column: string; comment: string }[];
    }>(db, 'catalog/access.sql', [oid]),
    querySqlFile<{ schema: string; name: string; kinds: string[]; columns: string }>(db, 'catalog/extended-statistics.sql', [oid]),
  ]);
  const a = access[0]!;
  return Object.freeze({
    schema: ref.schema,
    name: ref.name,
    oid,
    partitioned: row.relkind === 'p',
    isPartition: row.is_partition,
    partitionKey: row.partition_key,
    owner: row.owner,
    rowEstimate: Number(row.row_estimate),
    totalBytes: Number(row.total_bytes),
    tablespace: row.tablespace,
    storage: Object.freeze({ table: Object.freeze([...row.reloptions]), toast: Object.freeze([...row.toast_reloptions]), replicaIdentity: row.replica_identity }),
    inheritanceChildren: Object.freeze([...row.inheritance_children]),
    columns: Object.freeze(
      columns.map((c) =>
        Object.freeze({
          name: c.name,
          type: c.type,
          notNull: c.not_null,
          defaultExpr: c.default_expr,
          identity: c.identity === 'a' ? 'always' : c.identity === 'd' ? 'by_default' : null,
          generated: c.generated === 's' ? 'stored' : c.generated === 'v' ? 'virtual' : null,
          collation: c.collation,
          typeCategory: c.type_category,
          hashFunction: c.hash_function ? { schema: c.hash_function[0], name: c.hash_function[1], direct: c.hash_function[2] === 'true' } : null,
          nondeterministic: c.nondeterministic,
          identityOptions: c.identity_options,
        } satisfies ColumnModel),
      ),
    ),
    constraints: Object.freeze(
      constraints.map((c) =>
        Object.freeze({
          name: c.name,
          kind: constraintKinds[c.type]!,
          definition: c.definition,
          columns: Object.freeze([...c.columns]),
          indexName: c.index_name,
          validated: c.validated,
          referencesTable: c.references_table === '-' ? null : c.references_table,
        } satisfies ConstraintModel),
      ),
    ),
    indexes: Object.freeze(
      indexes.map((i) =>
        Object.freeze({
          name: i.name,
          definition: i.definition,
          isUnique: i.is_unique,
          isPrimary: i.is_primary,
          isValid: i.is_valid,
          backsConstraint: i.backs_constraint,
          keyColumns: Object.freeze([...i.key_columns]),
          predicate: i.predicate,
          usingClause: i.prefix_ok ? i.using_clause : null,
        } satisfies IndexModel),
      ),
    ),
    extendedStatistics: Object.freeze(extendedStatistics.map((x) => Object.freeze({ schema: x.schema, name: x.name, kinds: Object.freeze([...x.kinds]), columns: x.columns }))),
    triggers: Object.freeze(triggers.map((t) => Object.freeze({ name: t.name, definition: t.definition, enabled: t.enabled, onText: t.on_text }))),
    ownedSequences: Object.freeze(
      sequences.map((s) => Object.freeze({ sequence: s.sequence, column: s.column_name, isIdentity: s.is_identity })),
    ),
    access: Object.freeze({
      rowSecurity: a.row_security,
      forceRowSecurity: a.force_row_security,
      rowSecurityActive: a.row_security_active,
      policies: Object.freeze(a.policies.map((p) => Object.freeze({ ...p, roles: Object.freeze([...p.roles]) }))),
      grants: Object.freeze(a.grants.map((g) => Object.freeze({ ...g }))),
      columnGrants: Object.freeze(a.column_grants.map((g) => Object.freeze({ ...g }))),
      comment: a.comment,
      ownedByCurrentUser: a.owned_by_current_user,
      columnComments: Object.freeze(a.column_comments.map((c) => Object.freeze({ ...c }))),
    }),
  });
}

/** Like introspectTable, but a missing table is bad input (exit 2). */
export async function requireTable(db: PartgovKysely, ref: TableRef): Promise<TableModel> {
  const model = await introspectTable(db, ref);
  if (!model) {
    throw new InputInvalidError(`table ${ref.schema}.${ref.name} does not exist`, {
      fix: 'check "schema" and "name" in the config: names are case-sensitive, exactly as in the catalog (\\dt in psql)',
      details: { table: `${ref.schema}.${ref.name}` },
    });
  }
  return model;
}

/** Every relation of a partition tree, root first; empty when the table does not exist. */
export async function readPartitionTree(db: PartgovKysely, ref: TableRef): Promise<PartitionModel[]> {
  const oid = await findTableOid(db, ref);
  if (oid === null) return [];
  const rows = await querySqlFile<{
    schema: string;
    name: string;
    oid: string;
    parent_schema: string | null;
    parent_name: string | null;
    is_leaf: boolean;
    level: number;
    bound: string | null;
    partition_key: string | null;
    row_estimate: string;
    total_bytes: string;
  }>(db, 'catalog/partition-tree.sql', [oid]);
  return rows.map((r) =>
    Object.freeze({
      schema: r.schema,
      name: r.name,
      oid: r.oid,
      parentSchema: r.parent_schema,
      parentName: r.parent_name,
      isLeaf: r.is_leaf,
      level: r.level,
      bound: r.bound,
      partitionKey: r.partition_key,
      rowEstimate: Number(r.row_estimate),
      totalBytes: Number(r.total_bytes),
    }),
  );
}

export interface TablePrivileges {
  canSelect: boolean;
  canInsert: boolean;
  canUpdate: boolean;
  canDelete: boolean;
  canTrigger: boolean;
  isOwner: boolean;
}

export async function readTablePrivileges(db: PartgovKysely, oid: string): Promise<TablePrivileges> {
  const [r] = await querySqlFile<{
    can_select: boolean;
    can_insert: boolean;
    can_update: boolean;
    can_delete: boolean;
    can_trigger: boolean;
    is_owner: boolean;
  }>(db, 'catalog/privileges.sql', [oid]);
  return {
    canSelect: r!.can_select,
    canInsert: r!.can_insert,
    canUpdate: r!.can_update,
    canDelete: r!.can_delete,
    canTrigger: r!.can_trigger,
    isOwner: r!.is_owner,
  };
}
