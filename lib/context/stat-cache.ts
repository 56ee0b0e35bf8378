/**
 * The persistent stat cache: every entry of the context as it was last
 * hashed (kind, mode, size, mtime ns, ctime ns, inode, digest, symlink
 * target), in walk order, as a binary columnar file. It loads in
 * milliseconds, and a warm run rebuilds the tree from it and only lstats
 * what it lists (directories whose mtime moved are listed again), split
 * across the worker threads, which read the very same bytes through a
 * SharedArrayBuffer. The file is checksummed and written to a temp file,
 * fsynced and renamed into place; a damaged, truncated or foreign one is
 * discarded with a warning: it can cost a re-read, never a wrong digest.
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { decodeName, encodeName, nameByteLength } from './names.js';
import { xxh128 } from './xxhash.js';

const MAGIC = Buffer.from('STRATASC', 'latin1');
export const STAT_CACHE_VERSION = 3;
const HEADER_BYTES = 64;
export const NO_LINK = 0xffffffff;

/**
 * An entry whose mtime is this close to (or after) the moment the cache was
 * taken may have changed again within the same timestamp tick ("racily
 * clean", as git calls it): it is re-read next time. ext4 timestamps move in
 * jiffies, so 10 ms covers the kernel's coarse clock.
 */
export const RACY_MARGIN_NS = 10_000_000n;

export const KIND_CODES = ['file', 'dir', 'symlink', 'other'] as const;
export type CachedKind = (typeof KIND_CODES)[number];

export interface CacheRow {
  readonly path: string;
  readonly kind: CachedKind;
  readonly mode: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly digest: Buffer;
  readonly link: string | undefined;
  /** The path this file is a hard link to, if any. */
  readonly hardlinkOf: string | undefined;
}

/** Column views over one cache file's bytes (shared with the worker threads). */
export interface StatCache {
  readonly bytes: SharedArrayBuffer;
  readonly count: number;
  readonly takenAtNs: bigint;
  /** XXH128 (hex) of the ignore patterns the cache was made with. */
  readonly patternsKey: string;
  readonly sizes: BigUint64Array;
  readonly mtimes: BigUint64Array;
  readonly ctimes: BigUint64Array;
  readonly inos: BigUint64Array;
  readonly modes: Uint32Array;
  readonly pathEnds: Uint32Array;
  readonly linkEnds: Uint32Array;
  readonly hardlinks: Uint32Array;
  /**
   * Row after each row's subtree (rows are in walk order, so a directory's
   * subtree is the range that follows it): children are found without
   * reading every path, and a tree restores one directory at a time.
   */
  readonly ends: Uint32Array;
  readonly kinds: Uint8Array;
  readonly digests: Uint8Array;
  readonly pathBytes: Uint8Array;
  readonly linkBytes: Uint8Array;
}

/** A cache as the coordinator holds it: columns plus every path decoded. */
export interface LoadedStatCache extends StatCache {
  readonly paths: readonly string[];
}

export type LoadResult = { cache: LoadedStatCache | undefined; warning: string | undefined };

export function patternsKey(patterns: readonly string[]): string {
  return xxh128(Buffer.from(patterns.join('\n'), 'utf8')).toString('hex');
}

export type CacheLayout = ReturnType<typeof layout>;

function layout(count: number, pathLen: number, linkLen: number) {
  const sizes = HEADER_BYTES;
  const mtimes = sizes + 8 * count;
  const ctimes = mtimes + 8 * count;
  const inos = ctimes + 8 * count;
  const modes = inos + 8 * count;
  const pathEnds = modes + 4 * count;
  const linkEnds = pathEnds + 4 * count;
  const hardlinks = linkEnds + 4 * count;
  const ends = hardlinks + 4 * count;
  const kinds = ends + 4 * count;
  const digests = kinds + count;
  const paths = digests + 16 * count;
  const links = paths + pathLen;
  const end = links + linkLen;
  return { sizes, mtimes, ctimes, inos, modes, pathEnds, linkEnds, hardlinks, ends, kinds, digests, paths, links, end };
}

/**
 * What a new cache is written from, in walk order: rows made from entries,
 * and whole subtrees copied column by column from the cache that was loaded
 * (what nobody looked at cannot have changed), so that persisting after a
 * one-file edit does not turn 100,000 rows into objects and back.
 */
export type CacheSegment =
  | { readonly row: CacheRow }
  /** Row `start` of `from` and its whole subtree, unchanged. */
  | { readonly from: LoadedStatCache; readonly start: number };

function depthOf(p: string): number {
  return p === '' ? 0 : p.split('/').length;
}

/**
 * A zeroed cache of `count` rows with its header written, in shared memory
 * (the worker threads read it as it is). Columns are aligned: the buffer is
 * its own, and every column before the byte-sized ones is 8- or 4-wide.
 */
export function newStatCache(count: number, pathLen: number, linkLen: number, takenAtNs: bigint, patterns: string): { out: Buffer; at: CacheLayout } {
  const at = layout(count, pathLen, linkLen);
  const out = Buffer.from(new SharedArrayBuffer(at.end + 16));
  MAGIC.copy(out, 0);
  out.writeUInt32LE(STAT_CACHE_VERSION, 8);
  out.writeUInt32LE(count, 12);
  out.writeBigUInt64LE(takenAtNs, 16);
  out.writeUInt32LE(pathLen, 24);
  out.writeUInt32LE(linkLen, 28);
  Buffer.from(patterns, 'hex').copy(out, 32);
  return { out, at };
}

/** Writes the checksum that loadStatCache verifies: call once every column is final. */
export function sealStatCache(out: Buffer, at: CacheLayout): void {
  xxh128(out.subarray(0, at.end)).copy(out, at.end);
}

export function encodeStatCache(takenAtNs: bigint, patterns: string, segments: readonly CacheSegment[]): Buffer {
  let count = 0;
  let pathLen = 0;
  let linkLen = 0;
  let hardlinked = false;
  const before = (ends: Uint32Array, i: number) => (i === 0 ? 0 : ends[i - 1]!);
  for (const s of segments) {
    if ('row' in s) {
      count++;
      pathLen += nameByteLength(s.row.path) + 1;
      linkLen += s.row.link === undefined ? 0 : nameByteLength(s.row.link);
      hardlinked ||= s.row.hardlinkOf !== undefined;
    } else {
      const { from, start } = s;
      const end = from.ends[start]!;
      count += end - start;
      pathLen += from.pathEnds[end - 1]! - before(from.pathEnds, start);
      linkLen += from.linkEnds[end - 1]! - before(from.linkEnds, start);
      hardlinked ||= from.hardlinks.subarray(start, end).some((h) => h !== NO_LINK);
    }
  }
  const { out, at } = newStatCache(count, pathLen, linkLen, takenAtNs, patterns);
  const u64 = (offset: number) => new BigUint64Array(out.buffer, out.byteOffset + offset, count);
  const u32 = (offset: number) => new Uint32Array(out.buffer, out.byteOffset + offset, count);
  const [sizes, mtimes, ctimes, inos] = [u64(at.sizes), u64(at.mtimes), u64(at.ctimes), u64(at.inos)];
  const [modes, pathEnds, linkEnds, hardlinks, ends] = [u32(at.modes), u32(at.pathEnds), u32(at.linkEnds), u32(at.hardlinks), u32(at.ends)];
  // Hard links name their target by path until every row has its place.
  const rowOfPath = hardlinked ? new Map<string, number>() : undefined;
  const linkTargets: [number, string][] = [];
  const open: { row: number; depth: number }[] = [];
  let row = 0;
  let pathOff = 0;
  let linkOff = 0;
  const closeTo = (depth: number) => {
    while (open.length && open[open.length - 1]!.depth >= depth) ends[open.pop()!.row] = row;
  };
  for (const s of segments) {
    if ('row' in s) {
      const r = s.row;
      const depth = depthOf(r.path);
      closeTo(depth);
      sizes[row] = r.size;
      mtimes[row] = r.mtimeNs;
      ctimes[row] = r.ctimeNs;
      inos[row] = r.ino;
      modes[row] = r.mode;
      out[at.kinds + row] = KIND_CODES.indexOf(r.kind);
      r.digest.copy(out, at.digests + 16 * row, 0, 16);
      // Each path ends in NUL, so any range of rows decodes with one split.
      pathOff += encodeName(r.path).copy(out, at.paths + pathOff);
      out[at.paths + pathOff++] = 0;
      pathEnds[row] = pathOff;
      if (r.link !== undefined) linkOff += encodeName(r.link).copy(out, at.links + linkOff);
      linkEnds[row] = linkOff;
      hardlinks[row] = NO_LINK;
      if (r.hardlinkOf !== undefined) linkTargets.push([row, r.hardlinkOf]);
      rowOfPath?.set(r.path, row);
      open.push({ row, depth });
      row++;
    } else {
      const { from, start } = s;
      const end = from.ends[start]!;
      closeTo(depthOf(from.paths[start]!));
      sizes.set(from.sizes.subarray(start, end), row);
      mtimes.set(from.mtimes.subarray(start, end), row);
      ctimes.set(from.ctimes.subarray(start, end), row);
      inos.set(from.inos.subarray(start, end), row);
      modes.set(from.modes.subarray(start, end), row);
      out.set(from.kinds.subarray(start, end), at.kinds + row);
      out.set(from.digests.subarray(16 * start, 16 * end), at.digests + 16 * row);
      const p0 = before(from.pathEnds, start);
      const l0 = before(from.linkEnds, start);
      out.set(from.pathBytes.subarray(p0, from.pathEnds[end - 1]!), at.paths + pathOff);
      out.set(from.linkBytes.subarray(l0, from.linkEnds[end - 1]!), at.links + linkOff);
      for (let i = start; i < end; i++, row++) {
        pathEnds[row] = from.pathEnds[i]! - p0 + pathOff;
        linkEnds[row] = from.linkEnds[i]! - l0 + linkOff;
        ends[row] = from.ends[i]! - i + row;
        hardlinks[row] = NO_LINK;
        const h = from.hardlinks[i]!;
        if (h !== NO_LINK) linkTargets.push([row, from.paths[h]!]);
        rowOfPath?.set(from.paths[i]!, row);
      }
      pathOff = pathEnds[row - 1]!;
      linkOff = linkEnds[row - 1]!;
    }
  }
  closeTo(-1);
  for (const [r, target] of linkTargets) hardlinks[r] = rowOfPath!.get(target) ?? NO_LINK;
  sealStatCache(out, at);
  return out;
}

/** Column views over verified cache bytes; throws with the reason when they are not a valid cache. */
export function decodeStatCache(bytes: SharedArrayBuffer, verified = false): StatCache {
  const buf = Buffer.from(bytes);
  if (buf.length < HEADER_BYTES + 16) throw new Error('truncated');
  if (!verified && !buf.subarray(buf.length - 16).equals(xxh128(buf.subarray(0, buf.length - 16)))) {
    throw new Error('checksum mismatch (damaged or truncated)');
  }
  if (!buf.subarray(0, 8).equals(MAGIC)) throw new Error('not a strata stat cache');
  const version = buf.readUInt32LE(8);
  if (version !== STAT_CACHE_VERSION) throw new Error(`version ${version}, expected ${STAT_CACHE_VERSION}`);
  const count = buf.readUInt32LE(12);
  const at = layout(count, buf.readUInt32LE(24), buf.readUInt32LE(28));
  if (at.end + 16 !== buf.length) throw new Error('length does not match its header');
  const cache: StatCache = {
    bytes,
    count,
    takenAtNs: buf.readBigUInt64LE(16),
    patternsKey: buf.subarray(32, 48).toString('hex'),
    sizes: new BigUint64Array(bytes, at.sizes, count),
    mtimes: new BigUint64Array(bytes, at.mtimes, count),
    ctimes: new BigUint64Array(bytes, at.ctimes, count),
    inos: new BigUint64Array(bytes, at.inos, count),
    modes: new Uint32Array(bytes, at.modes, count),
    pathEnds: new Uint32Array(bytes, at.pathEnds, count),
    linkEnds: new Uint32Array(bytes, at.linkEnds, count),
    hardlinks: new Uint32Array(bytes, at.hardlinks, count),
    ends: new Uint32Array(bytes, at.ends, count),
    kinds: new Uint8Array(bytes, at.kinds, count),
    digests: new Uint8Array(bytes, at.digests, 16 * count),
    pathBytes: new Uint8Array(bytes, at.paths, at.links - at.paths),
    linkBytes: new Uint8Array(bytes, at.links, at.end - at.links),
  };
  if (count > 0 && (cache.pathEnds[count - 1] !== cache.pathBytes.length || cache.linkEnds[count - 1] !== cache.linkBytes.length)) {
    throw new Error('string tables do not match their header');
  }
  if (!verified) checkNesting(cache);
  return cache;
}

/** Subtree ranges must nest, or a restore could loop or lose rows. */
function checkNesting(cache: StatCache): void {
  const { ends, kinds, count } = cache;
  const open: number[] = [];
  for (let i = 0; i < count; i++) {
    while (open.length && ends[open[open.length - 1]!]! <= i) open.pop();
    const end = ends[i]!;
    const outer = open.length ? ends[open[open.length - 1]!]! : count;
    if (end <= i || end > outer || (i === 0 ? end !== count : false) || (KIND_CODES[kinds[i]!] !== 'dir' && end !== i + 1)) {
      throw new Error('rows do not form a tree');
    }
    if (i > 0 && open.length === 0) throw new Error('rows do not form a tree');
    open.push(i);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Paths of rows [from, to) when every one is valid UTF-8 (so none holds an escaped byte: see names.ts), else undefined. */
export function cachedUtf8Paths(cache: StatCache, from = 0, to = cache.count): string[] | undefined {
  if (from >= to) return [];
  const start = from === 0 ? 0 : cache.pathEnds[from - 1]!;
  try {
    const parts = strictUtf8.decode(cache.pathBytes.subarray(start, cache.pathEnds[to - 1]!)).split('\0');
    parts.pop();
    if (parts.length !== to - from) throw new Error('path table does not match its row count');
    return parts;
  } catch (e) {
    if (e instanceof TypeError) return undefined; // not UTF-8
    throw e;
  }
}

/** Paths of rows [from, to), decoded in one go (path by path when one of them is not UTF-8; see names.ts). */
export function cachedPaths(cache: StatCache, from = 0, to = cache.count): string[] {
  const plain = cachedUtf8Paths(cache, from, to);
  if (plain) return plain;
  const parts: string[] = [];
  for (let i = from; i < to; i++) parts.push(decodeName(cache.pathBytes.subarray(i === 0 ? 0 : cache.pathEnds[i - 1]!, cache.pathEnds[i]! - 1)));
  return parts;
}

export function cachedLink(cache: StatCache, i: number): string | undefined {
  if (KIND_CODES[cache.kinds[i]!] !== 'symlink') return undefined;
  const start = i === 0 ? 0 : cache.linkEnds[i - 1]!;
  return decodeName(cache.linkBytes.slice(start, cache.linkEnds[i]!));
}

/** A view into the cache's bytes, not a copy: 100,000 entries restore without 200,000 allocations (the bytes are never written). */
export function cachedDigest(cache: StatCache, i: number): Buffer {
  return Buffer.from(cache.digests.buffer, cache.digests.byteOffset + 16 * i, 16);
}

export function cachedHardlink(cache: StatCache, i: number): number | undefined {
  const v = cache.hardlinks[i]!;
  return v === NO_LINK ? undefined : v;
}

/** Whether row i may stand in for reading a file with this stat. */
export function isReusable(cache: StatCache, i: number, now: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, mode: number): boolean {
  return (
    KIND_CODES[cache.kinds[i]!] === 'file' &&
    cache.sizes[i] === now.size &&
    cache.mtimes[i] === now.mtimeNs &&
    cache.ctimes[i] === now.ctimeNs &&
    cache.inos[i] === now.ino &&
    cache.modes[i] === mode &&
    now.mtimeNs + RACY_MARGIN_NS < cache.takenAtNs
  );
}

/** The whole file in shared memory (the worker threads read it as it is). */
function readShared(fd: number): SharedArrayBuffer {
  const size = fstatSync(fd).size;
  const bytes = new SharedArrayBuffer(size);
  const view = new Uint8Array(bytes);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, view, off, size - off, off);
    if (n === 0) throw new Error('truncated while being read');
    off += n;
  }
  return bytes;
}

export function loadStatCache(file: string): LoadResult {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { cache: undefined, warning: undefined };
    return { cache: undefined, warning: `stat cache ${file} cannot be read (${(e as Error).message}); hashing every file` };
  }
  try {
    // A no-change check never needs the paths here (the threads decode their own rows).
    return { cache: withLazyPaths(decodeStatCache(readShared(fd))), warning: undefined };
  } catch (e) {
    return { cache: undefined, warning: `stat cache ${file} discarded: ${(e as Error).message}; hashing every file and writing a new one` };
  } finally {
    closeSync(fd);
  }
}

/** Size, mtime and inode of a cache file (bigint stats): a file rewritten in between is not the one that was read. */
export function fileIdentity(st: { size: bigint; mtimeNs: bigint; ino: bigint }): string {
  return `${st.size}:${st.mtimeNs}:${st.ino}`;
}

/**
 * The cache at `file` if it is the one named `id` (statCacheId), with the
 * file's identity; else undefined. Its checksum is not computed again: the
 * file ends with the one it was written with, and that is the id, taken
 * from a cache that was verified or written whole.
 */
export function loadStatCacheNamed(file: string, id: string): { cache: StatCache; identity: string } | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const identity = fileIdentity(fstatSync(fd, { bigint: true }));
    const bytes = readShared(fd);
    return bytes.byteLength > 16 && statCacheId({ bytes }) === id ? { cache: decodeStatCache(bytes, true), identity } : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * What names one cache's content: the checksum its file ends with (hex).
 * Two files with the same one describe the same entries at the same moment.
 */
export function statCacheId(cache: Pick<StatCache, 'bytes'>): string {
  return Buffer.from(cache.bytes, cache.bytes.byteLength - 16, 16).toString('hex');
}

/** The cache with its paths decoded when first asked for, all at once. */
export function withLazyPaths(cache: StatCache): LoadedStatCache {
  let paths: string[] | undefined;
  return { ...cache, get paths() { return (paths ??= cachedPaths(cache)); } };
}

/** The path of one row (without decoding the others). */
export function cachedPath(cache: StatCache, row: number): string {
  return cachedPaths(cache, row, row + 1)[0]!;
}

/** Writes atomically: a reader sees the old cache or the new one, never a mix. Returns the cache's id (statCacheId). */
export function saveStatCache(file: string, data: Buffer): string {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return data.subarray(data.length - 16).toString('hex');
}
