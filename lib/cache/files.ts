/** Files of the store: small ones written whole, and what a directory holds. */
import { lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes to a temp file beside the target, then renames it over it: a reader sees the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: { mode?: number; dirMode?: number } = {}): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: options.dirMode });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: options.mode ?? 0o644 });
  renameSync(tmp, file);
}

/** The files below a directory (anything not a directory) and their bytes. */
export function diskUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const visit = (p: string) => {
    for (const d of readdirSync(p, { withFileTypes: true })) {
      const full = path.join(p, d.name);
      if (d.isDirectory()) visit(full);
      else {
        files++;
        bytes += lstatSync(full).size;
      }
    }
  };
  visit(dir);
  return { bytes, files };
}
