/** Where the strata store lives: --store, then STRATA_STORE, then $XDG_DATA_HOME/strata. */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import path from 'node:path';

export function resolveStoreDir(flag?: string): string {
  if (flag) return path.resolve(flag);
  if (process.env.STRATA_STORE) return path.resolve(process.env.STRATA_STORE);
  const data = process.env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share');
  return path.join(data, 'strata');
}

/** The stat cache of one context directory (keyed by its absolute path). */
export function statCachePath(storeDir: string, contextRoot: string): string {
  const key = createHash('sha256').update(path.resolve(contextRoot)).digest('hex').slice(0, 32);
  return path.join(storeDir, 'context-cache', `${key}.statcache`);
}

/** Where the inputs of a Dockerfile's steps in one context are kept between builds (to explain cache misses). */
export function stepInputsPath(storeDir: string, contextRoot: string, dockerfile: string): string {
  const key = createHash('sha256').update(`${path.resolve(contextRoot)}\0${dockerfile}`).digest('hex').slice(0, 32);
  return path.join(storeDir, 'cache', 'explain', `${key}.json`);
}
