/**
 * A whole context, scanned straight into stat cache columns: the blocks of
 * directory listings the threads send back (in whatever order they finish)
 * are laid out in walk order (parents first, children by name), with their
 * stat, digests, subtree ends and hard links, and directory digests are
 * computed over the columns. No object per entry is made on the way: the
 * tree is then read from these columns lazily, as from a loaded cache.
 */
import { HashStatus } from './hash-record.js';
import type { IgnoreMatcher } from './ignore.js';
import { encodeName } from './names.js';
import { poolIsRunning, prestartPool, scanOnPool } from './pool.js';
import { flagKind, flagProvisional, flagStatus, SCAN_WORDS, ScanKind, scanDirs, W, type ScannedDirs } from './scan-core.js';
import { decodeStatCache, KIND_CODES, newStatCache, NO_LINK, sealStatCache, type CacheLayout, type LoadedStatCache } from './stat-cache.js';
import { KIND_BYTE } from './tree.js';
import { xxh128 } from './xxhash.js';

/** Entries scanned in the calling thread before any thread is started: a small context never starts one. */
const FIRST_BUDGET = 2000;

export interface ScanProgress {
  readonly files: number;
  readonly bytes: number;
}

/** Lists (and with `hash`, reads) everything below the context root. */
export async function scanContext(
  root: string, matcher: IgnoreMatcher,
  options: { hash: boolean; inline?: boolean | undefined; firstBudget?: number | undefined; onScanned?: (p: ScanProgress) => void },
): Promise<ScannedDirs[]> {
  const results: ScannedDirs[] = [];
  let files = 0;
  let bytes = 0;
  const take = (scanned: ScannedDirs) => {
    results.push(scanned);
    files += scanned.files;
    bytes += scanned.bytes;
    options.onScanned?.({ files, bytes });
  };
  const first = scanDirs({ root, dirs: [''], budget: options.inline ? Infinity : options.firstBudget ?? FIRST_BUDGET, hash: options.hash }, matcher);
  take(first);
  if (first.rest.length) {
    if (!poolIsRunning()) prestartPool();
    await scanOnPool(root, first.rest, matcher, options.hash, take);
  }
  return results;
}

/** Where each listed directory's children are: which result, and its first record. */
interface Block {
  readonly result: number;
  readonly first: number;
  readonly count: number;
}

/** Per scanned result, decoded once: names and symlink targets by record. */
interface Decoded {
  readonly names: string[];
  readonly links: (string | undefined)[];
}

function decodeResult(r: ScannedDirs): Decoded {
  const n = r.records.length / SCAN_WORDS;
  const names = n ? r.names.split('\0') : [];
  const targets = r.links === '' && !hasLinks(r) ? [] : r.links.split('\0');
  const links: (string | undefined)[] = new Array(n);
  for (let i = 0, t = 0; i < n; i++) links[i] = flagKind(r.records[i * SCAN_WORDS + W.flags]!) === ScanKind.Symlink ? targets[t++] : undefined;
  return { names, links };
}

function hasLinks(r: ScannedDirs): boolean {
  for (let i = 0; i < r.records.length; i += SCAN_WORDS) if (flagKind(r.records[i + W.flags]!) === ScanKind.Symlink) return true;
  return false;
}

export interface Assembled {
  readonly cache: LoadedStatCache;
  readonly out: Buffer;
  readonly at: CacheLayout;
  /** Files still to read: too big to share a task, or only lstat-ed. */
  readonly toHash: number[];
  /** Paths that stopped being files while read (looked at again). */
  readonly moved: string[];
  /** Files that could not be read, or kept changing. */
  readonly failures: { readonly path: string; readonly status: HashStatus }[];
  /** Sockets, FIFOs and devices left out. */
  readonly skipped: string[];
}

/**
 * Lays the scanned blocks out in walk order as stat cache columns. Every
 * kept entry gets a row; a provisional directory (ignored, walked for a `!`
 * exception) only when something below it is kept.
 */
export function assembleScan(rootStat: { mode: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, results: readonly ScannedDirs[], matcher: IgnoreMatcher, takenAtNs: bigint, patterns: string): Assembled {
  const blocks = new Map<string, Block>();
  const decoded = results.map(decodeResult);
  const recordBytes = results.map((r) => new Uint8Array(r.records.buffer, r.records.byteOffset, r.records.byteLength));
  results.forEach((r, result) => {
    const dirs = r.counts.length ? r.dirs.split('\0') : [];
    let first = 0;
    dirs.forEach((dir, i) => {
      const count = r.counts[i]!;
      blocks.set(dir, { result, first, count });
      first += count;
    });
  });
  const flagsOf = (b: Block, i: number) => results[b.result]!.records[(b.first + i) * SCAN_WORDS + W.flags]!;
  const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

  // A provisional directory stays only if something below it is kept.
  const keptMemo = new Map<string, boolean>();
  const kept = (dir: string): boolean => {
    let k = keptMemo.get(dir);
    if (k !== undefined) return k;
    k = false;
    const b = blocks.get(dir);
    for (let i = 0; b && i < b.count && !k; i++) {
      const f = flagsOf(b, i);
      if (flagKind(f) === ScanKind.Other) continue;
      if (!flagProvisional(f)) k = true;
      else if (flagKind(f) === ScanKind.Dir) k = kept(join(dir, decoded[b.result]!.names[b.first + i]!));
    }
    keptMemo.set(dir, k);
    return k;
  };

  // Walk order: which record each row is, its path, and its subtree end.
  const records = results.reduce((n, r) => n + r.records.length / SCAN_WORDS, 0);
  const rowResult = new Int32Array(records + 1).fill(-1);
  const rowRecord = new Int32Array(records + 1).fill(-1);
  const endsOf = new Uint32Array(records + 1);
  const paths: string[] = [''];
  const skipped: string[] = [];
  const stack: { dir: string; block: Block | undefined; next: number; row: number }[] = [{ dir: '', block: blocks.get(''), next: 0, row: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (!top.block || top.next >= top.block.count) {
      endsOf[top.row] = paths.length;
      stack.pop();
      continue;
    }
    const b = top.block;
    const i = top.next++;
    const f = flagsOf(b, i);
    const kind = flagKind(f);
    const p = join(top.dir, decoded[b.result]!.names[b.first + i]!);
    if (kind === ScanKind.Other) {
      skipped.push(p);
      continue;
    }
    if (kind === ScanKind.Dir && flagProvisional(f) && matcher.hasExclusions && !kept(p)) continue;
    const row = paths.length;
    rowResult[row] = b.result;
    rowRecord[row] = b.first + i;
    paths.push(p);
    endsOf[row] = row + 1;
    if (kind === ScanKind.Dir) stack.push({ dir: p, block: blocks.get(p), next: 0, row });
  }

  const count = paths.length;
  const joined = paths.join('\0') + '\0';
  // (Only a scan that met a name that is not UTF-8 can have an escaped byte to turn back.)
  const pathBlob = results.some((r) => r.escaped) ? Buffer.concat(paths.map((p) => Buffer.concat([encodeName(p), Buffer.of(0)]))) : Buffer.from(joined, 'utf8');
  const linkParts: Buffer[] = [];
  for (let row = 1; row < count; row++) {
    const link = decoded[rowResult[row]!]!.links[rowRecord[row]!];
    if (link !== undefined) linkParts.push(encodeName(link));
  }
  const linkBlob = Buffer.concat(linkParts);
  const { out, at } = newStatCache(count, pathBlob.length, linkBlob.length, takenAtNs, patterns);
  const w32 = new Uint32Array(out.buffer, out.byteOffset, at.end >>> 2);
  const u64 = (offset: number, row: number, lo: number, hi: number) => {
    const k = (offset >>> 2) + 2 * row;
    w32[k] = lo;
    w32[k + 1] = hi;
  };
  pathBlob.copy(out, at.paths);
  linkBlob.copy(out, at.links);

  const toHash: number[] = [];
  const moved: string[] = [];
  const failures: { path: string; status: HashStatus }[] = [];
  const firstOfInode = new Map<string, number>();
  let pathEnd = 0;
  let linkEnd = 0;
  // Row 0: the context root, from its own lstat.
  const root = { mode: rootStat.mode & 0o7777, mtime: rootStat.mtimeNs, ctime: rootStat.ctimeNs, ino: rootStat.ino };
  const split = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  u64(at.mtimes, 0, ...split(root.mtime));
  u64(at.ctimes, 0, ...split(root.ctime));
  u64(at.inos, 0, ...split(root.ino));
  w32[(at.modes >>> 2)] = root.mode;
  out[at.kinds] = KIND_CODES.indexOf('dir');
  for (let row = 0; row < count; row++) {
    pathEnd = pathBlob.indexOf(0, pathEnd) + 1;
    w32[(at.pathEnds >>> 2) + row] = pathEnd;
    w32[(at.ends >>> 2) + row] = endsOf[row]!;
    w32[(at.hardlinks >>> 2) + row] = NO_LINK;
    if (row === 0) {
      w32[(at.linkEnds >>> 2)] = 0;
      continue;
    }
    const words = results[rowResult[row]!]!.records;
    const r = rowRecord[row]! * SCAN_WORDS;
    const kind = flagKind(words[r + W.flags]!);
    const status = flagStatus(words[r + W.flags]!);
    u64(at.sizes, row, words[r + W.size]!, words[r + W.size + 1]!);
    u64(at.mtimes, row, words[r + W.mtime]!, words[r + W.mtime + 1]!);
    u64(at.ctimes, row, words[r + W.ctime]!, words[r + W.ctime + 1]!);
    u64(at.inos, row, words[r + W.ino]!, words[r + W.ino + 1]!);
    w32[(at.modes >>> 2) + row] = words[r + W.mode]!;
    out[at.kinds + row] = kind;
    const digestAt = at.digests + 16 * row;
    const from = recordBytes[rowResult[row]!]!;
    const fromAt = 4 * (r + W.digest);
    for (let j = 0; j < 16; j++) out[digestAt + j] = from[fromAt + j]!;
    if (kind === ScanKind.Symlink) {
      linkEnd += encodeName(decoded[rowResult[row]!]!.links[rowRecord[row]!]!).length;
    }
    w32[(at.linkEnds >>> 2) + row] = linkEnd;
    if (kind !== ScanKind.File) continue;
    if (status === HashStatus.NotHashed) toHash.push(row);
    else if (status === HashStatus.NotAFile) moved.push(paths[row]!);
    else if (status !== HashStatus.Ok) failures.push({ path: paths[row]!, status });
    if (words[r + W.nlink]! > 1) {
      const key = `${words[r + W.dev]}:${words[r + W.dev + 1]}:${words[r + W.ino]}:${words[r + W.ino + 1]}`;
      const firstRow = firstOfInode.get(key);
      if (firstRow === undefined) firstOfInode.set(key, row);
      else w32[(at.hardlinks >>> 2) + row] = firstRow;
    }
  }
  const cache: LoadedStatCache = { ...decodeStatCache(out.buffer as SharedArrayBuffer, true), paths };
  return { cache, out, at, toHash, moved, failures, skipped };
}

/** A file's digest and stat, written into its row once it has been read. */
export function setFileRow(a: Assembled, row: number, r: { digest: Buffer; size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint; mode: number }): void {
  const { cache } = a;
  cache.sizes[row] = r.size;
  cache.mtimes[row] = r.mtimeNs;
  cache.ctimes[row] = r.ctimeNs;
  cache.inos[row] = r.ino;
  cache.modes[row] = r.mode & 0o7777;
  cache.digests.set(r.digest.subarray(0, 16), 16 * row);
}

/** Digests every directory row over its children's rows (deepest first), then seals the cache. */
export function digestDirectories(a: Assembled): void {
  const { cache, out } = a;
  const pathStart = (i: number) => (i === 0 ? 0 : cache.pathEnds[i - 1]!);
  const dirCode = KIND_CODES.indexOf('dir');
  const kindBytes = KIND_CODES.map((k) => KIND_BYTE[k]);
  const { pathEnds, ends, kinds, modes, digests } = cache;
  const paths = a.at.paths;
  let record = Buffer.allocUnsafe(64 * 1024);
  for (let d = cache.count - 1; d >= 0; d--) {
    if (kinds[d] !== dirCode) continue;
    // A child's name is its path after the directory's path and a slash: the record is name, NUL, kind, mode, digest.
    const skip = d === 0 ? 0 : pathEnds[d]! - pathStart(d);
    let total = 0;
    for (let r = d + 1; r < ends[d]!; r = ends[r]!) total += pathEnds[r]! - 1 - pathStart(r) - skip + 22;
    if (total > record.length) record = Buffer.allocUnsafe(total * 2);
    let at = 0;
    for (let r = d + 1; r < ends[d]!; r = ends[r]!) {
      for (let i = paths + pathStart(r) + skip, end = paths + pathEnds[r]! - 1; i < end; i++) record[at++] = out[i]!;
      record[at++] = 0;
      record[at++] = kindBytes[kinds[r]!]!;
      const mode = modes[r]!;
      record[at++] = mode & 0xff;
      record[at++] = (mode >>> 8) & 0xff;
      record[at++] = (mode >>> 16) & 0xff;
      record[at++] = mode >>> 24;
      for (let i = 16 * r, end = i + 16; i < end; i++) record[at++] = digests[i]!;
    }
    digests.set(xxh128(record.subarray(0, total)), 16 * d);
  }
  sealStatCache(out, a.at);
}
