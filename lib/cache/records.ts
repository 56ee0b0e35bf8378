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

/** A record on disk: when it was written, and its layer (null for a step that changed nothing; undefined while being written, or damaged). */
interface StoredRecord {
  readonly file: string;
  readonly writtenMs: number;
  readonly layer: LayerRef | null | undefined;
}

/** The store's cache records, oldest first. */
function storedRecords(store: string): StoredRecord[] {
  const dir = path.join(store, 'cache', 'keys');
  const out: StoredRecord[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const file = path.join(dir, name);
    let layer: LayerRef | null | undefined;
    try {
      layer = (JSON.parse(readFileSync(file, 'utf8')) as CacheRecord).layer;
    } catch {
      layer = undefined; // (being written, or damaged: a miss either way)
    }
    out.push({ file, writtenMs: statSync(file).mtimeMs, layer });
  }
  return out.sort((a, b) => a.writtenMs - b.writtenMs);
}

export interface RecordPruning {
  /** Records written this recently stay (0: all may go). */
  readonly olderThanMs: number;
  /**
   * Stop once the layers the remaining records name, leaving out those in
   * `named` (the images'), come to at most this many bytes: `docker builder
   * prune --keep-storage`.
   */
  readonly keepBytes?: number | undefined;
  readonly named?: ReadonlySet<string>;
}

/** How many of `records` name each layer not in `named` (the images'), and those layers' bytes. */
function layerUse(records: readonly StoredRecord[], named: ReadonlySet<string>): { users: Map<string, number>; cacheBytes: number } {
  const users = new Map<string, number>();
  let cacheBytes = 0;
  for (const { layer } of records) {
    if (!layer || named.has(layer.digest)) continue;
    const n = users.get(layer.digest) ?? 0;
    if (n === 0) cacheBytes += layer.size;
    users.set(layer.digest, n + 1);
  }
  return { users, cacheBytes };
}

/** The store's cache records, and the bytes of the layers they alone name (those not in `named`, the images'). */
export function cacheRecordUsage(store: string, named: ReadonlySet<string>): { records: number; cacheBytes: number } {
  const records = storedRecords(store);
  return { records: records.length, cacheBytes: layerUse(records, named).cacheBytes };
}

/**
 * Forgets cache records, oldest first (a step whose record is gone is a
 * miss, nothing worse); returns how many went, the layers of those that
 * stay, and the bytes of layers the remaining records alone name.
 */
export function pruneCacheRecords(store: string, pruning: RecordPruning): { removed: number; keptLayers: LayerRef[]; cacheBytes: number } {
  const named = pruning.named ?? new Set<string>();
  const records = storedRecords(store);
  const use = layerUse(records, named);
  const users = use.users;
  let cacheBytes = use.cacheBytes;
  let removed = 0;
  const keptLayers: LayerRef[] = [];
  const now = Date.now();
  for (const { file, writtenMs, layer } of records) {
    const over = pruning.keepBytes === undefined || cacheBytes > pruning.keepBytes;
    if (now - writtenMs >= pruning.olderThanMs && over) {
      rmSync(file, { force: true });
      removed++;
      if (layer && !named.has(layer.digest)) {
        const n = users.get(layer.digest)! - 1;
        users.set(layer.digest, n);
        if (n === 0) cacheBytes -= layer.size;
      }
      continue;
    }
    if (layer) keptLayers.push(layer);
  }
  return { removed, keptLayers, cacheBytes };
}
