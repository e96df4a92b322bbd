import { sql } from 'kysely';
import { notNullWithoutLongLock } from '../changelog/shadow-compatibility.js';
import type { TableModel } from './catalog.js';
import { compileDdl } from './compile-ddl.js';
import { fitIdentifier } from './object-names.js';

/**
 * How to give a table without a primary key one, with the least lock: a valid
 * unique b-tree index on plain columns becomes the key through `ADD PRIMARY KEY
 * USING INDEX` (no index build; NOT NULL first where a column lacks it, checked
 * without a long lock); without one, a unique index is built CONCURRENTLY first.
 */
export function primaryKeyFix(legacy: TableModel): string {
  const table = sql.id(legacy.schema, legacy.name);
  const keyName = sql.id(fitIdentifier(legacy.name, '_pkey'));
  const notNull = new Map(legacy.columns.map((c) => [c.name, c.notNull]));
  const candidate = legacy.indexes.find(
    (i) => i.isUnique && i.isValid && i.predicate === null && i.keyColumns.length > 0 && i.keyColumns.every((c) => c !== null)
      // Default order and operator class only: PostgreSQL refuses USING INDEX otherwise.
      && i.usingClause !== null && /^btree \([^()]*\)( INCLUDE \([^()]*\))?$/.test(i.usingClause) && !/ (DESC|NULLS|COLLATE)\b|_ops\b/.test(i.usingClause),
  );
  if (candidate) {
    const nullable = (candidate.keyColumns as string[]).filter((c) => !notNull.get(c));
    const steps = [
      ...nullable.map((c) => `${c}: ${notNullWithoutLongLock(table, c)}`),
      // Named as the index is: PostgreSQL would otherwise rename the index to the constraint's name.
      compileDdl(sql`alter table ${table} add constraint ${sql.id(candidate.name)} primary key using index ${sql.id(candidate.name)}`),
    ];
    return `make its unique index ${candidate.name} the primary key (no index build, a brief exclusive lock): ${steps.join('; ')}; then plan again`;
  }
  return `pick a unique, not-null column set and build its index without blocking writes: ${compileDdl(sql`create unique index concurrently ${keyName} on ${table}`)} (<columns>); ${compileDdl(sql`alter table ${table} add constraint ${keyName} primary key using index ${keyName}`)}; then plan again`;
}
