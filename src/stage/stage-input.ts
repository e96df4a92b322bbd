import { z } from 'zod';
import { InputInvalidError } from '../errors.js';

/**
 * Each stage's input is a zod object: its defaults and limits live there once,
 * and both the library and commander read them (the CLI passes its raw option
 * strings straight through; help texts show the schema's defaults).
 */

/** `maxDiffKeys` → `--max-diff-keys`: how the CLI spells an input field. */
export const flagOf = (field: string) => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function numberSchema(o: { min: number; max: number; integer?: boolean }) {
  const what = `${o.integer ? 'a whole number' : 'a number'} from ${o.min} to ${o.max}`;
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z
      .number({ error: `must be ${what}` })
      .refine((n) => Number.isFinite(n) && n >= o.min && n <= o.max && (!o.integer || Number.isInteger(n)), { message: `must be ${what}` }),
  );
}

/** A number from the CLI (a string) or a library caller (a number), within [min, max], with its default. */
export function numberInput(o: { min: number; max: number; integer?: boolean; default: number; describe: string }) {
  return numberSchema(o).default(o.default).describe(o.describe);
}

/** The same, without a default (absent means "not set"). */
export function optionalNumberInput(o: { min: number; max: number; integer?: boolean; describe: string }) {
  return numberSchema(o).optional().describe(o.describe);
}

/** A flag that is on or off (commander gives true or leaves it out). */
export const flagInput = (describe: string) => z.boolean().default(false).describe(describe);

/** A name or value the CLI passes as text. */
/** How a configured table may be named on the command line (`--table`, `--confirm`): see namesTable. */
export const tableNameForms = 'name, schema.name or "schema"."name"';

export const textInput = (describe: string) => z.string().min(1, { message: 'must not be empty' }).describe(describe);

/**
 * The stage's input with defaults applied, or bad input (exit 2) that names
 * the flag, what it must be and what was given. Unknown fields are dropped.
 */
export function parseStageInput<S extends z.ZodObject>(stage: string, schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  const given = field && typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[field] : undefined;
  const flag = field ? flagOf(field) : stage;
  const message = issue.code === 'invalid_type' && given === undefined ? 'is required' : issue.message;
  // Only a short scalar is echoed: an object (an environment, say) may hold secrets.
  const echo = typeof given === 'string' || typeof given === 'number' || typeof given === 'boolean' ? ` (got ${JSON.stringify(given).slice(0, 80)})` : '';
  throw new InputInvalidError(`${flag} ${message}${echo}`, {
    fix: `pass ${flag}${schemaDescription(schema, field) ? ` (${schemaDescription(schema, field)})` : ''}`,
  });
}

function schemaDescription(schema: z.ZodObject, field: string): string | undefined {
  return (schema.shape as Record<string, z.ZodType | undefined>)[field]?.description;
}

/** Help text for a flag: the field's description and its default, from the schema. */
export function helpOf(schema: z.ZodObject, field: string): string {
  const f = (schema.shape as Record<string, z.ZodType | undefined>)[field];
  if (!f) throw new Error(`no input field ${field}`);
  const dflt = defaultOf(f);
  // `.default()` wraps the described schema: its text is on the inner one.
  const described = f.description ?? (f instanceof z.ZodDefault ? (f.unwrap() as z.ZodType).description : undefined);
  return `${described ?? ''}${dflt === undefined || dflt === false ? '' : ` (default: ${String(dflt)})`}`;
}

function defaultOf(f: z.ZodType): unknown {
  const r = f.safeParse(undefined);
  return r.success ? r.data : undefined;
}
