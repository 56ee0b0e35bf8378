/** Real temp directories for context tests. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PAST = new Date('2024-01-01T00:00:00Z');

export function tempDir(prefix = 'strata-ctx-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Writes files (string content), `->target` for a symlink; sets every mtime in the past. */
export function makeTree(root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(root, name);
    mkdirSync(path.dirname(full), { recursive: true });
    if (content.startsWith('->')) symlinkSync(content.slice(2), full);
    else if (name.endsWith('/')) mkdirSync(full, { recursive: true });
    else writeFileSync(full, content);
  }
  ageTree(root, Object.keys(files));
}

/** Moves mtimes into the past so the stat cache may trust them (nothing is racily clean). */
export function ageTree(root: string, names: string[]): void {
  for (const name of names) {
    try {
      utimesSync(path.join(root, name), PAST, PAST);
    } catch {
      // symlinks: utimes follows them; their own times do not matter.
    }
  }
}
