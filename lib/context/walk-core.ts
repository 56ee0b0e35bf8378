/**
 * Reading directories of a context: the kept children of a directory with
 * their lstat, by .dockerignore's rules. Shared by the coordinator and the
 * worker threads (which walk subtrees in parallel and send the records back
 * packed), so both apply exactly the same rules.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import type { IgnoreMatcher } from './ignore.js';
import { decodeName, fsPath } from './names.js';
import { joinPath } from './tree.js';
import { cachedPaths, cachedUtf8Paths, KIND_CODES, RACY_MARGIN_NS, type StatCache } from './stat-cache.js';

export type RecordKind = 'file' | 'dir' | 'symlink' | 'other';

export interface StatRecord {
  readonly rel: string;
  readonly kind: RecordKind;
  readonly mode: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly nlink: number;
  readonly link: string | undefined;
  /**
   * An ignored directory walked only because a `!` exception may re-include
   * something below it; dropped unless something below it is kept.
   */
  readonly provisional: boolean;
}

/** root is absolute and clean and rel is a clean context path: plain concatenation is enough (path.join normalizes, and costs). */
export function underRoot(root: string, rel: string): string {
  return rel === '' ? root : root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

/** As underRoot, as the fs functions want it (bytes, for a path holding an escaped byte: see names.ts). */
function full(root: string, rel: string): string | Buffer {
  return fsPath(underRoot(root, rel));
}

function kindOf(st: BigIntStats): RecordKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

function statRecord(root: string, rel: string, st: BigIntStats, provisional: boolean): StatRecord {
  const kind = kindOf(st);
  return {
    rel,
    kind,
    mode: Number(st.mode & 0o7777n),
    size: kind === 'file' ? st.size : 0n,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: st.ino,
    dev: st.dev,
    nlink: Number(st.nlink),
    link: kind === 'symlink' ? decodeName(readlinkSync(full(root, rel), { encoding: 'buffer' })) : undefined,
    provisional,
  };
}

/** lstat of one path, or undefined when it is gone. */
export function lstatRecord(root: string, rel: string, provisional = false): StatRecord | undefined {
  try {
    return statRecord(root, rel, lstatSync(full(root, rel), { bigint: true }), provisional);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}


/** A directory's names; listed again as bytes when one is not UTF-8 (seen as U+FFFD), so it keeps its own bytes (names.ts). */
export function readNames(dir: string | Buffer): string[] {
  const names = readdirSync(dir);
  if (!names.some((n) => n.includes('\uFFFD'))) return names;
  return readdirSync(dir, { encoding: 'buffer' }).map(decodeName);
}

/** The kept children of one directory. */
export function readKept(root: string, relDir: string, matcher: IgnoreMatcher, skipped?: string[]): StatRecord[] {
  let names: string[];
  try {
    names = readNames(full(root, relDir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
  const out: StatRecord[] = [];
  for (const name of names) {
    const rel = joinPath(relDir, name);
    const ignored = matcher.ignores(rel);
    if (ignored && !matcher.hasExclusions) continue;
    const record = lstatRecord(root, rel, ignored);
    // Sockets, FIFOs and devices are no part of a context (Docker skips them too).
    if (record?.kind === 'other' && !ignored) skipped?.push(rel);
    if (!record || record.kind === 'other' || (ignored && record.kind !== 'dir')) continue;
    out.push(record);
  }
  return out;
}

/** Every kept entry below `dirs` (not the dirs themselves), parents before children. */
export function walkBelow(root: string, dirs: readonly string[], matcher: IgnoreMatcher, emit: (r: StatRecord) => void, skipped?: string[]): void {
  const stack = [...dirs].reverse();
  while (stack.length) {
    const dir = stack.pop()!;
    const children = readKept(root, dir, matcher, skipped);
    for (const r of children) emit(r);
    for (let i = children.length - 1; i >= 0; i--) if (children[i]!.kind === 'dir') stack.push(children[i]!.rel);
  }
}

/**
 * lstats rows [from, to) of a stat cache and returns the indexes whose
 * entry is gone or differs (kind, mode, size, mtime, ctime, inode), or is
 * racily clean. A directory whose mtime moved is reported too: its listing
 * must be read again. Nothing else needs a readdir.
 */
export function verifyRange(root: string, cache: StatCache, from: number, to: number): Uint32Array {
  // Valid UTF-8 throughout (the usual case): no path holds an escaped byte, and none needs looking at for one.
  const plain = cachedUtf8Paths(cache, from, to);
  const paths = plain ?? cachedPaths(cache, from, to);
  const at = plain ? (rel: string) => underRoot(root, rel) : (rel: string) => full(root, rel);
  const changed: number[] = [];
  for (let i = from; i < to; i++) {
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(at(paths[i - from]!), { bigint: true, throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (
      !st ||
      kindOf(st) !== KIND_CODES[cache.kinds[i]!] ||
      Number(st.mode & 0o7777n) !== cache.modes[i] ||
      st.mtimeNs !== cache.mtimes[i] ||
      st.ctimeNs !== cache.ctimes[i] ||
      st.ino !== cache.inos[i] ||
      (kindOf(st) === 'file' && st.size !== cache.sizes[i]) ||
      st.mtimeNs + RACY_MARGIN_NS >= cache.takenAtNs
    ) {
      changed.push(i);
    }
  }
  return Uint32Array.from(changed);
}

/** Work shared through memory: threads claim chunks of rows until none are left, so whoever starts first does more. */
export interface VerifyClaims {
  /** [next chunk, threads that have started] */
  readonly counters: SharedArrayBuffer;
  readonly chunk: number;
}

/** Claims the next chunk of rows and checks it, adding the rows that changed to `changed`; false when none was left. */
export function verifyNextChunk(root: string, cache: StatCache, claims: VerifyClaims, changed: number[]): boolean {
  const from = Atomics.add(new Int32Array(claims.counters), 0, 1) * claims.chunk;
  if (from >= cache.count) return false;
  for (const row of verifyRange(root, cache, from, Math.min(cache.count, from + claims.chunk))) changed.push(row);
  return true;
}

/** Checks claimed chunks of rows until none are left (a worker thread); returns the rows that changed. */
export function verifyClaimed(root: string, cache: StatCache, claims: VerifyClaims): number[] {
  Atomics.add(new Int32Array(claims.counters), 1, 1); // this thread has started: the coordinator stops checking rows itself
  const changed: number[] = [];
  while (verifyNextChunk(root, cache, claims, changed));
  return changed;
}
