/**
 * Cache mounts (`RUN --mount=type=cache`): directories that persist in the
 * store across builds (`<store>/cache/mounts/<name>`), bound into RUN
 * steps, never part of a layer or a cache key. A cache is named by its id
 * (the target path when no id is given); `meta.json` beside its `data`
 * directory keeps the id for `strata cache ls`.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempPath } from './blobs.js';
import { diskUsage } from './files.js';
import { withStoreLock } from './lock.js';

export interface CacheMountInfo {
  readonly id: string;
  readonly bytes: number;
  readonly files: number;
  /** When a build last used it (ISO time). */
  readonly lastUsed: string;
}

const mountsDir = (store: string) => path.join(store, 'cache', 'mounts');
const nameOf = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 24);

/**
 * The data directory of the cache `id`, made on first use with `mode`,
 * `uid` and `gid` (BuildKit's defaults: 0755, root) and the files `seed`
 * puts there, and marked used now.
 */
export function cacheMountDir(store: string, id: string, owner: { mode?: number | undefined; uid?: number | undefined; gid?: number | undefined } = {}, seed?: (data: string) => void): string {
  const dir = path.join(mountsDir(store), nameOf(id));
  const data = path.join(dir, 'data');
  if (!existsSync(data)) {
    const tmp = tempPath(store, 'cachemount');
    mkdirSync(path.join(tmp, 'data'), { recursive: true });
    chmodSync(path.join(tmp, 'data'), owner.mode ?? 0o755);
    try {
      chownSync(path.join(tmp, 'data'), owner.uid ?? 0, owner.gid ?? 0);
    } catch {
      // Not root: the cache stays ours.
    }
    seed?.(path.join(tmp, 'data'));
    writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify({ id }) + '\n');
    mkdirSync(mountsDir(store), { recursive: true });
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another build made it first
    }
  }
  const now = new Date();
  utimesSync(path.join(dir, 'meta.json'), now, now);
  return data;
}

/** Runs `fn` holding the cache's lock (sharing=locked): other builds, in this process or another, wait. */
export function withCacheMountLock<T>(store: string, id: string, fn: () => Promise<T>, timeoutMs = 24 * 3600 * 1000): Promise<T> {
  mkdirSync(mountsDir(store), { recursive: true });
  return withStoreLock(store, path.join('cache', 'mounts', `${nameOf(id)}`), fn, timeoutMs);
}

export function listCacheMounts(store: string): CacheMountInfo[] {
  let names: string[];
  try {
    names = readdirSync(mountsDir(store));
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{24}$/.test(n)).flatMap((name) => {
    const dir = path.join(mountsDir(store), name);
    try {
      const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { id: string };
      return [{ id: meta.id, ...diskUsage(path.join(dir, 'data')), lastUsed: lstatSync(path.join(dir, 'meta.json')).mtime.toISOString() }];
    } catch {
      return [];
    }
  }).sort((a, b) => a.id.localeCompare(b.id));
}

/** Empties the store of cache mounts; returns what was removed. Each is taken under its lock, so none in use by a locked step goes. */
export async function pruneCacheMounts(store: string): Promise<CacheMountInfo[]> {
  const all = listCacheMounts(store);
  for (const info of all) {
    await withCacheMountLock(store, info.id, async () => {
      const dir = path.join(mountsDir(store), nameOf(info.id));
      const doomed = tempPath(store, 'prune');
      renameSync(dir, doomed); // gone from view at once; the removal may take a while
      rmSync(doomed, { recursive: true, force: true });
    });
  }
  return all;
}
