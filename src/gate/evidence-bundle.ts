import { createHash } from 'node:crypto';
import { readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputInvalidError } from '../errors.js';

export interface ManifestEntry {
  file: string;
  sha256: string;
  bytes: number;
}

export interface EvidenceManifest {
  format: 'partgov-evidence/1';
  run_id: string;
  created_at: string;
  files: ManifestEntry[];
}

/** Every file under `dir`, as paths relative to it with `/` separators, sorted. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Writes a file through a temporary name and a rename, so a reader never sees half of it. */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** Writes MANIFEST.json: the SHA-256 and size of every other file of the bundle. */
export async function writeManifest(dir: string, runId: string): Promise<EvidenceManifest> {
  const files: ManifestEntry[] = [];
  for (const rel of await listFiles(dir)) {
    if (rel === 'MANIFEST.json') continue;
    const full = path.join(dir, rel);
    files.push({ file: rel, sha256: await sha256Of(full), bytes: (await stat(full)).size });
  }
  const manifest: EvidenceManifest = { format: 'partgov-evidence/1', run_id: runId, created_at: new Date().toISOString(), files };
  await writeFileAtomically(path.join(dir, 'MANIFEST.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export interface EvidenceCheck {
  dir: string;
  run_id: string;
  ok: boolean;
  files: number;
  altered: string[];
  missing: string[];
  extra: string[];
}

/** `gate --check-evidence DIR`: recomputes every hash; any altered, missing or extra file fails. */
export async function checkEvidence(dir: string): Promise<EvidenceCheck> {
  let manifest: EvidenceManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, 'MANIFEST.json'), 'utf8')) as EvidenceManifest;
  } catch (err) {
    throw new InputInvalidError(`${dir} has no readable MANIFEST.json (${(err as Error).message})`, { fix: 'pass the bundle directory gate printed: <out>/<run_id>' });
  }
  if (manifest.format !== 'partgov-evidence/1' || !Array.isArray(manifest.files)) {
    throw new InputInvalidError(`${dir}/MANIFEST.json is not a partgov evidence manifest`, { fix: 'pass the bundle directory gate printed' });
  }
  const present = new Set((await listFiles(dir)).filter((f) => f !== 'MANIFEST.json'));
  const altered: string[] = [];
  const missing: string[] = [];
  for (const e of manifest.files) {
    if (!present.has(e.file)) {
      missing.push(e.file);
      continue;
    }
    present.delete(e.file);
    if ((await sha256Of(path.join(dir, e.file))) !== e.sha256) altered.push(e.file);
  }
  const extra = [...present];
  return { dir, run_id: manifest.run_id, ok: altered.length + missing.length + extra.length === 0, files: manifest.files.length, altered, missing, extra };
}
