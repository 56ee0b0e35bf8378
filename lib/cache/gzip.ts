/**
 * Gzip for what leaves the store. A build keeps its layers as plain tars
 * (a blob whose digest is its diffID, `application/vnd.oci.image.layer.v1.tar`),
 * as Docker's own store keeps them uncompressed: no build, and no rebuild
 * under `strata dev`, waits for gzip. A push or a cache export sends a
 * layer's gzip twin instead, made from the plain tar the first time one is
 * wanted and remembered under `cache/gzip/` by the tar's digest (a blob
 * never changes, so neither does its twin). A layer a cache import brings
 * in compressed is kept as its plain tar too, the gzip blob remembered as
 * its twin: a store that imports a cache makes the identical image.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
import { blobPath, blobWriter, hasBlob } from './blobs.js';
import { writeFileAtomic } from './files.js';

/**
 * Bytes of a tar per gzip member. Fixed, not by core count: a layer's
 * twin must be the same bytes on any machine (a registry or a shared
 * cache holds it once).
 */
export const GZIP_MEMBER_BYTES = 4 * 1024 * 1024;

// (Made when first called: zlib is loaded only by a process that compresses.)
const gzipAsync = (data: Buffer) => promisify(gzip)(data);

/** Reads up to `into.length` bytes at `position`, fewer only at the end of the file. */
async function readFull(handle: FileHandle, into: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < into.length) {
    const { bytesRead } = await handle.read(into, filled, into.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * A file as a gzip stream of one member per GZIP_MEMBER_BYTES of it,
 * compressed as many at once as there are cores (on libuv's threads) and
 * yielded in order. A gzip stream may hold several members (RFC 1952), and
 * every reader of layers takes them (Go's, zlib's, GNU gzip; eStargz
 * layers are made so). 24 MB of JavaScript took 0.42 s as one member here,
 * 0.29 s as members on two cores; a file under one member's size gives
 * the single member one gzip stream of it would.
 */
export async function* gzipMembers(file: string): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  const inFlight: Promise<Buffer>[] = [];
  try {
    const width = Math.max(1, availableParallelism());
    for (let at = 0, last = false; !last; at += GZIP_MEMBER_BYTES) {
      const chunk = Buffer.allocUnsafe(GZIP_MEMBER_BYTES);
      const size = await readFull(handle, chunk, at);
      last = size < GZIP_MEMBER_BYTES;
      if (size === 0 && at > 0) break;
      const member = gzipAsync(chunk.subarray(0, size));
      member.catch(() => undefined); // (awaited below, in order; a failure must not go unhandled meanwhile)
      inFlight.push(member);
      if (inFlight.length >= width) yield await inFlight.shift()!;
    }
    while (inFlight.length) yield await inFlight.shift()!;
  } finally {
    await Promise.allSettled(inFlight);
    await handle.close();
  }
}

export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

const twinRecord = (store: string, digest: string) => path.join(store, 'cache', 'gzip', digest.replace(/^sha256:/, ''));

/** Twins being made by this process, so that two exports of one layer at once compress it once. */
const making = new Map<string, Promise<BlobRef>>();

/**
 * The gzip blob of the plain tar blob `digest` (made and stored the first
 * time it is asked for, and remembered; made again if a prune took it).
 */
export function gzipTwin(store: string, digest: string): Promise<BlobRef> {
  const record = twinRecord(store, digest);
  if (existsSync(record)) {
    try {
      const known = JSON.parse(readFileSync(record, 'utf8')) as BlobRef;
      if (hasBlob(store, known.digest)) return Promise.resolve(known);
    } catch {
      // (A damaged record: the twin is made again.)
    }
  }
  const key = `${store}\0${digest}`;
  let made = making.get(key);
  if (!made) {
    made = (async () => {
      const out = blobWriter(store);
      try {
        await pipeline(gzipMembers(blobPath(store, digest)), out.stream);
      } catch (e) {
        out.abort();
        throw e;
      }
      const twin = await out.finish();
      writeFileAtomic(record, JSON.stringify(twin));
      return twin;
    })().finally(() => making.delete(key));
    making.set(key, made);
  }
  return made;
}

/**
 * The plain tar of a gzip layer blob in the store (`layer.digest`), checked
 * against its diffID, kept as a blob of its own; the gzip blob is
 * remembered as its twin, so that an export sends the bytes it came as.
 */
export async function plainTwin(store: string, layer: { readonly digest: string; readonly diffId: string; readonly size: number }): Promise<BlobRef> {
  if (hasBlob(store, layer.diffId)) return { digest: layer.diffId, size: statSync(blobPath(store, layer.diffId)).size };
  const out = blobWriter(store);
  try {
    await pipeline(createReadStream(blobPath(store, layer.digest)), createGunzip(), out.stream);
  } catch (e) {
    out.abort();
    throw e;
  }
  const plain = await out.finish(layer.diffId);
  writeFileAtomic(twinRecord(store, layer.diffId), JSON.stringify({ digest: layer.digest, size: layer.size } satisfies BlobRef));
  return plain;
}
