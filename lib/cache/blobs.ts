/**
 * The content-addressed blob store: `<store>/blobs/sha256/<hex>`, so the
 * store root is also an OCI image layout that skopeo and umoci read as is.
 * A blob is written to a temp file while its digest is computed, checked
 * against the digest it is expected to have, fsynced and renamed into
 * place: a killed write never leaves a half blob under a real name.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { StoreError } from '../errors/index.js';
import { processAlive } from './process.js';

const fsyncAsync = promisify(fsync);

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function blobPath(store: string, digest: string): string {
  const [algo, hex] = digest.split(':');
  if (algo !== 'sha256' || !hex || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new StoreError(`not a sha256 digest: ${digest}`, store, { hint: 'digests look like sha256:<64 hex digits>' });
  }
  return path.join(store, 'blobs', 'sha256', hex);
}

export function hasBlob(store: string, digest: string): boolean {
  return existsSync(blobPath(store, digest));
}

export function tempPath(store: string, what: string): string {
  const dir = path.join(store, 'tmp');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${what}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
}


/**
 * Removes temp files and directories left by strata processes that are
 * gone (a build killed with SIGKILL cannot clean up after itself).
 * `release` runs on each first (a build unmounts what it left mounted).
 */
export async function sweepStaleTemp(store: string, release?: (stale: string) => Promise<void>): Promise<void> {
  const dir = path.join(store, 'tmp');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    // (A prefix may hold a hyphen itself: layer-tar-<pid>-..., broken-snapshot-<pid>-...)
    const pid = Number(/^[a-z][a-z-]*?-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    const stale = path.join(dir, name);
    await release?.(stale);
    rmSync(stale, { recursive: true, force: true });
  }
}

/** A writable that lands as a blob: `finish()` verifies, fsyncs and renames it into place. */
export interface BlobWriter {
  readonly stream: Writable;
  finish(expected?: string): Promise<{ digest: string; size: number }>;
  abort(): void;
}

export function blobWriter(store: string): BlobWriter {
  mkdirSync(path.join(store, 'blobs', 'sha256'), { recursive: true });
  const tmp = tempPath(store, 'blob');
  const fd = openSync(tmp, 'w', 0o644);
  const hash = createHash('sha256');
  let size = 0;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      closeSync(fd);
    }
  };
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
        size += chunk.length;
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  return {
    stream,
    async finish(expected) {
      if (!stream.writableEnded) stream.end();
      if (!stream.writableFinished) await finished(stream);
      const digest = `sha256:${hash.digest('hex')}`;
      try {
        if (expected && expected !== digest) {
          throw new StoreError(`blob does not match its digest: expected ${expected}, got ${digest}`, store, {
            hint: 'the source is damaged or was changed while being read; nothing was stored',
          });
        }
        const final = blobPath(store, digest);
        if (existsSync(final)) {
          close();
          rmSync(tmp, { force: true });
          return { digest, size };
        }
        // On the thread pool: the build goes on meanwhile, and blobs finishing together share a journal commit.
        await fsyncAsync(fd);
        close();
        renameSync(tmp, final);
        return { digest, size };
      } catch (e) {
        close();
        rmSync(tmp, { force: true });
        throw e;
      }
    },
    abort() {
      close();
      rmSync(tmp, { force: true });
    },
  };
}

/**
 * Takes `file` (in the store's tmp directory), whose sha256 its writer
 * computed as it wrote it, as the blob `digest`: fsynced and renamed into
 * place, or dropped when the store has that blob already.
 */
export async function adoptBlobFile(store: string, file: string, digest: string): Promise<{ digest: string; size: number }> {
  const final = blobPath(store, digest);
  const fd = openSync(file, 'r');
  try {
    const { size } = statSync(file);
    if (existsSync(final)) {
      rmSync(file, { force: true });
      return { digest, size };
    }
    mkdirSync(path.dirname(final), { recursive: true });
    // On the thread pool: the build goes on meanwhile, and blobs finishing together share a journal commit.
    await fsyncAsync(fd);
    renameSync(file, final);
    return { digest, size };
  } catch (e) {
    rmSync(file, { force: true });
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Stores bytes as a blob. */
export async function putBlob(store: string, data: Buffer | string, expected?: string): Promise<{ digest: string; size: number }> {
  const w = blobWriter(store);
  w.stream.end(typeof data === 'string' ? Buffer.from(data) : data);
  return w.finish(expected);
}

/** Stores a file's bytes as a blob (streamed). */
export async function putBlobFile(store: string, file: string, expected?: string): Promise<{ digest: string; size: number }> {
  const w = blobWriter(store);
  try {
    await pipeline(createReadStream(file), w.stream);
  } catch (e) {
    w.abort();
    throw e;
  }
  return w.finish(expected);
}

/** The bytes of every blob in the store (what its images and its build cache hold between them). */
export function storedBlobBytes(store: string): number {
  const dir = path.join(store, 'blobs', 'sha256');
  let bytes = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) bytes += statSync(path.join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
  return bytes;
}

/** Removes the blobs not in `keep` (digests) and older than `graceMs` (one a build is writing may not be named anywhere yet). */
export function pruneBlobs(store: string, keep: ReadonlySet<string>, graceMs: number): { removed: number; bytes: number } {
  const dir = path.join(store, 'blobs', 'sha256');
  let removed = 0;
  let bytes = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (keep.has(`sha256:${name}`)) continue;
    const file = path.join(dir, name);
    const st = statSync(file);
    if (Date.now() - st.mtimeMs < graceMs) continue;
    rmSync(file, { force: true });
    removed++;
    bytes += st.size;
  }
  return { removed, bytes };
}
