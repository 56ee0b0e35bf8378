/**
 * Lists a context directory: every entry that .dockerignore keeps, with
 * its lstat, as a tree of entries whose digests are still to be filled.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import type { IgnoreMatcher } from './ignore.js';
import { joinPath, type Entry, type EntryKind } from './tree.js';
import { xxh128 } from './xxhash.js';

const NO_DIGEST = Buffer.alloc(16);

function kindOf(st: BigIntStats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** An entry from its lstat; symlinks get their digest (the target) at once. */
export function entryFromStat(root: string, rel: string, st: BigIntStats): Entry {
  const kind = kindOf(st);
  const linkTarget = kind === 'symlink' ? readlinkSync(path.join(root, rel)) : undefined;
  return {
    path: rel,
    name: rel === '' ? '' : rel.slice(rel.lastIndexOf('/') + 1),
    kind,
    mode: Number(st.mode & 0o7777n),
    size: kind === 'file' ? Number(st.size) : 0,
    linkTarget,
    hardlinkOf: undefined,
    digest: linkTarget !== undefined ? xxh128(Buffer.from(linkTarget, 'utf8')) : NO_DIGEST,
    stat: { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino },
    children: kind === 'dir' ? new Map() : undefined,
  };
}

export interface WalkState {
  readonly root: string;
  readonly matcher: IgnoreMatcher;
  /** dev:ino → first path, for hard-link detection. */
  readonly inodes: Map<string, string>;
  /** Regular files found, in walk order. */
  readonly files: Entry[];
}

export function lstatEntry(state: WalkState, rel: string): Entry | undefined {
  let st: BigIntStats;
  try {
    st = lstatSync(path.join(state.root, rel), { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  const entry = entryFromStat(state.root, rel, st);
  if (entry.kind === 'file') {
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = state.inodes.get(key);
      if (first !== undefined && first !== rel) entry.hardlinkOf = first;
      else state.inodes.set(key, rel);
    }
    state.files.push(entry);
  }
  return entry;
}

/**
 * Names in a directory that the walk would keep: not ignored, or ignored
 * directories that a `!` exception may reach into.
 */
export function listKeptNames(state: WalkState, dirPath: string): string[] {
  let names: string[];
  try {
    names = readdirSync(path.join(state.root, dirPath));
  } catch {
    return [];
  }
  return names.filter((name) => {
    const rel = joinPath(dirPath, name);
    if (!state.matcher.ignores(rel)) return true;
    return state.matcher.hasExclusions && lstatDirOnly(state, rel) !== undefined;
  });
}

/**
 * Fills `dir` with the kept entries below it. An ignored directory is
 * skipped whole unless some `!` exception may re-include something in it;
 * then it is walked and kept only if something below it is kept.
 */
export function walkInto(state: WalkState, dir: Entry, parentIgnored = false): void {
  let names: string[];
  try {
    names = readdirSync(path.join(state.root, dir.path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw e;
  }
  for (const name of names) {
    const rel = joinPath(dir.path, name);
    const ignored = state.matcher.ignores(rel);
    if (ignored && !state.matcher.hasExclusions) continue;
    const entry = ignored ? lstatDirOnly(state, rel) : lstatEntry(state, rel);
    if (!entry) continue;
    if (entry.kind === 'dir') {
      walkInto(state, entry, ignored || parentIgnored);
      if (ignored && entry.children!.size === 0) continue;
    } else if (ignored) {
      continue;
    }
    dir.children!.set(name, entry);
  }
}

/** For an ignored path under exceptions: only a directory matters (something inside may be re-included). */
function lstatDirOnly(state: WalkState, rel: string): Entry | undefined {
  try {
    const st = lstatSync(path.join(state.root, rel), { bigint: true });
    return st.isDirectory() ? entryFromStat(state.root, rel, st) : undefined;
  } catch {
    return undefined;
  }
}

export function newWalkState(root: string, matcher: IgnoreMatcher): WalkState {
  return { root, matcher, inodes: new Map(), files: [] };
}
