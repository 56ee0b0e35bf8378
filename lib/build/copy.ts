/**
 * Carrying out COPY/ADD on a root filesystem: the entries a selection
 * places, written under the destination with Docker's rules (a directory
 * source copies its contents; a single file to a path that is not a
 * directory is that file), owned by root or by --chown (names resolved
 * through the image's /etc/passwd and /etc/group, see users.ts), with
 * --chmod applied.
 */
import { chmodSync, copyFileSync, existsSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readlinkSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors/index.js';
import type { Owner } from './users.js';

export interface CopyPlan {
  /** Absolute source root on the host (the context, or another stage's root filesystem). */
  readonly srcRoot: string;
  readonly placed: readonly { readonly src: string; readonly dest: string }[];
  /** Absolute path in the container. */
  readonly dest: string;
  /** The destination names a file (one file copied to a path that is not a directory). */
  readonly destIsFile: boolean;
  readonly owner: Owner;
  readonly chmod: number | undefined;
}

function own(p: string, owner: Owner): void {
  try {
    lchownSync(p, owner.uid, owner.gid);
  } catch {
    // Not root: the files stay ours; the layer records what the filesystem holds.
  }
}

/** Creates the missing directories of a container path (root-owned, 0755, as Docker does); returns those it made. */
function ensureDirs(rootfs: string, containerDir: string): string[] {
  let at = rootfs;
  const made: string[] = [];
  for (const part of containerDir.split('/').filter(Boolean)) {
    at = path.join(at, part);
    const st = lstatSync(at, { throwIfNoEntry: false });
    if (!st) {
      mkdirSync(at, { mode: 0o755 });
      chmodSync(at, 0o755);
      made.push(path.relative(rootfs, at));
    } else if (st.isSymbolicLink()) {
      throw new BuildError(`the destination ${containerDir} goes through a symlink (${path.relative(rootfs, at)})`, { file: '', line: 0 }, { hint: 'copy to the real path' });
    }
  }
  return made;
}

/**
 * Copies and returns every path it wrote (relative to the root filesystem,
 * parents first): exactly the step's layer, with no scan of the whole tree.
 */
export function copyInto(rootfs: string, plan: CopyPlan): string[] {
  const target = (dest: string) => path.join(rootfs, plan.destIsFile ? plan.dest : path.posix.join(plan.dest, dest));
  const written = ensureDirs(rootfs, plan.destIsFile ? path.posix.dirname(plan.dest) : plan.dest);
  for (const { src, dest } of plan.placed) {
    const from = path.join(plan.srcRoot, src);
    const to = target(dest);
    written.push(path.relative(rootfs, to));
    const st = lstatSync(from);
    const existing = lstatSync(to, { throwIfNoEntry: false });
    if (st.isDirectory()) {
      if (existing && !existing.isDirectory()) rmSync(to, { recursive: true, force: true });
      if (!existing?.isDirectory()) mkdirSync(to);
      chmodSync(to, plan.chmod ?? st.mode & 0o7777);
      own(to, plan.owner);
      continue;
    }
    if (existing) rmSync(to, { recursive: true, force: true });
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to);
      own(to, plan.owner);
      lutimesSync(to, st.atime, st.mtime);
      continue;
    }
    copyFileSync(from, to);
    chmodSync(to, plan.chmod ?? st.mode & 0o7777);
    own(to, plan.owner);
    utimesSync(to, st.atime, st.mtime);
  }
  return written;
}

/** Whether a container path is a directory in the root filesystem. */
export function isDirectoryIn(rootfs: string, containerPath: string): boolean {
  const p = path.join(rootfs, containerPath);
  return existsSync(p) && lstatSync(p).isDirectory();
}
