import { sql, type RawBuilder } from 'kysely';
import type { ColumnGrantModel, GrantModel, TableAccessModel } from './catalog.js';

/** One table or column privilege of a table, and the GRANT that gives it on another table. */
export interface GrantStatement {
  /** `grantee:PRIVILEGE` or `grantee:PRIVILEGE:column`. */
  key: string;
  /** `SELECT to app`, `UPDATE (total) to clerk`. */
  label: string;
  /** Null when the privilege is not one word of capitals (never from aclexplode; refused or skipped by the caller). */
  statement: RawBuilder<unknown> | null;
}

/** The GRANTs that give `target` the table and column privileges of `access`, with grant option where it had it. */
export function grantStatements(access: TableAccessModel, target: RawBuilder<unknown>): GrantStatement[] {
  const one = (g: GrantModel | ColumnGrantModel, column: string | null): GrantStatement => {
    const grantee = g.grantee === 'public' ? sql`public` : sql.id(g.grantee);
    const on = column === null ? sql`` : sql` (${sql.id(column)})`;
    return {
      key: `${g.grantee}:${g.privilege}${column === null ? '' : `:${column}`}`,
      label: `${g.privilege}${column === null ? '' : ` (${column})`} to ${g.grantee}`,
      // sql.raw: a privilege keyword from aclexplode(), checked to be one word of capitals.
      statement: /^[A-Z]+$/.test(g.privilege) ? sql`grant ${sql.raw(g.privilege)}${on} on ${target} to ${grantee}${g.grantable ? sql` with grant option` : sql``}` : null,
    };
  };
  return [...access.grants.map((g) => one(g, null)), ...access.columnGrants.map((g) => one(g, g.column))];
}
