/**
 * The build cache carried between machines: an OCI image layout whose one
 * manifest has a cache config (cache key -> layer, as the key index keeps
 * them) and, as its layers, every layer blob those records name. A CI
 * system's own directory cache can carry it (type=local), and so can a
 * registry (type=registry, lib/image/registry), since it is an ordinary
 * manifest.
 *
 * Importing is lazy: the records are read first; a layer blob is copied
 * (and verified) only when a step hits its key. A blob that does not match
 * its digest is refused, and that step is built instead.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors/index.js';
import { blobPath, hasBlob, putBlob, putBlobFile, type Descriptor } from './blobs.js';
import { writeFileAtomic } from './files.js';
import { gzipTwin, plainTwin } from './gzip.js';
import type { CacheRecord, LayerRef } from './records.js';

export const CACHE_CONFIG_MEDIA = 'application/vnd.strata.cache.config.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface CacheEntry {
  readonly key: string;
  readonly record: CacheRecord;
}

/** A stage's hashed file tree (its stat-cache file), kept by layer chain: lets an importer copy from the stage without unpacking it to hash it. */
export interface CacheTree {
  readonly name: string;
  readonly digest: string;
  readonly size: number;
  /**
   * A small tree's bytes (base64) carried in the cache config itself: an
   * importer then needs no request for it (on a registry, a round trip per
   * COPY --from saved). Its blob is exported as well.
   */
  readonly inline?: string;
}

/** Trees up to this size travel inline in the cache config. */
const INLINE_TREE_BYTES = 64 * 1024;

export interface CacheConfig {
  readonly strataCache: 1;
  readonly records: readonly CacheEntry[];
  readonly trees?: readonly CacheTree[];
}

/** A cache to import from: its records, and how to bring a layer blob into the store (verified). */
export interface CacheSource {
  readonly describe: string;
  readonly records: ReadonlyMap<string, CacheRecord>;
  readonly trees: ReadonlyMap<string, CacheTree>;
  /** Brings a layer in, and answers it as the store keeps it: its plain tar (see plainTwin). */
  fetchLayer(store: string, layer: LayerRef): Promise<LayerRef>;
  /** Brings a tree into the store as `file` (verified); false if it cannot. */
  fetchTree(store: string, tree: CacheTree, file: string): Promise<boolean>;
}

const TREE_MEDIA = 'application/vnd.strata.tree.v1';

/** The entries as an export carries them: each plain tar layer (what builds write) as its gzip twin. */
async function compressedEntries(store: string, entries: readonly CacheEntry[]): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  // One layer at a time: each is compressed on every core already.
  for (const entry of entries) {
    const layer = entry.record.layer;
    if (!layer || layer.digest !== layer.diffId) {
      out.push(entry);
      continue;
    }
    const twin = await gzipTwin(store, layer.digest);
    out.push({ key: entry.key, record: { ...entry.record, layer: { diffId: layer.diffId, digest: twin.digest, size: twin.size } } });
  }
  return out;
}

/** The manifest (and its config) that carries `entries`, their layers compressed: what a local or registry export writes. */
export async function cacheManifest(store: string, plainEntries: readonly CacheEntry[], trees: readonly CacheTree[] = []): Promise<{ config: Buffer; blobs: Descriptor[]; manifest: (configDesc: Descriptor) => Buffer }> {
  const entries = await compressedEntries(store, plainEntries);
  const config = Buffer.from(JSON.stringify({ strataCache: 1, records: entries, trees } satisfies CacheConfig));
  const seen = new Set<string>();
  const layers: LayerRef[] = [];
  for (const { record } of entries) {
    if (record.layer && !seen.has(record.layer.digest)) {
      seen.add(record.layer.digest);
      layers.push(record.layer);
    }
  }
  /** The manifest's layers: the steps' layers (gzip), then the stage trees. */
  const blobs = [...layers.map((l) => ({ mediaType: LAYER_GZIP, digest: l.digest, size: l.size })), ...trees.map((t) => ({ mediaType: TREE_MEDIA, digest: t.digest, size: t.size }))];
  const manifest = (configDesc: Descriptor) => Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: CACHE_CONFIG_MEDIA, digest: configDesc.digest, size: configDesc.size },
    layers: blobs,
  }));
  return { config, blobs, manifest };
}

export function parseCacheConfig(bytes: Buffer, where: string): { records: Map<string, CacheRecord>; trees: Map<string, CacheTree> } {
  let parsed: CacheConfig;
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as CacheConfig;
  } catch {
    throw new StoreError(`${where} holds no strata cache (its config is not JSON)`, where, { hint: 'point --cache-from at a cache that --cache-to wrote' });
  }
  if (parsed.strataCache !== 1 || !Array.isArray(parsed.records)) throw new StoreError(`${where} holds no strata cache`, where, { hint: 'point --cache-from at a cache that --cache-to wrote' });
  return { records: new Map(parsed.records.map((e) => [e.key, e.record])), trees: new Map((parsed.trees ?? []).map((t) => [t.name, t])) };
}

/** The stage trees a build used, as blobs in the store, for an export to carry. */
export async function treesToExport(store: string, files: readonly string[]): Promise<CacheTree[]> {
  const out: CacheTree[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const blob = await putBlobFile(store, file);
    out.push({ name: path.basename(file), ...blob, ...(blob.size <= INLINE_TREE_BYTES ? { inline: readFileSync(blobPath(store, blob.digest)).toString('base64') } : {}) });
  }
  return out;
}

/** Writes a verified blob's bytes to `file` (atomically). */
export async function installTree(store: string, digest: string, file: string): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  copyFileSync(blobPath(store, digest), tmp);
  renameSync(tmp, file);
}

const blobIn = (dir: string, digest: string) => path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));

/** Copies (or hard-links) a store blob into a layout directory, unless it is there. */
function placeBlob(store: string, dir: string, digest: string): void {
  const to = blobIn(dir, digest);
  if (existsSync(to)) return;
  const tmp = `${to}.${process.pid}.tmp`;
  try {
    linkSync(blobPath(store, digest), tmp);
  } catch {
    copyFileSync(blobPath(store, digest), tmp);
  }
  renameSync(tmp, to);
}

/** Writes the cache to an OCI layout directory (--cache-to type=local,dest=DIR); the index is replaced last. */
export async function exportCacheLocal(store: string, dir: string, entries: readonly CacheEntry[], trees: readonly CacheTree[] = []): Promise<void> {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const { config, blobs, manifest } = await cacheManifest(store, entries, trees);
  for (const blob of blobs) placeBlob(store, dir, blob.digest);
  const configDesc = await putBlob(store, config);
  placeBlob(store, dir, configDesc.digest);
  const manifestBytes = manifest({ mediaType: CACHE_CONFIG_MEDIA, ...configDesc });
  const manifestDesc = await putBlob(store, manifestBytes);
  placeBlob(store, dir, manifestDesc.digest);
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, ...manifestDesc, annotations: { [REF_NAME]: 'buildcache' } }] };
  writeFileAtomic(path.join(dir, 'index.json'), JSON.stringify(index));
}

/**
 * A cache source over some way to bring one blob into the store, verified
 * (`fetch` may assume the store lacks it): layers as steps hit them, stage
 * trees as COPY --from asks for them (a tree that fails is only a slower
 * path, never an error).
 */
export function cacheSource(describe: string, records: ReadonlyMap<string, CacheRecord>, trees: ReadonlyMap<string, CacheTree>, fetch: (store: string, digest: string, size: number) => Promise<void>): CacheSource {
  return {
    describe,
    records,
    trees,
    async fetchTree(store, tree, file) {
      try {
        // An inline tree is stored (and so verified by its digest) from the config's own bytes.
        if (!hasBlob(store, tree.digest)) await (tree.inline !== undefined ? putBlob(store, Buffer.from(tree.inline, 'base64'), tree.digest) : fetch(store, tree.digest, tree.size));
        await installTree(store, tree.digest, file);
        return true;
      } catch {
        return false;
      }
    },
    async fetchLayer(store, layer) {
      // A store that has the plain tar already (it made the layer itself) needs nothing sent.
      if (!hasBlob(store, layer.diffId) && !hasBlob(store, layer.digest)) await fetch(store, layer.digest, layer.size);
      return { diffId: layer.diffId, ...(await plainTwin(store, layer)) };
    },
  };
}

/** Reads a cache an export left in `dir` (--cache-from type=local,src=DIR): the records now, blobs when asked. */
export function openLocalCache(dir: string): CacheSource {
  const where = path.resolve(dir);
  let index: { manifests?: Descriptor[] };
  try {
    index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as typeof index;
  } catch {
    throw new StoreError(`no cache at ${where} (no index.json)`, where, { hint: 'run a build with --cache-to type=local,dest=DIR first, or drop --cache-from' });
  }
  const top = index.manifests?.[0];
  if (!top) throw new StoreError(`the cache at ${where} is empty`, where, { hint: 'run a build with --cache-to first' });
  const manifest = JSON.parse(readFileSync(blobIn(dir, top.digest), 'utf8')) as { config: Descriptor };
  const { records, trees } = parseCacheConfig(readFileSync(blobIn(dir, manifest.config.digest)), where);
  return cacheSource(where, records, trees, async (store, digest) => {
    const file = blobIn(dir, digest);
    if (!existsSync(file)) throw new StoreError(`the cache at ${where} lacks the blob ${digest}`, where, { hint: 'the step is built instead' });
    // putBlobFile verifies the digest before anything lands under its name.
    await putBlobFile(store, file, digest);
  });
}
