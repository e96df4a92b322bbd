import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The package's root folder. Both src/package-root.ts (tests) and
 * dist/package-root.js (installed) sit one level below it.
 */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function packagePath(...parts: string[]): string {
  return path.join(packageRoot, ...parts);
}
