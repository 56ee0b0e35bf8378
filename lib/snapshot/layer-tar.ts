/**
 * Writing a directory tree as an OCI layer: a tar (sorted entries, parents
 * first; modes, owners, times, symlinks, hard links, device nodes and
 * fifos kept) whose sha256 is the layer's diffID, gzip-compressed into a
 * blob whose sha256 is its digest. The uncompressed tar is never stored.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Header, Pack } from 'tar-stream';
import { tarPack } from './tar.js';
import { blobWriter, tempPath } from '../cache/index.js';

export interface LayerBlob {
  /** sha256 of the uncompressed tar. */
  readonly diffId: string;
  /** sha256 of the gzip blob. */
  readonly digest: string;
  /** Size of the gzip blob. */
  readonly size: number;
}

const STREAM_ABOVE = 1024 * 1024;
const OPAQUE_MARKER = '.wh..wh..opq';

type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

function typeOf(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets do not belong in a layer
}

/** Every path below root, parents before children, siblings by name. */
function listTree(root: string, rel = '', out: string[] = []): string[] {
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if (lstatSync(path.join(root, p)).isDirectory()) listTree(root, p, out);
  }
  return out;
}

function emptyEntry(pack: Pack, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o644, mtime: new Date(0), size: 0, type: 'file' }, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
}

/**
 * Tar entries for `rels` (paths under root, parents before children) and,
 * interleaved in sorted order, OCI whiteouts for `deleted` paths. Each
 * directory in `opaque` is followed at once by its `.wh..wh..opq` marker,
 * so that an extractor empties it before its new children arrive.
 */
export async function packEntries(root: string, rels: readonly string[], pack: Pack, deleted: readonly string[] = [], opaque: readonly string[] = []): Promise<void> {
  const firstPathOfInode = new Map<string, string>();
  const opaqueDirs = new Set(opaque);
  const whiteouts = deleted.map((d) => {
    const dir = path.posix.dirname(d);
    return (dir === '.' ? '' : dir + '/') + '.wh.' + path.posix.basename(d);
  });
  const all = [...rels.map((r) => ({ rel: r, whiteout: false })), ...whiteouts.map((w) => ({ rel: w, whiteout: true }))]
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  for (const { rel, whiteout } of all) {
    if (whiteout) {
      await emptyEntry(pack, rel);
      continue;
    }
    const full = path.join(root, rel);
    const st = lstatSync(full);
    let type = typeOf(st);
    if (!type) continue;
    const header: Partial<Header> & { name: string } = {
      name: type === 'directory' ? `${rel}/` : rel,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
      type,
    };
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = firstPathOfInode.get(key);
      if (first) {
        type = header.type = 'link';
        header.linkname = first;
      } else {
        firstPathOfInode.set(key, rel);
      }
    }
    if (type === 'symlink') header.linkname = readlinkSync(full);
    if (type === 'character-device' || type === 'block-device') {
      header.devmajor = Math.floor(st.rdev / 256);
      header.devminor = st.rdev % 256;
    }
    if (type === 'file') {
      header.size = st.size;
      if (st.size < STREAM_ABOVE) {
        // Small files in one read: a stream pipeline per entry costs more than the file.
        const data = readFileSync(full);
        await new Promise<void>((resolve, reject) => pack.entry(header, data, (err) => (err ? reject(err) : resolve())));
      } else {
        await pipeline(createReadStream(full), pack.entry(header));
      }
    } else {
      await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
    }
    if (type === 'directory' && opaqueDirs.has(rel)) await emptyEntry(pack, `${rel}/${OPAQUE_MARKER}`);
  }
  pack.finalize();
}

async function packTree(root: string, pack: Pack): Promise<void> {
  await packEntries(root, listTree(root), pack);
}

/** Hashes what flows through, for the diffID of the uncompressed tar. */
function digestTap(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

const BATCH_BYTES = 1024 * 1024;

/**
 * Gathers small chunks into large ones. A tar of many small files is a
 * stream of 512-byte headers and short bodies, and zlib does every write
 * as a round trip to the thread pool: batching made gzip of a 32,000-file
 * layer five times faster (6.3 s to 1.25 s for 154 MB, measured here).
 */
function batcher(): Transform {
  let parts: Buffer[] = [];
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      size += chunk.length;
      if (size < BATCH_BYTES) return cb();
      const out = Buffer.concat(parts, size);
      parts = [];
      size = 0;
      cb(null, out);
    },
    flush(cb) {
      cb(null, size ? Buffer.concat(parts, size) : undefined);
    },
  });
}

/** Writes a tar stream (produced by `produce`) as a gzip layer blob. */
export async function writeLayer(store: string, produce: (out: PassThrough) => Promise<void>): Promise<LayerBlob> {
  const diff = createHash('sha256');
  const blob = blobWriter(store);
  const source = new PassThrough();
  const done = pipeline(source, batcher(), digestTap(diff), createGzip(), blob.stream);
  try {
    await Promise.all([produce(source), done]);
  } catch (e) {
    blob.abort();
    throw e;
  }
  const { digest, size } = await blob.finish();
  return { diffId: `sha256:${diff.digest('hex')}`, digest, size };
}

/** Layers whose tar is at least this big are compressed in the background. */
const COMPRESS_BEHIND_ABOVE = 4 * 1024 * 1024;

/** A layer whose diffID is known and whose gzip blob is still being written (see stageEntriesLayer). */
export interface StagedLayer {
  /** sha256 of the uncompressed tar. */
  readonly diffId: string;
  /** The gzip blob, once written into the store. */
  readonly blob: Promise<{ readonly digest: string; readonly size: number }>;
  /** The same, when it was written before the layer was handed over. */
  readonly written?: { readonly digest: string; readonly size: number };
}

/**
 * Like writeEntriesLayer, but returns as soon as the uncompressed tar is
 * written (to a temporary file in the store) and its diffID known: the
 * gzip blob is made from that file in the background. Compressing is most
 * of the cost of a big layer, and nothing in a build needs the blob before
 * the image is written, so it runs while the next steps do.
 */
export async function stageEntriesLayer(store: string, root: string, rels: readonly string[], deleted: readonly string[], opaque: readonly string[] = []): Promise<StagedLayer> {
  const diff = createHash('sha256');
  const tarFile = tempPath(store, 'layer-tar');
  const pack = tarPack();
  try {
    await Promise.all([packEntries(root, rels, pack, deleted, opaque), pipeline(pack, batcher(), digestTap(diff), createWriteStream(tarFile))]);
  } catch (e) {
    rmSync(tarFile, { force: true });
    throw e;
  }
  const tarBytes = statSync(tarFile).size;
  const blob = (async () => {
    const out = blobWriter(store);
    try {
      await pipeline(createReadStream(tarFile, { highWaterMark: BATCH_BYTES }), createGzip(), out.stream);
      return await out.finish();
    } catch (e) {
      out.abort();
      throw e;
    } finally {
      rmSync(tarFile, { force: true });
    }
  })();
  blob.catch(() => undefined); // whoever awaits it sees the error; an unawaited failure must not crash the process
  // A small layer is compressed before its step ends: it costs next to nothing, and the step is then
  // committed (blob and cache record) before the next one starts, so a build killed later keeps it.
  const diffId = `sha256:${diff.digest('hex')}`;
  return tarBytes < COMPRESS_BEHIND_ABOVE ? { diffId, blob, written: await blob } : { diffId, blob };
}

/** A directory tree as one layer blob. */
export async function writeDirectoryLayer(store: string, root: string): Promise<LayerBlob> {
  return writeLayer(store, async (out) => {
    const pack = tarPack();
    await Promise.all([packTree(root, pack), pipeline(pack, out)]);
  });
}

/** The entries `rels` of `root` plus whiteouts for `deleted` and opaque markers, as one layer blob (a step's diff). */
export async function writeEntriesLayer(store: string, root: string, rels: readonly string[], deleted: readonly string[], opaque: readonly string[] = []): Promise<LayerBlob> {
  return writeLayer(store, async (out) => {
    const pack = tarPack();
    await Promise.all([packEntries(root, rels, pack, deleted, opaque), pipeline(pack, out)]);
  });
}
