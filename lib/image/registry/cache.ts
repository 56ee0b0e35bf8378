/**
 * The build cache through a registry (--cache-to/--cache-from
 * type=registry,ref=...): the same manifest a local export writes (see
 * lib/cache/exchange.ts), pushed under the ref's tag; imported by reading
 * the manifest and its config (the keys) first, and each layer blob only
 * when a step hits it, verified by digest and size.
 */
import { createHash } from 'node:crypto';
import { cacheManifest, cacheSource, parseCacheConfig, putBlob, CACHE_CONFIG_MEDIA, type CacheEntry, type CacheSource, type CacheTree } from '../../cache/index.js';
import { ImageError } from '../../errors/index.js';
import { openRepository, request, type RegistryOptions } from './client.js';
import { formatRemoteRef, parseRemoteRef } from './reference.js';
import { fetchBlob, getManifest, putManifest, uploadBlobs } from './transfer.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export async function exportCacheRegistry(store: string, ref: string, entries: readonly CacheEntry[], trees: readonly CacheTree[], options: RegistryOptions = {}): Promise<void> {
  const remote = parseRemoteRef(ref);
  const repo = openRepository(remote, 'pull,push', options);
  const { config, blobs, manifest } = await cacheManifest(store, entries, trees);
  const configDesc = { mediaType: CACHE_CONFIG_MEDIA, ...(await putBlob(store, config)) };
  await uploadBlobs(repo, store, [configDesc, ...blobs]);
  await putManifest(repo, remote.tag ?? 'buildcache', OCI_MANIFEST, manifest(configDesc));
}

export async function openRegistryCache(ref: string, options: RegistryOptions = {}): Promise<CacheSource> {
  const remote = parseRemoteRef(ref);
  const repo = openRepository(remote, 'pull', options);
  const where = formatRemoteRef(remote);
  const top = await getManifest(repo, remote.digest ?? remote.tag!);
  const parsed = JSON.parse(top.bytes.toString('utf8')) as { config?: { digest: string; size: number; mediaType?: string } };
  if (parsed.config?.mediaType !== CACHE_CONFIG_MEDIA) throw new ImageError(`${where} is not a strata build cache`, where, { hint: 'point --cache-from at a ref that --cache-to type=registry wrote' });
  const response = await request(repo, `blobs/${parsed.config.digest}`);
  if (!response.ok) throw new ImageError(`the registry answered ${response.status} for the cache config of ${where}`, where, { hint: 'try again later' });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== parsed.config.digest) {
    throw new ImageError(`the cache config of ${where} does not match its digest`, where, { hint: 'the registry holds a damaged cache; build without --cache-from, or export it again' });
  }
  const { records, trees } = parseCacheConfig(bytes, where);
  return cacheSource(where, records, trees, (store, digest, size) => fetchBlob(repo, store, { mediaType: 'application/octet-stream', digest, size }));
}
