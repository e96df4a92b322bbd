/**
 * How to add a foreign key back on a table that may be partitioned (plan's and
 * cutover's refusals of a key between two moved tables say it): PostgreSQL 18
 * takes NOT VALID there; before 18 it refuses NOT VALID on a partitioned table
 * ("not yet supported"), so the key is checked as it is added.
 */
export const fkReAddAdvice = 'PostgreSQL 18: NOT VALID, then VALIDATE, which lets writes go on; before 18, a partitioned table takes it only validated, checking every row while writes to both tables wait: pick a quiet minute';

/** A FOREIGN KEY of another table that references the legacy table (catalog/dependents.sql, kind fk_in). */
export interface IncomingForeignKey {
  /** `<constraint> on <referencing table>`. */
  label: string;
  definition: string;
  /** The DDL that drops it. */
  drop: string;
  /** The referencing table, as regclass text. */
  table: string;
  /** The columns of the legacy table it references. */
  referenced: string[];
  /** Every column of the referencing table. */
  table_columns: string[];
}

export const parseIncomingForeignKey = (label: string, json: string): IncomingForeignKey => ({ label, ...(JSON.parse(json) as Omit<IncomingForeignKey, 'label'>) });

/**
 * What to do about a foreign key into a table being partitioned: nothing can
 * point it at the other table inside the swap, so it goes before and comes back
 * after. A partitioned table's unique keys all hold the partition key, so the
 * key comes back referencing those columns too, and the referencing table needs
 * a column for each (the same name is looked for; another name will do).
 */
export function incomingForeignKeyFix(fk: IncomingForeignKey, table: string, partitionKey: readonly string[]): string {
  const added = partitionKey.filter((k) => !fk.referenced.includes(k));
  const target = [...added, ...fk.referenced];
  const lacking = added.filter((k) => !fk.table_columns.includes(k));
  const columns = lacking.length === 0 ? '' : `; ${fk.table} has no column ${lacking.join(', ')}: add one holding each row's ${lacking.join(', ')} of ${table} (filled before the key is added) so it can reference them`;
  return `drop it before cutover (${fk.drop}; the application enforces it meanwhile) and, after the swap, add it again referencing ${table} (${target.join(', ')})${added.length > 0 ? `, which holds the partition key ${partitionKey.join(', ')} as every unique key of a partitioned table must` : ''} (${fkReAddAdvice})${columns}`;
}
