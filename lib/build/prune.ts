/**
 * `strata cache prune --build`, as `docker builder prune`: the build cache
 * goes, the images named in the store stay whole. Everything removed is a
 * cache of something that can be made again: a step without its record is
 * a miss, a layer directory is extracted again from its blob, a COPY
 * without its kept tar copies every file. What a build running now may
 * need is left: no build runs while a prune does (withoutBuilds), and
 * the layer directories a root filesystem has mounted (a `dev --run`
 * container's), and blobs and directories made within the grace period
 * (a killed build's, or an older strata's) stay too.
 */
import { statSync } from 'node:fs';
import { blobPath, cacheRecordUsage, pruneBlobs, pruneCacheRecords, pruneCopyRecords, storedBlobBytes, withoutBuilds, type ExclusiveOptions } from '../cache/index.js';
import { StoreError } from '../errors/index.js';
import type { EventSink } from './events.js';
import { listImages, readConfig, readManifest } from '../image/index.js';
import { pruneSnapshots } from '../snapshot/index.js';

export interface PruneOptions {
  /** Cache records written this recently stay (0: all go). */
  readonly olderThanMs?: number;
  /** Records go, oldest first, only until the layers the cache alone holds come to at most this many bytes. */
  readonly keepStorageBytes?: number;
  /** Unnamed blobs and layer directories this recent stay. */
  readonly graceMs?: number;
  /** How long to wait for the builds running on the store (default: none). */
  readonly waitForBuilds?: ExclusiveOptions;
}

export interface PruneResult {
  readonly records: number;
  /** The bytes of the layers the remaining records alone name (what --keep-storage limits). */
  readonly cacheBytes: number;
  readonly blobs: { readonly removed: number; readonly bytes: number };
  readonly snapshots: { readonly removed: number; readonly bytes: number };
  readonly copies: { readonly records: number; readonly bytes: number };
}

/** A quarter of an hour: longer than a build takes to name what it wrote, short enough to matter. */
export const PRUNE_GRACE_MS = 15 * 60 * 1000;

export async function pruneBuildCache(store: string, options: PruneOptions = {}): Promise<PruneResult> {
  return withoutBuilds(store, () => pruneWithoutBuilds(store, options), options.waitForBuilds ?? { waitMs: 0 });
}

/**
 * After a build that made layers (`build.executed`; a no-change build
 * leaves the cache as it was and pays nothing here): the oldest cache
 * records go if the cache has grown past `keepBytes` (as `prune --build
 * --keep-storage`), and `onEvent` hears of it. The store's blobs are
 * counted first (a readdir): a store whose blobs, the images' included,
 * are within the size needs nothing. A build of another process on the store puts it off
 * to the next time; any other failure is said, and fails nothing: the
 * build it follows is done.
 */
export async function trimBuildCache(store: string, keepBytes: number, build: { readonly executed: number }, onEvent: EventSink): Promise<void> {
  if (build.executed === 0) return;
  try {
    if (storedBlobBytes(store) <= keepBytes) return;
    const r = await pruneBuildCache(store, { keepStorageBytes: keepBytes });
    if (r.records) onEvent({ type: 'cache-trimmed', records: r.records, bytes: r.blobs.bytes + r.snapshots.bytes, cacheBytes: r.cacheBytes });
  } catch (e) {
    if (!(e instanceof StoreError)) onEvent({ type: 'cache-trim-failed', message: (e as Error).message });
  }
}

/** The blobs (manifests, configs, layers) and layer diffIDs the images in the store name. */
function namedByImages(store: string): { blobs: Set<string>; layers: Set<string>; images: number } {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  const images = listImages(store);
  for (const image of images) {
    const manifest = readManifest(store, image.manifest);
    blobs.add(image.manifest.digest).add(manifest.config.digest);
    for (const layer of manifest.layers) blobs.add(layer.digest);
    for (const diffId of readConfig(store, manifest).rootfs.diff_ids) layers.add(diffId);
  }
  return { blobs, layers, images: images.length };
}

export interface CacheUsage {
  readonly images: { readonly count: number; readonly bytes: number };
  /** Records, and the bytes of the layers only they name: what a prune would free, and --keep-storage limits. */
  readonly buildCache: { readonly records: number; readonly bytes: number };
}

/** What the store holds for its images and for the build cache (`strata cache du`). */
export function cacheUsage(store: string): CacheUsage {
  const named = namedByImages(store);
  let bytes = 0;
  for (const digest of named.blobs) bytes += statSync(blobPath(store, digest), { throwIfNoEntry: false })?.size ?? 0;
  const records = cacheRecordUsage(store, named.blobs);
  return { images: { count: named.images, bytes }, buildCache: { records: records.records, bytes: records.cacheBytes } };
}

async function pruneWithoutBuilds(store: string, options: PruneOptions): Promise<PruneResult> {
  const graceMs = options.graceMs ?? PRUNE_GRACE_MS;
  const { blobs: keepBlobs, layers: keepLayers } = namedByImages(store);
  const records = pruneCacheRecords(store, { olderThanMs: options.olderThanMs ?? 0, keepBytes: options.keepStorageBytes, named: keepBlobs });
  for (const layer of records.keptLayers) {
    keepBlobs.add(layer.digest);
    keepLayers.add(layer.diffId);
  }
  // (What each COPY keeps is its latest run's: a prune to a size leaves it, for the next build's sake.)
  const copies = options.keepStorageBytes === undefined ? pruneCopyRecords(store) : { records: 0, bytes: 0 };
  const blobs = pruneBlobs(store, keepBlobs, graceMs);
  const snapshots = await pruneSnapshots(store, keepLayers, graceMs);
  return { records: records.removed, cacheBytes: records.cacheBytes, blobs, snapshots, copies };
}
