import { configJsonSchema } from './config-schema.js';

interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  required?: string[];
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.type === 'array') return `array of ${s.items ? typeOf(s.items) : 'any'}`;
  return Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any');
}

function rowsOf(s: JsonSchema, path: string, required: boolean, out: string[]): void {
  const variants = s.oneOf ?? s.anyOf;
  if (variants) {
    for (const v of variants) {
      const tag = v.properties?.type?.const;
      rowsOf(v, tag === undefined ? path : `${path} (type ${JSON.stringify(tag)})`, required, out);
    }
    return;
  }
  if (s.type === 'object' && s.properties) {
    if (path && s.description) out.push(`| \`${path}\` | object | | ${cell(s.description)} |`);
    for (const [name, child] of Object.entries(s.properties)) {
      if (name === '$schema' || name === 'type') continue;
      rowsOf(child, path ? `${path}.${name}` : name, s.required?.includes(name) ?? false, out);
    }
    return;
  }
  if (s.type === 'array' && s.items?.type === 'object') {
    if (s.description) out.push(`| \`${path}\` | array | | ${cell(s.description)} |`);
    rowsOf(s.items, `${path}[]`, required, out);
    return;
  }
  const dflt = s.default === undefined ? (required ? 'required' : '') : `\`${JSON.stringify(s.default)}\``;
  out.push(`| \`${path}\` | ${cell(typeOf(s))} | ${dflt} | ${cell(s.description ?? '')} |`);
}

/** The README's config reference: one row per setting, generated from the config's JSON Schema (itself from the zod schema). */
export function configReference(): string {
  const out = ['| setting | type | default | what it does |', '|---|---|---|---|'];
  rowsOf(configJsonSchema() as JsonSchema, '', true, out);
  return out.join('\n');
}
