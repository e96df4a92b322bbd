import { sql } from 'kysely';
import type { TableConfig } from '../config/config-schema.js';
import { compileDdl } from '../db/compile-ddl.js';
import { fitIdentifier } from '../db/object-names.js';
import type { ShadowPair } from '../db/shadow-pair.js';

/** One way the shadow would reject a row the legacy table accepts. */
export interface CompatibilityProblem {
  /** The column or constraint at fault. */
  object: string;
  problem: string;
  fix: string;
}

const stripNotValid = (def: string) => def.replace(/\s+NOT VALID\s*$/i, '').trim();

/**
 * Every way the shadow can reject a row the legacy table accepts, read from
 * both catalogs: a NOT NULL the legacy lacks (a nullable column that became
 * part of the partitioned primary key), a CHECK or FOREIGN KEY the legacy
 * lacks or has NOT VALID, a changed column type, a shadow-only column without
 * a default, a range layout with no DEFAULT partition (rows dated outside
 * the premade partitions), and old-style INHERITS children, whose writes the
 * legacy table's triggers never see. Uniqueness is not in the list: the shadow's keys
 * are the legacy's widened by the partition key, so they are weaker.
 */
export function shadowCompatibilityProblems(pair: ShadowPair, table: TableConfig): CompatibilityProblem[] {
  const problems: CompatibilityProblem[] = [];
  const L = pair.legacy;
  const S = pair.shadow;
  const legacyRef = `${L.schema}.${L.name}`;
  // Fix hints are SQL a DBA pastes: identifiers quoted as the server needs them ("Tenant Key", "Jobs").
  const legacyId = sql.id(L.schema, L.name);
  const shadowId = sql.id(S.schema, S.name);
  const legacyCols = new Map(L.columns.map((c) => [c.name, c]));
  for (const s of S.columns) {
    const l = legacyCols.get(s.name);
    if (!l) {
      if (s.notNull && s.defaultExpr === null && s.identity === null && s.generated === null) {
        problems.push({ object: `column ${s.name}`, problem: `the shadow has a NOT NULL column ${s.name} without a default that the legacy table lacks`, fix: `drop it from the shadow or give it a default, or plan again` });
      }
      continue;
    }
    if (l.type !== s.type || l.collation !== s.collation) {
      problems.push({
        object: `column ${s.name}`,
        problem: `column ${s.name} is ${l.type}${l.collation ? ` collate ${l.collation}` : ''} on the legacy table and ${s.type}${s.collation ? ` collate ${s.collation}` : ''} on the shadow`,
        // sql.raw(l.type): format_type() text from the catalog.
        fix: `give the shadow the legacy type (${compileDdl(sql`alter table ${shadowId} alter column ${sql.id(s.name)} type ${sql.raw(l.type)}`)}), or plan again`,
      });
    }
    if (s.notNull && !l.notNull && s.generated === null) {
      problems.push({
        object: `column ${s.name}`,
        problem: `the legacy table accepts NULL in ${s.name} and the shadow does not${pair.shadowKey.includes(s.name) ? ' (it is part of the partitioned primary key)' : ''}: such a row could never be copied`,
        fix: notNullWithoutLongLock(legacyId, l.name),
      });
    }
  }
  const legacyDefs = new Map(L.constraints.filter((c) => c.kind === 'check' || c.kind === 'foreign_key').map((c) => [stripNotValid(c.definition), c]));
  for (const s of S.constraints) {
    if (s.kind !== 'check' && s.kind !== 'foreign_key') continue;
    const l = legacyDefs.get(stripNotValid(s.definition));
    const what = s.kind === 'check' ? 'CHECK' : 'FOREIGN KEY';
    if (!l) {
      problems.push({ object: `constraint ${s.name}`, problem: `the shadow's ${what} ${s.name} (${s.definition}) is not on the legacy table`, fix: `drop it from the shadow (${compileDdl(sql`alter table ${shadowId} drop constraint ${sql.id(s.name)}`)}), or add it to the legacy table first` });
    } else if (!l.validated && s.validated) {
      problems.push({
        object: `constraint ${l.name}`,
        problem: `${what} ${l.name} is NOT VALID on the legacy table (old rows may violate it) and validated on the shadow`,
        fix: `validate it on the legacy table (${compileDdl(sql`alter table ${legacyId} validate constraint ${sql.id(l.name)}`)}; it takes no exclusive lock), or repair the violating rows`,
      });
    }
  }
  const children = L.inheritanceChildren;
  if (children.length > 0) {
    problems.push({
      object: `inheritance of ${legacyRef}`,
      problem: `${legacyRef} has ${children.length} inheritance child table(s) (${children.slice(0, 5).join(', ')}${children.length > 5 ? ', …' : ''}): the copy reads their rows with ${L.name}'s, but a write to a child fires the child's triggers, not the sync triggers on ${L.name}, so the shadow would miss it and cutover would lose it`,
      fix: `partgov moves one ordinary table: fold the children into it first (per child: ${compileDdl(sql`insert into only ${legacyId} select * from only`)} <child>; alter table <child> no inherit ${compileDdl(legacyId)}), or configure each child as a table of its own`,
    });
  }
  if (table.layout.type === 'range' && !table.layout.default_partition) {
    problems.push({
      object: `layout of ${legacyRef}`,
      problem: `the range layout has no DEFAULT partition: a row dated before the first or after the last premade ${table.layout.interval} has no partition (with a default like now(), every insert once the premade ${table.layout.interval}s run out)`,
      fix: 'set "default_partition": true in the table\'s layout, plan again and apply it (partgov maintain moves rows out of the DEFAULT later)',
    });
  }
  return problems;
}

/**
 * How to make a nullable column NOT NULL without a long exclusive lock, as
 * pasteable SQL: a CHECK added NOT VALID and validated (writes go on), which
 * lets SET NOT NULL skip its scan (PostgreSQL 12+), then the CHECK goes.
 */
export function notNullWithoutLongLock(table: ReturnType<typeof sql.id>, column: string): string {
  const con = sql.id(fitIdentifier(column, '_not_null'));
  const steps = [
    sql`alter table ${table} add constraint ${con} check (${sql.id(column)} is not null) not valid`,
    sql`alter table ${table} validate constraint ${con}`,
    sql`alter table ${table} alter column ${sql.id(column)} set not null`,
    sql`alter table ${table} drop constraint ${con}`,
  ];
  return `make it NOT NULL without a long lock: ${steps.map((x) => compileDdl(x)).join('; ')}`;
}
