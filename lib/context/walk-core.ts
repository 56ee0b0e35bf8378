/**
 * Reading directories of a context: the kept children of a directory with
 * their lstat, by .dockerignore's rules. Shared by the coordinator and the
 * worker threads (which walk subtrees in parallel and send the records back
 * packed), so both apply exactly the same rules.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import type { IgnoreMatcher } from './ignore.js';
import { cachedPaths, KIND_CODES, RACY_MARGIN_NS, type StatCache } from './stat-cache.js';

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
function full(root: string, rel: string): string {
  return rel === '' ? root : root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

function kindOf(st: BigIntStats): RecordKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

export function statRecord(root: string, rel: string, st: BigIntStats, provisional: boolean): StatRecord {
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
    link: kind === 'symlink' ? readlinkSync(full(root, rel)) : undefined,
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

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The kept children of one directory. */
export function readKept(root: string, relDir: string, matcher: IgnoreMatcher): StatRecord[] {
  let names: string[];
  try {
    names = readdirSync(full(root, relDir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
  const out: StatRecord[] = [];
  for (const name of names) {
    const rel = join(relDir, name);
    const ignored = matcher.ignores(rel);
    if (ignored && !matcher.hasExclusions) continue;
    const record = lstatRecord(root, rel, ignored);
    if (!record || (ignored && record.kind !== 'dir')) continue;
    out.push(record);
  }
  return out;
}

/** Every kept entry below `dirs` (not the dirs themselves), parents before children. */
export function walkBelow(root: string, dirs: readonly string[], matcher: IgnoreMatcher, emit: (r: StatRecord) => void): void {
  const stack = [...dirs].reverse();
  while (stack.length) {
    const dir = stack.pop()!;
    const children = readKept(root, dir, matcher);
    for (const r of children) emit(r);
    for (let i = children.length - 1; i >= 0; i--) if (children[i]!.kind === 'dir') stack.push(children[i]!.rel);
  }
}

const KINDS: readonly RecordKind[] = ['file', 'dir', 'symlink', 'other'];
const PACKED_BYTES = 56;

export interface PackedRecords {
  readonly meta: ArrayBuffer;
  readonly paths: string;
  readonly links: string;
}

/** Records as one buffer plus two strings: cheap to send between threads. */
export function packRecords(records: readonly StatRecord[]): PackedRecords {
  const meta = new ArrayBuffer(records.length * PACKED_BYTES);
  const view = new DataView(meta);
  records.forEach((r, i) => {
    const at = i * PACKED_BYTES;
    view.setUint8(at, KINDS.indexOf(r.kind));
    view.setUint8(at + 1, r.provisional ? 1 : 0);
    view.setUint32(at + 4, r.mode, true);
    view.setBigUint64(at + 8, r.size, true);
    view.setBigUint64(at + 16, r.mtimeNs, true);
    view.setBigUint64(at + 24, r.ctimeNs, true);
    view.setBigUint64(at + 32, r.ino, true);
    view.setBigUint64(at + 40, r.dev, true);
    view.setUint32(at + 48, r.nlink, true);
  });
  return {
    meta,
    paths: records.map((r) => r.rel).join('\0'),
    links: records.filter((r) => r.link !== undefined).map((r) => r.link).join('\0'),
  };
}

export function unpackRecords(packed: PackedRecords): StatRecord[] {
  const count = packed.meta.byteLength / PACKED_BYTES;
  if (count === 0) return [];
  const view = new DataView(packed.meta);
  const paths = packed.paths.split('\0');
  const links = packed.links === '' ? [] : packed.links.split('\0');
  let link = 0;
  const out: StatRecord[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * PACKED_BYTES;
    const kind = KINDS[view.getUint8(at)]!;
    out.push({
      rel: paths[i]!,
      kind,
      provisional: view.getUint8(at + 1) === 1,
      mode: view.getUint32(at + 4, true),
      size: view.getBigUint64(at + 8, true),
      mtimeNs: view.getBigUint64(at + 16, true),
      ctimeNs: view.getBigUint64(at + 24, true),
      ino: view.getBigUint64(at + 32, true),
      dev: view.getBigUint64(at + 40, true),
      nlink: view.getUint32(at + 48, true),
      link: kind === 'symlink' ? links[link++] : undefined,
    });
  }
  return out;
}

/**
 * lstats rows [from, to) of a stat cache and returns the indexes whose
 * entry is gone or differs (kind, mode, size, mtime, ctime, inode), or is
 * racily clean. A directory whose mtime moved is reported too: its listing
 * must be read again. Nothing else needs a readdir.
 */
export function verifyRange(root: string, cache: StatCache, from: number, to: number): Uint32Array {
  const paths = cachedPaths(cache, from, to);
  const changed: number[] = [];
  for (let i = from; i < to; i++) {
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(full(root, paths[i - from]!), { bigint: true, throwIfNoEntry: false });
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

/** Checks claimed chunks of rows until none are left; returns the rows that changed. */
export function verifyClaimed(root: string, cache: StatCache, claims: VerifyClaims, isWorker: boolean): number[] {
  const counters = new Int32Array(claims.counters);
  if (isWorker) Atomics.add(counters, 1, 1);
  const changed: number[] = [];
  for (;;) {
    const from = Atomics.add(counters, 0, 1) * claims.chunk;
    if (from >= cache.count) return changed;
    for (const row of verifyRange(root, cache, from, Math.min(cache.count, from + claims.chunk))) changed.push(row);
  }
}
