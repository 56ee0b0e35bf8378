/**
 * Hashing files the fast way measured here: open, fstat the same fd, read
 * into one reused buffer, XXH128 (streamed when the file outgrows the
 * buffer), fstat again. A file whose size or mtime moved while it was read
 * is read again; one that keeps moving is reported, never hashed half-way.
 * Runs in the worker threads and, for small contexts, in-process.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { HashStatus, RECORD_BYTES, writeRecord, type HashRecord } from './hash-record.js';
import type { StatRecord } from './walk-core.js';
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

/** What the walk's lstat saw just before: it stands in for the first fstat. */
export interface Expected {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ino: bigint;
}

export function hashOneFile(file: string, expected?: Expected): HashRecord {
  buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
  if (expected) {
    const quick = hashAgainst(file, expected, buffer);
    if (quick) return quick;
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return failed(HashStatus.Vanished);
      if (code === 'ELOOP') return failed(HashStatus.NotAFile);
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

/**
 * One read checked against the walk's lstat instead of a first fstat: a
 * syscall less per file. Undefined (so the careful path runs) when the
 * file is not what the walk saw or moved while being read.
 */
function hashAgainst(file: string, expected: Expected, buf: Buffer): HashRecord | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const { digest, bytes } = hashOpen(fd, buf);
    const after = fstatSync(fd, { bigint: true });
    if (after.isFile() && after.ino === expected.ino && after.size === expected.size && after.mtimeNs === expected.mtimeNs && BigInt(bytes) === after.size) {
      return { digest, size: after.size, mtimeNs: after.mtimeNs, ctimeNs: after.ctimeNs, ino: after.ino, mode: Number(after.mode), status: HashStatus.Ok };
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Hashes `\0`-joined paths under root; returns the packed records. */
export function hashFileBatch(root: string, joinedPaths: string): ArrayBuffer {
  const paths = joinedPaths.split('\0');
  const out = new ArrayBuffer(paths.length * RECORD_BYTES);
  const view = new DataView(out);
  const bytes = new Uint8Array(out);
  paths.forEach((p, i) => writeRecord(view, bytes, i, hashOneFile(path.join(root, p))));
  return out;
}

/** Files at least this big are left to a task of their own, so that several spread over the threads. */
export const BIG_FILE_BYTES = 1024 * 1024;
const BIG_FILE = BigInt(BIG_FILE_BYTES);

/** Hashes the regular files among walked records (one packed record per walked record; others NotHashed). */
export function hashWalkedFiles(root: string, records: readonly StatRecord[]): ArrayBuffer {
  const out = new ArrayBuffer(records.length * RECORD_BYTES);
  const view = new DataView(out);
  const bytes = new Uint8Array(out);
  records.forEach((r, i) => {
    const result = r.kind === 'file' && !r.provisional && r.size < BIG_FILE ? hashOneFile(`${root}/${r.rel}`, r) : failed(HashStatus.NotHashed);
    writeRecord(view, bytes, i, result);
  });
  return out;
}

/** Reads every byte of the files without hashing: the read floor of `strata hash --bench`. */
export function readFileBatch(root: string, joinedPaths: string): number {
  buffer ??= Buffer.allocUnsafe(BUFFER_BYTES);
  let total = 0;
  for (const p of joinedPaths.split('\0')) {
    let fd: number;
    try {
      fd = openSync(path.join(root, p), constants.O_RDONLY | constants.O_NOFOLLOW);
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
