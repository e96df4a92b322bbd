import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
} from 'kysely';

/**
 * A kysely instance that never connects: it only compiles `sql` templates to
 * text with PostgreSQL quoting, so plan output is the exact SQL that runs.
 */
const compiler = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** DDL text of a template. DDL takes no bind parameters, so values must be `sql.lit`. */
export function compileDdl(statement: RawBuilder<unknown>): string {
  const compiled = statement.compile(compiler);
  if (compiled.parameters.length > 0) {
    throw new Error(`DDL cannot carry bind parameters: ${compiled.sql}`);
  }
  return compiled.sql;
}

/**
 * A parameterised statement's text for a reader (--dry-run, the audit log):
 * the values it is sent with as a comment, then the exact SQL with `$n` placeholders.
 */
export function compileForReading(statement: RawBuilder<unknown>): string {
  const compiled = statement.compile(compiler);
  if (compiled.parameters.length === 0) return compiled.sql;
  const values = compiled.parameters.map((p, i) => `$${i + 1} = ${JSON.stringify(p)}`).join(', ');
  return `-- sent with ${values}\n${compiled.sql}`;
}
