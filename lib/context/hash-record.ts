/**
 * The packed result of hashing a batch of files: one fixed-size record per
 * file, so a batch crosses the thread boundary as one transferred buffer
 * instead of an array of objects. Shared by the coordinator and the worker.
 */
export const RECORD_BYTES = 56;

export const enum HashStatus {
  Ok = 0,
  /** The file disappeared before it could be read. */
  Vanished = 1,
  /** Size or mtime kept changing while it was read, on every attempt. */
  Unstable = 2,
  /** No longer a regular file (replaced by a directory, a symlink, ...). */
  NotAFile = 3,
  /** Permission denied or another read error. */
  Unreadable = 4,
  /** Left for the coordinator (a big file, hashed in a task of its own; or not a regular file). */
  NotHashed = 5,
}

export interface HashRecord {
  readonly digest: Buffer;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly mode: number;
  readonly status: HashStatus;
}

export function writeRecord(view: DataView, bytes: Uint8Array, index: number, r: HashRecord): void {
  const at = index * RECORD_BYTES;
  bytes.set(r.digest.subarray(0, 16), at);
  view.setBigUint64(at + 16, r.size, true);
  view.setBigUint64(at + 24, r.mtimeNs, true);
  view.setBigUint64(at + 32, r.ctimeNs, true);
  view.setBigUint64(at + 40, r.ino, true);
  view.setUint32(at + 48, r.mode, true);
  view.setUint32(at + 52, r.status, true);
}

export function readRecord(buffer: ArrayBuffer, index: number): HashRecord {
  const view = new DataView(buffer);
  const at = index * RECORD_BYTES;
  return {
    digest: Buffer.from(buffer, at, 16),
    size: view.getBigUint64(at + 16, true),
    mtimeNs: view.getBigUint64(at + 24, true),
    ctimeNs: view.getBigUint64(at + 32, true),
    ino: view.getBigUint64(at + 40, true),
    mode: view.getUint32(at + 48, true),
    status: view.getUint32(at + 52, true) as HashStatus,
  };
}
