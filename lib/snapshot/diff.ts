/**
 * What a step changed in a root filesystem: a metadata scan before and
 * after, compared by kind, mode, owner, size, mtime, ctime, inode and
 * symlink target. ctime cannot be set back by the process, so a content
 * change is always seen, even one that restores mtime. A directory's ctime
 * is left out: adding and removing an entry moves it even when the
 * directory ends as it was (the sandbox's mount points do exactly that),
 * and its own changes show in its mode, owner and mtime, its entries' in
 * theirs.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

interface Meta {
  readonly key: string;
  readonly dir: boolean;
}

export type TreeScan = ReadonlyMap<string, Meta>;

export function scanTree(root: string): TreeScan {
  const out = new Map<string, Meta>();
  const visit = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(root, p), { bigint: true });
      const link = st.isSymbolicLink() ? readlinkSync(path.join(root, p)) : '';
      out.set(p, {
        // A directory's mtime to the millisecond: the sandbox puts times back with utimes, which has no finer grain.
        key: st.isDirectory() ? `${st.mode}:${st.uid}:${st.gid}:${st.mtimeNs / 1_000_000n}:${st.ino}` : `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${link}`,
        dir: st.isDirectory(),
      });
      if (st.isDirectory()) visit(p);
    }
  };
  visit('');
  return out;
}

export interface TreeDiff {
  /** Added or changed paths, parents before children. */
  readonly changed: string[];
  /** Removed paths (only the topmost of a removed subtree). */
  readonly deleted: string[];
}

export function diffTrees(before: TreeScan, after: TreeScan): TreeDiff {
  const changed: string[] = [];
  for (const [p, meta] of after) {
    const was = before.get(p);
    if (!was || was.key !== meta.key) changed.push(p);
  }
  const deleted: string[] = [];
  for (const p of before.keys()) {
    if (after.has(p)) continue;
    const parent = path.posix.dirname(p);
    if (parent !== '.' && !after.has(parent)) continue; // its removed parent's whiteout covers it
    deleted.push(p);
  }
  changed.sort();
  return { changed, deleted: deleted.sort() };
}
