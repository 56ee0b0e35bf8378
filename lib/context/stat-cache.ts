/**
 * The persistent stat cache: for each regular file, the stat tuple
 * (size, mtime ns, ctime ns, inode, mode) under which its digest was
 * computed. A binary columnar file (loads in milliseconds where JSON takes
 * a hundred), checksummed, written to a temp file, fsynced and renamed into
 * place. A damaged or foreign file is discarded with a warning: it can cost
 * a re-read, never a wrong digest.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { xxh128 } from './xxhash.js';

const MAGIC = Buffer.from('STRATASC', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 32;
const PER_ENTRY_BYTES = 8 * 4 + 4 + 16;
/**
 * An entry whose mtime is this close to (or after) the moment the cache was
 * taken may have changed again within the same timestamp tick ("racily
 * clean", as git calls it): it is re-read next time. ext4 timestamps move in
 * jiffies, so 10 ms covers the kernel's coarse clock.
 */
export const RACY_MARGIN_NS = 10_000_000n;

export interface CachedStat {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly mode: number;
  readonly digest: Buffer;
}

export interface StatCache {
  /** Wall-clock time (ns) when the scan that produced this cache began. */
  readonly takenAtNs: bigint;
  readonly entries: ReadonlyMap<string, CachedStat>;
}

export type LoadResult = { cache: StatCache | undefined; warning: string | undefined };

/** Whether a cached stat may stand in for reading the file. */
export function isReusable(cached: CachedStat, takenAtNs: bigint, now: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, mode: number): boolean {
  return (
    cached.size === now.size &&
    cached.mtimeNs === now.mtimeNs &&
    cached.ctimeNs === now.ctimeNs &&
    cached.ino === now.ino &&
    cached.mode === mode &&
    cached.mtimeNs + RACY_MARGIN_NS < takenAtNs
  );
}

export function encodeStatCache(takenAtNs: bigint, entries: ReadonlyMap<string, CachedStat>): Buffer {
  const paths = Buffer.from([...entries.keys()].join('\0'), 'utf8');
  const count = entries.size;
  const body = Buffer.alloc(HEADER_BYTES + count * PER_ENTRY_BYTES + paths.length);
  MAGIC.copy(body, 0);
  body.writeUInt32LE(VERSION, 8);
  body.writeUInt32LE(count, 12);
  body.writeBigUInt64LE(takenAtNs, 16);
  body.writeUInt32LE(paths.length, 24);
  let at = HEADER_BYTES;
  const column = (write: (e: CachedStat) => void) => {
    for (const e of entries.values()) write(e);
  };
  column((e) => { body.writeBigUInt64LE(e.size, at); at += 8; });
  column((e) => { body.writeBigUInt64LE(e.mtimeNs, at); at += 8; });
  column((e) => { body.writeBigUInt64LE(e.ctimeNs, at); at += 8; });
  column((e) => { body.writeBigUInt64LE(e.ino, at); at += 8; });
  column((e) => { body.writeUInt32LE(e.mode, at); at += 4; });
  column((e) => { e.digest.copy(body, at, 0, 16); at += 16; });
  paths.copy(body, at);
  return Buffer.concat([body, xxh128(body)]);
}

export function decodeStatCache(data: Buffer): StatCache {
  if (data.length < HEADER_BYTES + 16) throw new Error('truncated');
  const body = data.subarray(0, data.length - 16);
  if (!data.subarray(data.length - 16).equals(xxh128(body))) throw new Error('checksum mismatch (damaged or truncated)');
  if (!body.subarray(0, 8).equals(MAGIC)) throw new Error('not a strata stat cache');
  const version = body.readUInt32LE(8);
  if (version !== VERSION) throw new Error(`version ${version}, expected ${VERSION}`);
  const count = body.readUInt32LE(12);
  const takenAtNs = body.readBigUInt64LE(16);
  const pathBytes = body.readUInt32LE(24);
  if (body.length !== HEADER_BYTES + count * PER_ENTRY_BYTES + pathBytes) throw new Error('length does not match its header');
  const paths = count === 0 ? [] : body.toString('utf8', HEADER_BYTES + count * PER_ENTRY_BYTES).split('\0');
  if (paths.length !== count) throw new Error('path table does not match its header');
  const col = (n: number) => HEADER_BYTES + n * count * 8;
  const modeAt = col(4);
  const digestAt = modeAt + count * 4;
  const entries = new Map<string, CachedStat>();
  for (let i = 0; i < count; i++) {
    entries.set(paths[i]!, {
      size: body.readBigUInt64LE(col(0) + i * 8),
      mtimeNs: body.readBigUInt64LE(col(1) + i * 8),
      ctimeNs: body.readBigUInt64LE(col(2) + i * 8),
      ino: body.readBigUInt64LE(col(3) + i * 8),
      mode: body.readUInt32LE(modeAt + i * 4),
      digest: Buffer.from(body.subarray(digestAt + i * 16, digestAt + i * 16 + 16)),
    });
  }
  return { takenAtNs, entries };
}

export function loadStatCache(file: string): LoadResult {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { cache: undefined, warning: undefined };
    return { cache: undefined, warning: `stat cache ${file} cannot be read (${(e as Error).message}); hashing every file` };
  }
  try {
    return { cache: decodeStatCache(data), warning: undefined };
  } catch (e) {
    return { cache: undefined, warning: `stat cache ${file} discarded: ${(e as Error).message}; hashing every file and writing a new one` };
  }
}

/** Writes atomically: a reader sees the old cache or the new one, never a mix. */
export function saveStatCache(file: string, takenAtNs: bigint, entries: ReadonlyMap<string, CachedStat>): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const data = encodeStatCache(takenAtNs, entries);
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
}
