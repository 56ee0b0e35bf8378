/** Reading manifests and configs out of the store, checked against their digests. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { blobPath, type Descriptor } from '../cache/index.js';
import { ImageError } from '../errors/index.js';
import type { ImageConfig, Manifest } from './oci.js';

export function readBlobJSON<T>(store: string, desc: Descriptor, what: string): T {
  let bytes: Buffer;
  try {
    bytes = readFileSync(blobPath(store, desc.digest));
  } catch (e) {
    throw new ImageError(`the ${what} blob ${desc.digest} is missing from the store`, desc.digest, { cause: e, hint: 'import or build the image again' });
  }
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== desc.digest) {
    throw new ImageError(`the ${what} blob ${desc.digest} is damaged (its content hashes to ${actual})`, desc.digest, { hint: 'import or build the image again' });
  }
  return JSON.parse(bytes.toString('utf8')) as T;
}

export function readManifest(store: string, desc: Descriptor): Manifest {
  return readBlobJSON<Manifest>(store, desc, 'manifest');
}

export function readConfig(store: string, manifest: Manifest): ImageConfig {
  return readBlobJSON<ImageConfig>(store, manifest.config, 'config');
}
