/**
 * The key index: one small JSON record per cache key, naming the layer the
 * step produced (or none, for a step that changed nothing). A record is
 * written only after its layer blob is in the store, atomically, so a
 * killed build never leaves a record that points at nothing; a record
 * whose blob has gone is a miss, not an error.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { hasBlob } from './blobs.js';

export interface LayerRef {
  readonly digest: string;
  readonly diffId: string;
  readonly size: number;
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
