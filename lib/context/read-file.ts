/**
 * Hashing files the fast way measured here: open, fstat the same fd, read
 * into one reused buffer, XXH128 (streamed when the file outgrows the
 * buffer), fstat again. A file whose size or mtime moved while it was read
 * is read again; one that keeps moving is reported, never hashed half-way.
 * Runs in the worker threads and, for small contexts, in-process.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { HashStatus, RECORD_BYTES, writeRecord, type HashRecord } from './hash-record.js';
import { fsPath } from './names.js';
import { RACY_MARGIN_NS } from './stat-cache.js';
import { xxh128, xxh128Stream } from './xxhash.js';

const BUFFER_BYTES = 1024 * 1024;
const ATTEMPTS = 3;
const EMPTY = Buffer.alloc(16);
let buffer: Buffer | undefined;

function failed(status: HashStatus): HashRecord {
  return { digest: EMPTY, size: 0n, mtimeNs: 0n, ctimeNs: 0n, ino: 0n, mode: 0, status };
}

function hashOpen(fd: number, buf: Buffer): { digest: Buffer; bytes: number } {
  let n = readSync(fd, buf, 0, buf.length, null);
  if (n < buf.length) return { digest: xxh128(buf.subarray(0, n)), bytes: n };
  const stream = xxh128Stream();
  let total = 0;
  while (n > 0) {
    stream.update(buf.subarray(0, n));
    total += n;
    n = readSync(fd, buf, 0, buf.length, null);
  }
  return { digest: stream.digest(), bytes: total };
}

/** The careful way: fstat before and after the read on the same descriptor, up to three attempts. */
export function hashOneFile(file: string | Buffer): HashRecord {
  buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let fd: number;
    try {
      // (O_NONBLOCK: a FIFO put in the file's place must not hang the open; for a regular file it changes nothing.)
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return failed(HashStatus.Vanished);
      if (code === 'ELOOP' || code === 'ENXIO') return failed(HashStatus.NotAFile);
      return failed(HashStatus.Unreadable);
    }
    try {
      const before = fstatSync(fd, { bigint: true });
      if (!before.isFile()) return failed(HashStatus.NotAFile);
      const { digest, bytes } = hashOpen(fd, buffer);
      const after = fstatSync(fd, { bigint: true });
      if (after.size === before.size && after.mtimeNs === before.mtimeNs && BigInt(bytes) === after.size) {
        return { digest, size: after.size, mtimeNs: after.mtimeNs, ctimeNs: after.ctimeNs, ino: after.ino, mode: Number(after.mode), status: HashStatus.Ok };
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') return failed(HashStatus.NotAFile);
      return failed(HashStatus.Unreadable);
    } finally {
      closeSync(fd);
    }
  }
  return failed(HashStatus.Unstable);
}

/** Hashes `\0`-joined paths under root; returns the packed records. */
export function hashFileBatch(root: string, joinedPaths: string): ArrayBuffer {
  const paths = joinedPaths.split('\0');
  const out = new ArrayBuffer(paths.length * RECORD_BYTES);
  const view = new DataView(out);
  const bytes = new Uint8Array(out);
  paths.forEach((p, i) => writeRecord(view, bytes, i, hashOneFile(fsPath(path.join(root, p)))));
  return out;
}

/** Files at least this big are left to a task of their own, so that several spread over the threads. */
export const BIG_FILE_BYTES = BUFFER_BYTES;

/**
 * Where a walked file's result goes: the scan's packed record (see
 * scan-core.ts), written in place, with no object per file.
 */
export interface RecordSlot {
  readonly view: DataView;
  readonly bytes: Uint8Array;
  /** The record's byte offset (the slot moves from record to record). */
  at: number;
  /** Byte offsets of the fields inside a record. */
  readonly offsets: { readonly mode: number; readonly size: number; readonly mtime: number; readonly ctime: number; readonly ino: number; readonly dev: number; readonly nlink: number; readonly digest: number };
}

function putStat(slot: RecordSlot, st: BigIntStats, digest: Uint8Array | undefined): void {
  const { view, at, offsets: o } = slot;
  view.setUint32(at + o.mode, Number(st.mode & 0o7777n), true);
  view.setBigUint64(at + o.size, st.size, true);
  view.setBigUint64(at + o.mtime, st.mtimeNs, true);
  view.setBigUint64(at + o.ctime, st.ctimeNs, true);
  view.setBigUint64(at + o.ino, st.ino, true);
  view.setBigUint64(at + o.dev, st.dev, true);
  view.setUint32(at + o.nlink, Number(st.nlink), true);
  if (digest) slot.bytes.set(digest.subarray(0, 16), at + o.digest);
}

/**
 * Hashes a file the walk found listed as one, with no lstat before: open,
 * read, fstat the same descriptor, and writes digest and stat into `slot`.
 * The read is trusted when the fstat shows a regular file of exactly the
 * bytes read, last modified safely before `listedAtNs` (taken before the
 * open): a write during the read would have moved the mtime past it.
 * Anything else goes the careful way (fstat before and after, up to three
 * attempts). A file that fills the first buffer is left NotHashed (with its
 * stat) for a task of its own.
 */
export function hashWalkedFile(file: string | Buffer, listedAtNs: bigint, slot: RecordSlot): HashStatus {
  buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return HashStatus.Vanished;
    return code === 'ELOOP' ? HashStatus.NotAFile : HashStatus.Unreadable;
  }
  let st: BigIntStats;
  let n: number;
  try {
    n = readSync(fd, buffer, 0, buffer.length, null);
    st = fstatSync(fd, { bigint: true });
  } catch (e) {
    // A directory, FIFO or socket put in the file's place since the listing: the caller looks again.
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EISDIR' || code === 'EAGAIN' || code === 'ENXIO' ? HashStatus.NotAFile : HashStatus.Unreadable;
  } finally {
    closeSync(fd);
  }
  if (!st.isFile()) return HashStatus.NotAFile;
  if (n === buffer.length) {
    putStat(slot, st, undefined);
    return HashStatus.NotHashed;
  }
  if (BigInt(n) === st.size && st.mtimeNs + RACY_MARGIN_NS < listedAtNs) {
    putStat(slot, st, xxh128(buffer.subarray(0, n)));
    return HashStatus.Ok;
  }
  const careful = hashOneFile(file);
  if (careful.status !== HashStatus.Ok) return careful.status;
  putStat(slot, st, careful.digest);
  // The careful read's own stat is the one its digest belongs to.
  const { view, at, offsets: o } = slot;
  view.setUint32(at + o.mode, careful.mode & 0o7777, true);
  view.setBigUint64(at + o.size, careful.size, true);
  view.setBigUint64(at + o.mtime, careful.mtimeNs, true);
  view.setBigUint64(at + o.ctime, careful.ctimeNs, true);
  view.setBigUint64(at + o.ino, careful.ino, true);
  return HashStatus.Ok;
}

/** Reads every byte of the files without hashing: the read floor of `strata hash --bench`. */
export function readFileBatch(root: string, joinedPaths: string): number {
  buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
  let total = 0;
  for (const p of joinedPaths === '' ? [] : joinedPaths.split('\0')) {
    let fd: number;
    try {
      fd = openSync(fsPath(path.join(root, p)), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    try {
      let n: number;
      while ((n = readSync(fd, buffer, 0, buffer.length, null)) > 0) total += n;
    } finally {
      closeSync(fd);
    }
  }
  return total;
}
