/** lib/cache: the strata store: where it lives, content-addressed blobs, cache keys and records, locks. */
export { resolveStoreDir, statCachePath, stepInputsPath, upToDatePath } from './store-location.js';
export { adoptBlobFile, blobPath, blobWriter, hasBlob, pruneBlobs, putBlob, putBlobFile, storedBlobBytes, sweepStaleTemp, tempPath, type BlobWriter, type Descriptor } from './blobs.js';
export { withStoreLock } from './lock.js';
export { duringBuild, withoutBuilds, type ExclusiveOptions } from './activity.js';
export { cacheKey, canonicalJSONOf } from './key.js';
export { cacheRecordUsage, pruneCacheRecords, readCacheRecord, writeCacheRecord, type CacheRecord, type LayerRef, type RecordPruning } from './records.js';
export { cacheMountDir, listCacheMounts, pruneCacheMounts, withCacheMountLock, type CacheMountInfo } from './mounts.js';
export { copyTarPath, flushCopyRecords, pruneCopyRecords, readCopyRecord, writeCopyRecord, type CopyRecord } from './copies.js';
export { CACHE_CONFIG_MEDIA, cacheManifest, cacheSource, exportCacheLocal, installTree, openLocalCache, parseCacheConfig, treesToExport, type CacheConfig, type CacheEntry, type CacheSource, type CacheTree } from './exchange.js';
export { diskUsage, writeFileAtomic } from './files.js';
export { blobOrigins, noteBlobOrigin } from './origins.js';
export { processAlive } from './process.js';
export { gzipMembers, gzipTwin, GZIP_MEMBER_BYTES, plainTwin, type BlobRef } from './gzip.js';
