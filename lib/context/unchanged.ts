/**
 * Whether a context is still exactly as one stat cache file describes it:
 * the file is the one named (its id), and every entry it lists, directories
 * included, lstats as it did then and is not racily clean. A directory that
 * gained or lost an entry has a new mtime, so nothing needs listing again.
 * This is the whole of a no-change check, without the tree, the digests or
 * the worker threads: what `strata build` asks before it loads the engine.
 */
import { loadStatCacheNamed } from './stat-cache.js';
import { verifyInProcess, verifyWithHelperSync } from './stat-helper.js';
import { verifyRange } from './walk-core.js';

/**
 * Without strata-stat.node, above this many rows the strata-stat helper
 * checks them: starting it costs some 15 ms, and a process this young
 * lstats at about 10 µs an entry (2,300 rows: 120 ms for the whole
 * command with it, 135 without).
 */
const SYNC_HELPER_ROWS = 1024;

/**
 * What a check found: the rows of the cache file (as `identity` names it)
 * whose entries moved. A build that follows starts from it rather than
 * lstat-ing them all again (startStatCacheCheck).
 */
export interface ContextCheck {
  readonly root: string;
  readonly file: string;
  readonly identity: string;
  readonly changed: readonly number[];
  /** When the lstats began (ns since the epoch). */
  readonly startedAtNs: bigint;
}

/** The check of `root` against the stat cache `statCacheFile` named `id`; undefined if the file is not that cache. */
export function checkContext(root: string, statCacheFile: string, id: string): ContextCheck | undefined {
  const named = loadStatCacheNamed(statCacheFile, id);
  if (!named) return undefined;
  const { cache, identity } = named;
  const startedAtNs = BigInt(Date.now()) * 1_000_000n;
  const changed = verifyInProcess(root, cache) ?? (cache.count > SYNC_HELPER_ROWS ? verifyWithHelperSync(root, cache) : undefined) ?? [...verifyRange(root, cache, 0, cache.count)];
  return { root, file: statCacheFile, identity, changed, startedAtNs };
}
