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

/**
 * Where the last build of a Dockerfile in one context is kept, to answer
 * the same build again (lib/build/up-to-date.ts). Named by FNV-1a, not
 * sha256: the record says which context and Dockerfile it is for, so a
 * clash costs a build, and the check that reads it never loads node:crypto
 * (some 6 ms of a no-change build that takes 90).
 */
export function upToDatePath(storeDir: string, contextRoot: string, dockerfile: string): string {
  return path.join(storeDir, 'cache', 'up-to-date', `${fnv1a64(`${path.resolve(contextRoot)}\0${dockerfile}`)}.json`);
}

function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash.toString(16).padStart(16, '0');
}
