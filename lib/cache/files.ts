/** Small files written whole: to a temp file beside the target, then renamed over it, so a reader sees the old file or the new one, never half of one. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, data: string | Uint8Array, options: { mode?: number; dirMode?: number } = {}): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: options.dirMode });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: options.mode ?? 0o644 });
  renameSync(tmp, file);
}
