/**
 * `strata image save` and `strata build --output`: an image from the store
 * as an OCI image layout (a directory, or a tar of one) or a `docker save`
 * archive that `docker load` and `podman load` accept, either tar also to
 * standard output (`-`); or its root filesystem, the layers applied in
 * order, into a directory (buildx's local exporter).
 */
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Pack } from 'tar-stream';
import { applyLayer, tarPack, writeTreeTar } from '../snapshot/index.js';
import { blobPath, tempPath, type Descriptor } from '../cache/index.js';
import { ImageError } from '../errors/index.js';
import { compressedManifest } from './compressed.js';
import { MEDIA, REF_NAME, type ImageIndex } from './oci.js';
import { readConfig, readManifest } from './read.js';
import { requireImage } from './refs.js';

export type SaveFormat = 'oci' | 'docker' | 'local' | 'tar';

/** How an OCI layout or docker archive carries the layers a build made: as the store keeps them, or gzip-compressed (compressedManifest). */
export type SaveCompression = 'uncompressed' | 'gzip';

/** The destination that means standard output. */
export const STDOUT = '-';

function blobsOf(store: string, manifestDesc: Descriptor): Descriptor[] {
  const manifest = readManifest(store, manifestDesc);
  return [manifestDesc, manifest.config, ...manifest.layers];
}

async function addFile(pack: Pack, name: string, file: string): Promise<void> {
  const entry = pack.entry({ name, size: statSync(file).size, mode: 0o644, mtime: new Date(0) });
  await pipeline(createReadStream(file), entry);
}

function addBytes(pack: Pack, name: string, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, bytes, (err) => (err ? reject(err) : resolve())));
}

/** What toStdout reads: a Node stream, or tar-stream's pack (a streamx one). */
interface Source {
  on(event: 'data' | 'end' | 'error', listener: (value?: unknown) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(e?: Error): unknown;
}

/**
 * Copies `source` to standard output chunk by chunk, minding backpressure,
 * and leaves it open: piping would end it with the archive. Rejects when
 * what reads standard output goes away (EPIPE).
 */
function toStdout(source: Source): Promise<void> {
  const out = process.stdout;
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      source.destroy(e);
      reject(e);
    };
    out.once('error', onError);
    const settle = (e?: Error) => {
      out.off('error', onError);
      if (e) reject(e);
      else resolve();
    };
    source.on('end', () => settle());
    source.on('error', (e) => settle(e as Error));
    source.on('data', (chunk) => {
      if (!out.write(chunk as Buffer)) {
        source.pause();
        out.once('drain', () => source.resume());
      }
    });
  });
}

/** Writes a tar to `dest`: a file (under a temporary name, then renamed), or standard output for `-`. */
async function writeTar(dest: string, fill: (pack: Pack) => Promise<void>): Promise<void> {
  const pack = tarPack();
  if (dest === STDOUT) {
    await Promise.all([
      (async () => {
        await fill(pack);
        pack.finalize();
      })(),
      toStdout(pack),
    ]);
    return;
  }
  const tmp = `${dest}.${process.pid}.tmp`;
  try {
    await Promise.all([
      (async () => {
        await fill(pack);
        pack.finalize();
      })(),
      pipeline(pack, createWriteStream(tmp)),
    ]);
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function layoutIndex(name: string, manifest: Descriptor): ImageIndex {
  return { schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME]: name } }] };
}

async function saveOCI(store: string, name: string, manifest: Descriptor, dest: string): Promise<void> {
  const blobs = blobsOf(store, manifest);
  const index = JSON.stringify(layoutIndex(name, manifest));
  const layout = JSON.stringify({ imageLayoutVersion: '1.0.0' });
  if (dest.endsWith('.tar') || dest === STDOUT) {
    await writeTar(dest, async (pack) => {
      await addBytes(pack, 'oci-layout', layout);
      await addBytes(pack, 'index.json', index);
      for (const b of blobs) await addFile(pack, `blobs/sha256/${b.digest.split(':')[1]}`, blobPath(store, b.digest));
    });
    return;
  }
  if (existsSync(dest) && (!statSync(dest).isDirectory() || readdirSync(dest).some((n) => n !== 'oci-layout' && n !== 'index.json' && n !== 'blobs'))) {
    throw new ImageError('the destination exists and is not an image layout', dest, { hint: 'name a new directory, or a FILE.tar' });
  }
  mkdirSync(path.join(dest, 'blobs', 'sha256'), { recursive: true });
  for (const b of blobs) copyFileSync(blobPath(store, b.digest), path.join(dest, 'blobs', 'sha256', b.digest.split(':')[1]!));
  writeFileSync(path.join(dest, 'oci-layout'), layout);
  writeFileSync(path.join(dest, 'index.json'), index);
}

/** The image's root filesystem in `dest` (made if missing; what is there already is written over, as buildx does). */
async function saveFilesystem(store: string, manifestDesc: Descriptor, dest: string): Promise<void> {
  if (path.resolve(dest) === path.parse(path.resolve(dest)).root) throw new ImageError('the image\'s files would be written over this machine\'s /', dest, { hint: 'name a directory for them' });
  if (existsSync(dest) && !statSync(dest).isDirectory()) throw new ImageError('the destination exists and is not a directory', dest, { hint: 'name a directory' });
  mkdirSync(dest, { recursive: true });
  for (const layer of readManifest(store, manifestDesc).layers) await applyLayer(dest, blobPath(store, layer.digest));
}

/** The image's root filesystem as one tar (buildx's tar exporter), in a file or on standard output. */
async function saveFilesystemTar(store: string, manifestDesc: Descriptor, dest: string): Promise<void> {
  const files = tempPath(store, 'export-files');
  const tar = dest === STDOUT ? tempPath(store, 'export-tar') : `${dest}.${process.pid}.tmp`;
  try {
    await saveFilesystem(store, manifestDesc, files);
    await writeTreeTar(files, tar);
    if (dest === STDOUT) await toStdout(createReadStream(tar));
    else renameSync(tar, dest);
  } finally {
    rmSync(files, { recursive: true, force: true });
    rmSync(tar, { force: true });
  }
}

async function saveDocker(store: string, name: string, manifestDesc: Descriptor, dest: string): Promise<void> {
  const manifest = readManifest(store, manifestDesc);
  readConfig(store, manifest); // verified before it is written out
  const hex = (d: string) => d.split(':')[1]!;
  const configName = `blobs/sha256/${hex(manifest.config.digest)}`;
  const layerNames = manifest.layers.map((l) => `blobs/sha256/${hex(l.digest)}`);
  const [repo, tag] = [name.slice(0, name.lastIndexOf(':')), name.slice(name.lastIndexOf(':') + 1)];
  await writeTar(dest, async (pack) => {
    // docker load reads gzip layers as well as plain tars; the diff_ids in the config are of the plain tars.
    await addFile(pack, configName, blobPath(store, manifest.config.digest));
    for (const [i, l] of manifest.layers.entries()) await addFile(pack, layerNames[i]!, blobPath(store, l.digest));
    await addBytes(pack, 'manifest.json', JSON.stringify([{ Config: configName, RepoTags: [name], Layers: layerNames }]));
    await addBytes(pack, 'repositories', JSON.stringify({ [repo]: { [tag]: hex(manifest.layers.at(-1)?.digest ?? manifest.config.digest) } }));
  });
}

export async function saveImage(store: string, ref: string, dest: string, format: SaveFormat, compression: SaveCompression = 'uncompressed'): Promise<Descriptor> {
  const image = requireImage(store, ref);
  return exportImage(store, image.name, image.manifest, dest, format, compression);
}

/**
 * Writes the image `manifest` (named `name` in the output) to `dest`;
 * returns the manifest written, which with gzip is one of its own.
 */
export async function exportImage(store: string, name: string, manifest: Descriptor, dest: string, format: SaveFormat, compression: SaveCompression = 'uncompressed'): Promise<Descriptor> {
  const parent = path.dirname(path.resolve(dest));
  if (dest !== STDOUT && !existsSync(parent)) throw new ImageError('the destination folder does not exist', parent, { hint: 'create it, or name another -o path' });
  if (format === 'docker' && !dest.endsWith('.tar') && dest !== STDOUT) throw new ImageError('a docker archive is a tar file', dest, { hint: 'name it FILE.tar, or - for standard output' });
  if (format === 'local' && dest === STDOUT) throw new ImageError('type=local writes the files into a directory', dest, { hint: 'name a directory, or use type=tar,dest=- for a tar of them on standard output' });
  try {
    const save = { docker: saveDocker, oci: saveOCI, local: (s: string, _n: string, m: Descriptor, d: string) => saveFilesystem(s, m, d), tar: (s: string, _n: string, m: Descriptor, d: string) => saveFilesystemTar(s, m, d) }[format];
    const written = compression === 'gzip' && (format === 'oci' || format === 'docker') ? (await compressedManifest(store, manifest, readManifest(store, manifest))).desc : manifest;
    await save(store, name, written, dest);
    return written;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!(e instanceof ImageError) && code && WRITE_ERRORS[code]) throw new ImageError(`cannot write the image there: ${WRITE_ERRORS[code]}`, dest, { hint: 'name a path you can write to (the store keeps the image either way)' });
    throw e;
  }
}

/** Why an output could not be written, as a user reads it. */
const WRITE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ENOENT: 'the path cannot be created',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EPIPE: 'what reads standard output closed it',
};
