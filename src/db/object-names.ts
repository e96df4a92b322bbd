import { createHash } from 'node:crypto';

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
export const maxIdentifierBytes = 63;

/** 8 hex digits of the SHA-256 of `text`: a short, deterministic disambiguator. */
export function shortHash(text: string, hexChars = 8): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, hexChars);
}

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
function cutToBytes(text: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (used + size > bytes) break;
    out += ch;
    used += size;
  }
  return out;
}

/**
 * `base + suffix`, or when that exceeds 63 bytes, `base` cut short plus `_`
 * and 8 hex digits of its SHA-256, then the suffix. Deterministic, so a plan
 * regenerated tomorrow names the same objects; the suffix (`_p07`, `_2026_11`)
 * always survives, so related names stay recognisable.
 *
 * @example
 * fitIdentifier('memory_nodes', '_shadow')        // 'memory_nodes_shadow'
 * fitIdentifier('x'.repeat(63), '_p07')            // 'xxx…x_1a2b3c4d_p07' (63 bytes)
 */
export function fitIdentifier(base: string, suffix = ''): string {
  const whole = `${base}${suffix}`;
  if (Buffer.byteLength(whole, 'utf8') <= maxIdentifierBytes) return whole;
  const tail = `_${shortHash(base)}${suffix}`;
  return `${cutToBytes(base, maxIdentifierBytes - Buffer.byteLength(tail, 'utf8'))}${tail}`;
}

/** A partition-name fragment for a list value: lower-case [a-z0-9_], plus a hash when that lost anything. */
export function valueSlug(value: string): string {
  const slug = value.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 24);
  return slug === value && slug.length > 0 ? slug : `${slug || 'v'}_${shortHash(value)}`;
}

/** Zero-padded hash partition suffix: `_p07` of 32, `_p007` of 128. */
export function hashSuffix(remainder: number, modulus: number): string {
  const width = Math.max(2, String(modulus - 1).length);
  return `_p${String(remainder).padStart(width, '0')}`;
}

/**
 * The fixed, documented name patterns of generated objects (all within 63 bytes):
 * shadow `<table>_shadow`, hash leaf `<table>_p07`, isolated scope `<table>_iso_<slug>`,
 * default `<table>_default` (its hash leaves `<table>_default_p07`), range
 * `<table>_2026_11` / `<table>_2026_11_22`, copied index `<index>_shadow`.
 */
export const objectNames = {
  shadow: (table: string) => fitIdentifier(table, '_shadow'),
  legacy: (table: string) => fitIdentifier(table, '_legacy'),
  hashLeaf: (parent: string, remainder: number, modulus: number) => fitIdentifier(parent, hashSuffix(remainder, modulus)),
  isolated: (table: string, value: string) => fitIdentifier(table, `_iso_${valueSlug(value)}`),
  listValue: (parent: string, value: string) => fitIdentifier(parent, `_${valueSlug(value)}`),
  defaultPartition: (parent: string) => fitIdentifier(parent, '_default'),
  range: (table: string, label: string) => fitIdentifier(table, `_${label}`),
  shadowObject: (name: string) => fitIdentifier(name, '_shadow'),
  primaryKey: (shadow: string) => fitIdentifier(shadow, '_pkey'),
  /** The index plan adds on the legacy key columns when it widens the key (PostgreSQL's own `<table>_<columns>_idx`, named for the table it serves after cutover). */
  keyLookupIndex: (table: string, columns: readonly string[]) => fitIdentifier(`${table}_${columns.join('_')}`, '_idx'),
  /** The shadow's copy of a legacy index of `table`, as plan names it (the key `<table>_shadow_pkey`, the rest `<index>_shadow`). */
  shadowIndex: (table: string, index: { name: string; isPrimary: boolean }) => (index.isPrimary ? fitIdentifier(fitIdentifier(table, '_shadow'), '_pkey') : fitIdentifier(index.name, '_shadow')),
  /** A detached partition's name until it is dropped after the COMMIT that detached it (purge, maintain): a run that died before the drop leaves it, and the next run drops every `partgov_purged_*` table that is not a partition. */
  retiredPartition: (leaf: { schema: string; name: string }) => fitIdentifier('partgov_purged', `_${shortHash(`${leaf.schema}.${leaf.name}`)}`),
  /** The archive's name from retire's COMMIT until its drop after it (the COMMIT would otherwise unlink its files under the live table's locks); a retire that died in between leaves it for the next run. */
  retiredArchive: (table: { schema: string; name: string }) => fitIdentifier('partgov_retired', `_${shortHash(`${table.schema}.${table.name}`)}`),
};
