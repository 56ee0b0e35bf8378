/**
 * `strata image save`: an image from the store as an OCI image layout
 * (a directory, or a tar of one) or a `docker save` archive that
 * `docker load` and `podman load` accept.
 */
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Pack } from 'tar-stream';
import { tarPack } from '../snapshot/index.js';
import { blobPath, type Descriptor } from '../cache/index.js';
import { ImageError } from '../errors/index.js';
import { MEDIA, REF_NAME, type ImageIndex } from './oci.js';
import { readConfig, readManifest } from './read.js';
import { requireImage } from './refs.js';

export type SaveFormat = 'oci' | 'docker';

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

async function writeTar(dest: string, fill: (pack: Pack) => Promise<void>): Promise<void> {
  const tmp = `${dest}.${process.pid}.tmp`;
  const pack = tarPack();
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
  if (dest.endsWith('.tar')) {
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

export async function saveImage(store: string, ref: string, dest: string, format: SaveFormat): Promise<void> {
  const image = requireImage(store, ref);
  await exportImage(store, image.name, image.manifest, dest, format);
}

/** Writes the image `manifest` (named `name` in the output) to `dest`. */
export async function exportImage(store: string, name: string, manifest: Descriptor, dest: string, format: SaveFormat): Promise<void> {
  const parent = path.dirname(path.resolve(dest));
  if (!existsSync(parent)) throw new ImageError('the destination folder does not exist', parent, { hint: 'create it, or name another -o path' });
  if (format === 'docker' && !dest.endsWith('.tar')) throw new ImageError('a docker archive is a tar file', dest, { hint: 'name it FILE.tar' });
  try {
    await (format === 'docker' ? saveDocker(store, name, manifest, dest) : saveOCI(store, name, manifest, dest));
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
};
