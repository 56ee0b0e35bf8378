/**
 * Whether a set of changed paths changes anything the hashed context
 * holds, found without touching the context: what the watcher reports is
 * often nothing at all (a tool rewriting a file with the same bytes, a
 * touch, an editor's save of an unchanged buffer), and a running build
 * must not be stopped for that. A path that looks the same to lstat is
 * unchanged; a file that does not is read and its digest compared.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { HashedContext } from './context.js';
import { hashOneFile } from './read-file.js';
import { HashStatus } from './hash-record.js';

function kindOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
}

/** XXH128 of a file's content as the context engine computes it (undefined if it cannot be read as a file). */
export function fileDigest(file: string): Buffer | undefined {
  const record = hashOneFile(file);
  return record.status === HashStatus.Ok ? record.digest : undefined;
}

export function contentChanged(ctx: HashedContext, paths: readonly string[]): boolean {
  for (const p of paths) {
    const rel = path.relative(ctx.root, path.resolve(ctx.root, p)).split(path.sep).join('/');
    if (rel.startsWith('..')) continue;
    const key = rel === '' ? '' : rel;
    if (ctx.matcher.ignores(key) && !ctx.index.has(key)) continue; // excluded: the context never had it
    const entry = ctx.index.get(key);
    const st = lstatSync(path.join(ctx.root, key), { throwIfNoEntry: false, bigint: true });
    if (!entry || !st) {
      if (entry || st) return true; // appeared or vanished
      continue;
    }
    if (kindOf(st) !== entry.kind || Number(st.mode & 0o7777n) !== entry.mode) return true;
    if (entry.kind === 'symlink') {
      if (readlinkSync(path.join(ctx.root, key)) !== entry.linkTarget) return true;
      continue;
    }
    if (entry.kind !== 'file') continue; // a directory's own change shows in the paths of its entries
    if (st.size === entry.stat.size && st.mtimeNs === entry.stat.mtimeNs && st.ino === entry.stat.ino) continue;
    const record = hashOneFile(path.join(ctx.root, key));
    if (record.status !== HashStatus.Ok || !record.digest.equals(entry.digest)) return true;
  }
  return false;
}
