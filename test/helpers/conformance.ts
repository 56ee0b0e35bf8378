/**
 * Where the shared conformance data lives. Tests read it in place (never
 * copied into the project); in a clone without ../shared those suites skip
 * with one line saying so.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/helpers → ../../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function conformanceDir(name: string): string | undefined {
  const base = process.env.STRATA_CONFORMANCE ?? path.join(repoRoot, '..', 'shared', 'conformance');
  const dir = path.join(base, name);
  return existsSync(dir) ? dir : undefined;
}

export function skipReason(name: string): string {
  return `conformance data ../shared/conformance/${name} is absent (set STRATA_CONFORMANCE to its folder); the project's own tests cover the same ground`;
}
