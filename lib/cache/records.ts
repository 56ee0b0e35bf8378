/**
 * The key index: one small JSON record per cache key, naming the layer the
 * step produced (or none, for a step that changed nothing). A record is
 * written only after its layer blob is in the store, atomically, so a
 * killed build never leaves a record that points at nothing; a record
 * whose blob has gone is a miss, not an error.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { hasBlob } from './blobs.js';

export interface LayerRef {
  readonly digest: string;
  readonly diffId: string;
  readonly size: number;
  /**
   * A layer this build made whose tar is still being written (digest and
   * diffID still ''): the snapshotter's name for its files. Never in a
   * record: it is gone once the diffID is known.
   */
  readonly snapshot?: string;
}

export interface CacheRecord {
  readonly layer: LayerRef | null;
  readonly createdBy: string;
  readonly created: string;
}

function recordPath(store: string, key: string): string {
  return path.join(store, 'cache', 'keys', key.replace(/^sha256:/, ''));
}

export function readCacheRecord(store: string, key: string): CacheRecord | undefined {
  let record: CacheRecord;
  try {
    record = JSON.parse(readFileSync(recordPath(store, key), 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
  if (record.layer && !hasBlob(store, record.layer.digest)) return undefined;
  return record;
}

export function writeCacheRecord(store: string, key: string, record: CacheRecord): void {
  const file = recordPath(store, key);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(record));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * Forgets the cache records written more than `olderThanMs` ago (a step
 * whose record is gone is a miss, nothing worse); returns how many went and
 * the layers of those that stay.
 */
export function pruneCacheRecords(store: string, olderThanMs: number): { removed: number; keptLayers: LayerRef[] } {
  const dir = path.join(store, 'cache', 'keys');
  let removed = 0;
  const keptLayers: LayerRef[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const file = path.join(dir, name);
    if (Date.now() - statSync(file).mtimeMs >= olderThanMs) {
      rmSync(file, { force: true });
      removed++;
      continue;
    }
    try {
      const record = JSON.parse(readFileSync(file, 'utf8')) as CacheRecord;
      if (record.layer) keptLayers.push(record.layer);
    } catch {
      // (being written, or damaged: a miss either way)
    }
  }
  return { removed, keptLayers };
}
