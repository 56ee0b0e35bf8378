/**
 * A whole context, scanned straight into stat cache columns: the blocks of
 * directory listings the threads send back (in whatever order they finish)
 * are linked up by record number, not by path, and laid out in walk order
 * (parents first, children by name), with their stat, digests, subtree
 * ends and hard links; each path is written as bytes, its parent's path
 * and its own name; directory digests are computed over the columns. No
 * string or object per entry is made on the way: the tree is then read
 * from these columns lazily, as from a loaded cache.
 */
import { HashStatus } from './hash-record.js';
import type { IgnoreMatcher } from './ignore.js';
import { decodeName, encodeName } from './names.js';
import { poolIsRunning, prestartPool, scanOnPool, type TakeScan } from './pool.js';
import { flagDigested, flagKind, flagProvisional, flagStatus, nameStarts, SCAN_WORDS, ScanKind, scanDirs, W, type ScannedDirs } from './scan-core.js';
import { cachedPath, decodeStatCache, KIND_CODES, newStatCache, NO_LINK, sealStatCache, withLazyPaths, type CacheLayout, type LoadedStatCache } from './stat-cache.js';
import { KIND_BYTE } from './tree.js';
import { xxh128 } from './xxhash.js';

/** Entries scanned in the calling thread before any thread is started: a small context never starts one. */
const FIRST_BUDGET = 2000;

/** Where a directory was found: `result * ORIGIN_STRIDE + record` of the entry naming it, or the context root. */
const ORIGIN_STRIDE = 2 ** 32;
const ROOT_ORIGIN = -1;

export interface ScanProgress {
  readonly files: number;
  readonly bytes: number;
}

/** What the threads sent back, and, per result, the origin of each directory its task was given. */
export interface Scan {
  readonly results: readonly ScannedDirs[];
  readonly inputs: readonly (readonly number[])[];
}

/** Lists (and with `hash`, reads) everything below the context root. */
export async function scanContext(
  root: string, matcher: IgnoreMatcher,
  options: { hash: boolean; inline?: boolean | undefined; firstBudget?: number | undefined; onScanned?: (p: ScanProgress) => void },
): Promise<Scan> {
  const results: ScannedDirs[] = [];
  const inputs: (readonly number[])[] = [];
  let files = 0;
  let bytes = 0;
  const take: TakeScan = (scanned, given) => {
    const result = results.length;
    results.push(scanned);
    inputs.push(given);
    files += scanned.files;
    bytes += scanned.bytes;
    options.onScanned?.({ files, bytes });
    return Array.from(scanned.restParents, (p) => (p >= 0 ? result * ORIGIN_STRIDE + p : given[-p - 1]!));
  };
  const first = scanDirs({ root, dirs: [''], budget: options.inline ? Infinity : options.firstBudget ?? FIRST_BUDGET, hash: options.hash }, matcher);
  const origins = take(first, [ROOT_ORIGIN]);
  if (first.rest.length) {
    if (!poolIsRunning()) prestartPool();
    await scanOnPool(root, first.rest.map((dir, i) => ({ dir, origin: origins[i]! })), matcher, options.hash, take);
  }
  return { results, inputs };
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
  /** Directory rows whose digest a thread already made (their whole subtree was one task's). */
  readonly digested: Uint8Array;
}

/** Symlink targets by record (undefined for every other kind). */
function linksByRecord(r: ScannedDirs): (string | undefined)[] {
  const n = r.records.length / SCAN_WORDS;
  const targets = r.links.split('\0');
  const links: (string | undefined)[] = new Array(n);
  for (let i = 0, t = 0; i < n; i++) links[i] = flagKind(r.records[i * SCAN_WORDS + W.flags]!) === ScanKind.Symlink ? targets[t++] : undefined;
  return links;
}

/**
 * Lays the scanned blocks out in walk order as stat cache columns. Every
 * kept entry gets a row; a provisional directory (ignored, walked for a `!`
 * exception) only when something below it is kept.
 */
export function assembleScan(rootStat: { mode: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, scan: Scan, matcher: IgnoreMatcher, takenAtNs: bigint, patterns: string): Assembled {
  const { results, inputs } = scan;
  // Blocks (one per listed directory) across all results, and the block each directory record lists its children in.
  const blockCount = results.reduce((n, r) => n + r.counts.length, 0);
  const blockResult = new Int32Array(blockCount);
  const blockFirst = new Int32Array(blockCount);
  const blockLength = new Int32Array(blockCount);
  const childBlock = results.map((r) => new Int32Array(r.records.length / SCAN_WORDS).fill(-1));
  let rootBlock = -1;
  for (let result = 0, block = 0; result < results.length; result++) {
    const r = results[result]!;
    for (let b = 0, first = 0; b < r.counts.length; b++, block++) {
      blockResult[block] = result;
      blockFirst[block] = first;
      blockLength[block] = r.counts[b]!;
      first += r.counts[b]!;
      const parent = r.parents[b]!;
      const origin = parent >= 0 ? result * ORIGIN_STRIDE + parent : inputs[result]![-parent - 1]!;
      if (origin === ROOT_ORIGIN) rootBlock = block;
      else childBlock[Math.floor(origin / ORIGIN_STRIDE)]![origin % ORIGIN_STRIDE] = block;
    }
  }
  const flagsAt = (result: number, record: number) => results[result]!.records[record * SCAN_WORDS + W.flags]!;

  // A provisional directory stays only if something below it is kept.
  const keptMemo = new Int8Array(blockCount);
  const kept = (block: number): boolean => {
    if (block < 0) return false;
    if (keptMemo[block]) return keptMemo[block] === 1;
    let k = false;
    const result = blockResult[block]!;
    for (let record = blockFirst[block]!, end = record + blockLength[block]!; record < end && !k; record++) {
      const f = flagsAt(result, record);
      if (flagKind(f) === ScanKind.Other) continue;
      if (!flagProvisional(f)) k = true;
      else if (flagKind(f) === ScanKind.Dir) k = kept(childBlock[result]![record]!);
    }
    keptMemo[block] = k ? 1 : 2;
    return k;
  };

  // Walk order: which record each row is, its parent row, its path's length in bytes, and its subtree end.
  const starts = results.map((r) => nameStarts(r.names, r.records.length / SCAN_WORDS));
  const recordBytes = results.map((r) => new Uint8Array(r.records.buffer, r.records.byteOffset, r.records.byteLength));
  const records = results.reduce((n, r) => n + r.records.length / SCAN_WORDS, 0);
  const rowResult = new Int32Array(records + 1).fill(-1);
  const rowRecord = new Int32Array(records + 1).fill(-1);
  const rowParent = new Int32Array(records + 1);
  const pathLength = new Uint32Array(records + 1);
  const endsOf = new Uint32Array(records + 1);
  const others: { parent: number; result: number; record: number }[] = [];
  let count = 1;
  const stackBlock = [rootBlock];
  const stackNext = [0];
  const stackRow = [0];
  while (stackBlock.length) {
    const top = stackBlock.length - 1;
    const block = stackBlock[top]!;
    if (block < 0 || stackNext[top]! >= blockLength[block]!) {
      endsOf[stackRow[top]!] = count;
      stackBlock.pop();
      stackNext.pop();
      stackRow.pop();
      continue;
    }
    const result = blockResult[block]!;
    const record = blockFirst[block]! + stackNext[top]!++;
    const f = flagsAt(result, record);
    const kind = flagKind(f);
    const parent = stackRow[top]!;
    if (kind === ScanKind.Other) {
      others.push({ parent, result, record });
      continue;
    }
    if (kind === ScanKind.Dir && flagProvisional(f) && matcher.hasExclusions && !kept(childBlock[result]![record]!)) continue;
    const row = count++;
    rowResult[row] = result;
    rowRecord[row] = record;
    rowParent[row] = parent;
    const nameLength = starts[result]![record + 1]! - starts[result]![record]! - 1;
    pathLength[row] = parent === 0 ? nameLength : pathLength[parent]! + 1 + nameLength;
    endsOf[row] = row + 1;
    if (kind === ScanKind.Dir) {
      stackBlock.push(childBlock[result]![record]!);
      stackNext.push(0);
      stackRow.push(row);
    }
  }

  let pathBytes = 0;
  for (let row = 0; row < count; row++) pathBytes += pathLength[row]! + 1;
  const links = results.map((r) => (r.links === '' ? undefined : linksByRecord(r)));
  const linkParts: Buffer[] = [];
  for (let row = 1; row < count; row++) {
    const link = links[rowResult[row]!]?.[rowRecord[row]!];
    if (link !== undefined) linkParts.push(encodeName(link));
  }
  const linkBlob = Buffer.concat(linkParts);
  const { out, at } = newStatCache(count, pathBytes, linkBlob.length, takenAtNs, patterns);
  const w32 = new Uint32Array(out.buffer, out.byteOffset, at.end >>> 2);
  const u64 = (offset: number, row: number, lo: number, hi: number) => {
    const k = (offset >>> 2) + 2 * row;
    w32[k] = lo;
    w32[k + 1] = hi;
  };
  linkBlob.copy(out, at.links);

  const toHash: number[] = [];
  const digested = new Uint8Array(count);
  const moved: number[] = [];
  const failures: { row: number; status: HashStatus }[] = [];
  const firstOfInode = new Map<string, number>();
  // Row 0: the context root, from its own lstat; its path is empty.
  const split = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  u64(at.mtimes, 0, ...split(rootStat.mtimeNs));
  u64(at.ctimes, 0, ...split(rootStat.ctimeNs));
  u64(at.inos, 0, ...split(rootStat.ino));
  w32[(at.modes >>> 2)] = rootStat.mode & 0o7777;
  out[at.kinds] = KIND_CODES.indexOf('dir');
  out[at.paths] = 0;
  w32[(at.pathEnds >>> 2)] = 1;
  w32[(at.ends >>> 2)] = endsOf[0]!;
  w32[(at.hardlinks >>> 2)] = NO_LINK;
  w32[(at.linkEnds >>> 2)] = 0;
  let pathEnd = 1;
  let linkEnd = 0;
  let linkIndex = 0;
  for (let row = 1; row < count; row++) {
    const result = rowResult[row]!;
    const words = results[result]!.records;
    const record = rowRecord[row]!;
    const r = record * SCAN_WORDS;
    // The path: the parent's (already written), a slash, the name.
    const parent = rowParent[row]!;
    let p = at.paths + pathEnd;
    if (parent !== 0) {
      // (A loop: most paths are short, and a native copy per row costs more than it moves.)
      for (let i = at.paths + w32[(at.pathEnds >>> 2) + parent - 1]!, end = i + pathLength[parent]!; i < end; i++) out[p++] = out[i]!;
      out[p++] = 0x2f;
    }
    const names = results[result]!.names;
    for (let i = starts[result]![record]!; names[i] !== 0; i++) out[p++] = names[i]!;
    out[p++] = 0;
    pathEnd = p - at.paths;
    w32[(at.pathEnds >>> 2) + row] = pathEnd;
    w32[(at.ends >>> 2) + row] = endsOf[row]!;
    w32[(at.hardlinks >>> 2) + row] = NO_LINK;
    const kind = flagKind(words[r + W.flags]!);
    const status = flagStatus(words[r + W.flags]!);
    u64(at.sizes, row, words[r + W.size]!, words[r + W.size + 1]!);
    u64(at.mtimes, row, words[r + W.mtime]!, words[r + W.mtime + 1]!);
    u64(at.ctimes, row, words[r + W.ctime]!, words[r + W.ctime + 1]!);
    u64(at.inos, row, words[r + W.ino]!, words[r + W.ino + 1]!);
    w32[(at.modes >>> 2) + row] = words[r + W.mode]!;
    out[at.kinds + row] = kind;
    if (kind === ScanKind.Dir && flagDigested(words[r + W.flags]!)) digested[row] = 1;
    // (The digest column is byte-aligned only.)
    const from = recordBytes[result]!;
    for (let i = 4 * (r + W.digest), d = at.digests + 16 * row, end = i + 16; i < end; i++) out[d++] = from[i]!;
    // (Symlink rows meet their targets in the order linkParts holds them.)
    if (kind === ScanKind.Symlink) linkEnd += linkParts[linkIndex++]!.length;
    w32[(at.linkEnds >>> 2) + row] = linkEnd;
    if (kind !== ScanKind.File) continue;
    if (status === HashStatus.NotHashed) toHash.push(row);
    else if (status === HashStatus.NotAFile) moved.push(row);
    else if (status !== HashStatus.Ok) failures.push({ row, status });
    if (words[r + W.nlink]! > 1) {
      const key = `${words[r + W.dev]}:${words[r + W.dev + 1]}:${words[r + W.ino]}:${words[r + W.ino + 1]}`;
      const firstRow = firstOfInode.get(key);
      if (firstRow === undefined) firstOfInode.set(key, row);
      else w32[(at.hardlinks >>> 2) + row] = firstRow;
    }
  }
  const cache = withLazyPaths(decodeStatCache(out.buffer as SharedArrayBuffer, true));
  const pathOf = (row: number) => cachedPath(cache, row);
  const skipped = others.map(({ parent, result, record }) => {
    const name = decodeName(results[result]!.names.subarray(starts[result]![record]!, starts[result]![record + 1]! - 1));
    return parent === 0 ? name : `${pathOf(parent)}/${name}`;
  });
  return {
    cache, out, at, toHash, skipped, digested,
    moved: moved.map(pathOf),
    failures: failures.map(({ row, status }) => ({ path: pathOf(row), status })),
  };
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

/** Digests every directory row a thread did not over its children's rows (deepest first), then seals the cache. */
export function digestDirectories(a: Assembled): void {
  const { cache, out } = a;
  const pathStart = (i: number) => (i === 0 ? 0 : cache.pathEnds[i - 1]!);
  const dirCode = KIND_CODES.indexOf('dir');
  const kindBytes = KIND_CODES.map((k) => KIND_BYTE[k]);
  const { pathEnds, ends, kinds, modes, digests } = cache;
  const paths = a.at.paths;
  let record = Buffer.allocUnsafe(64 * 1024);
  for (let d = cache.count - 1; d >= 0; d--) {
    if (kinds[d] !== dirCode || a.digested[d]) continue;
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
