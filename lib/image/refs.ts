/**
 * Image names in the local store: `name[:tag]`, kept in the store's OCI
 * index (`index.json`, each manifest annotated with its name), so the store
 * itself is an image layout that `skopeo inspect oci:STORE:NAME` reads.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';
import { withStoreLock, type Descriptor } from '../cache/index.js';
import { ImageError, StoreError } from '../errors/index.js';
import { MEDIA, REF_NAME, type ImageIndex } from './oci.js';

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** `busybox` → `busybox:latest`; throws for a name Docker would refuse. */
export function normalizeRef(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) throw new ImageError(`digest references are not supported here: ${ref}`, ref, { hint: 'use NAME:TAG' });
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : 'latest';
  if (!NAME.test(name)) {
    throw new ImageError(`invalid image name "${name}"`, ref, { hint: 'names are lowercase letters, digits and separators (. _ -), with / between components' });
  }
  if (!TAG.test(tag)) throw new ImageError(`invalid tag "${tag}"`, ref, { hint: 'tags are letters, digits, _ . and -, up to 128 characters' });
  return `${name}:${tag}`;
}

function ensureLayout(store: string): void {
  mkdirSync(path.join(store, 'blobs', 'sha256'), { recursive: true });
  const marker = path.join(store, 'oci-layout');
  if (!existsSync(marker)) writeFileSync(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

export function readIndex(store: string): ImageIndex {
  const file = path.join(store, 'index.json');
  if (!existsSync(file)) return { schemaVersion: 2, mediaType: MEDIA.index, manifests: [] };
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ImageIndex;
  } catch (e) {
    throw new StoreError(`the store's index.json cannot be read (${(e as Error).message})`, store, { cause: e, hint: 'restore it from a backup, or remove it to forget every image name (blobs stay)' });
  }
}

function writeIndex(store: string, index: ImageIndex): void {
  const file = path.join(store, 'index.json');
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeFileSync(fd, JSON.stringify(index, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export interface NamedImage {
  readonly name: string;
  readonly manifest: Descriptor;
}

export function listImages(store: string): NamedImage[] {
  return readIndex(store)
    .manifests.filter((m) => m.annotations?.[REF_NAME])
    .map((m) => ({ name: m.annotations![REF_NAME]!, manifest: m }));
}

export function findImage(store: string, ref: string): NamedImage | undefined {
  const name = normalizeRef(ref);
  return listImages(store).find((i) => i.name === name);
}

export function requireImage(store: string, ref: string): NamedImage {
  const found = findImage(store, ref);
  if (!found) {
    throw new ImageError(`image ${normalizeRef(ref)} is not in the store`, ref, {
      hint: 'import it first: strata image import ROOTFS_DIR_OR_TAR --tag ' + normalizeRef(ref) + ' (strata image ls lists what is there)',
    });
  }
  return found;
}

/** Points `ref` at a manifest (replacing what it named before). */
export async function tagImage(store: string, ref: string, manifest: Descriptor): Promise<void> {
  const name = normalizeRef(ref);
  // A rebuild from the cache names the image it named last time: then the index (an fsync) is left as it is.
  if (findImage(store, name)?.manifest.digest === manifest.digest) return;
  ensureLayout(store);
  await withStoreLock(store, 'index', () => {
    const index = readIndex(store);
    const others = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
    writeIndex(store, { ...index, manifests: [...others, { ...manifest, annotations: { ...manifest.annotations, [REF_NAME]: name } }] });
  });
}

/** Forgets a name; returns whether it existed. Blobs stay until garbage collection. */
export async function untagImage(store: string, ref: string): Promise<boolean> {
  const name = normalizeRef(ref);
  if (!existsSync(path.join(store, 'index.json'))) return false;
  return withStoreLock(store, 'index', () => {
    const index = readIndex(store);
    const kept = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
    if (kept.length === index.manifests.length) return false;
    writeIndex(store, { ...index, manifests: kept });
    return true;
  });
}
