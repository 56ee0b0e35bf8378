/**
 * A stat cache check started before the command that needs it has even
 * loaded: a CLI build spends some 40-50 ms compiling the build engine's
 * modules, and the strata-stat helper takes about as long to lstat every
 * entry of a big context. Started first, the helper runs while they
 * compile; hashContext then takes the cache and the check as its own, if
 * they are for the same context and the same cache file, unchanged since.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileIdentity, loadStatCache, type LoadResult } from './stat-cache.js';
import { verifyInProcess, verifyWithHelper } from './stat-helper.js';
import type { ContextCheck } from './unchanged.js';

export interface EarlyCheck {
  readonly loaded: LoadResult;
  /** The helper's answer: rows that changed on disk, or undefined if it failed (check them another way). */
  readonly changed: Promise<number[] | undefined>;
  /** When the check began: the new cache's moment must not be later than its lstats. */
  readonly startedAtNs: bigint;
}

/**
 * Above this many rows a check is started early. Below it, the rows cost
 * less checked one by one in Node when the hash needs them (2,500 rows
 * took 23 ms that way at start-up).
 */
const EARLY_HELPER_ROWS = 512;

/**
 * Up to this many rows strata-stat.node checks them here and now instead:
 * the helper's spawn alone holds this thread some 15 ms (a fork of Node
 * and child_process loaded), the module's lstats 4 ms for 2,300 rows and
 * 57 ms for 35,000 (two threads), when its lstats would otherwise run
 * beside the compiling. `strata hash` of 2,300 files: see the commit.
 */
const EARLY_IN_PROCESS_ROWS = 8192;

let pending: (EarlyCheck & { readonly root: string; readonly file: string; readonly identity: string }) | undefined;

/** Size, mtime and inode: a cache file rewritten in between is not the one that was checked. */
function identityOf(file: string): string | undefined {
  const st = statSync(file, { bigint: true, throwIfNoEntry: false });
  return st && fileIdentity(st);
}

/**
 * Loads the stat cache of `root` from `file` and checks it, when it has
 * more than EARLY_HELPER_ROWS rows: strata-stat.node here and now, or the
 * helper beside the compiling for a big one (where neither was built, the
 * hash checks the rows itself, from the cache loaded here); or takes the
 * rows that `done` found, the check the no-change answer made of the same file
 * (lib/cli/quick.ts) before it found the build must run. Never throws: a
 * check that cannot start is simply done later, as without this.
 */
export function startStatCacheCheck(root: string, file: string, done?: ContextCheck): void {
  try {
    const absRoot = path.resolve(root);
    const identity = identityOf(file);
    if (!identity) return;
    const reuse = done && done.root === absRoot && done.file === file && done.identity === identity ? done : undefined;
    const startedAtNs = reuse?.startedAtNs ?? BigInt(Date.now()) * 1_000_000n;
    const loaded = loadStatCache(file);
    if (!loaded.cache || (!reuse && loaded.cache.count <= EARLY_HELPER_ROWS)) return;
    const here = reuse ? [...reuse.changed] : loaded.cache.count <= EARLY_IN_PROCESS_ROWS ? verifyInProcess(absRoot, loaded.cache) : undefined;
    const changed = here ? Promise.resolve(here) : verifyWithHelper(absRoot, loaded.cache).catch(() => undefined);
    pending = { root: absRoot, file, identity, loaded, changed, startedAtNs };
  } catch {
    pending = undefined;
  }
}

/** The check started for this context and cache file, if any (once: it is handed over). */
export function takeEarlyCheck(root: string, file: string): EarlyCheck | undefined {
  const early = pending;
  pending = undefined;
  if (!early || early.root !== path.resolve(root) || early.file !== file || identityOf(file) !== early.identity) return undefined;
  return early;
}
