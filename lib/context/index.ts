/** lib/context: what is in a build context, and its digests. */
import { readdirSync } from 'node:fs';
import { findIgnoreFile } from './ignore-file.js';

export { findIgnoreFile, loadIgnoreFile } from './ignore-file.js';
export { compileIgnore, parseIgnoreFile, goClean, IgnorePatternError, type IgnoreMatcher } from './ignore.js';
export {
  hashContext, updateContext, persistStatCache, contextDirectories,
  type HashedContext, type ContextOptions, type ContextStats, type HashProgress, type UpdateResult,
} from './context.js';
export { selectSources, type SourceSelector, type Selection } from './select.js';
export { closeHashPool, hashThreads } from './pool.js';
export { startStatCacheCheck } from './early-check.js';
export { checkContext, type ContextCheck } from './unchanged.js';
export { walkEntries, type Entry, type EntryKind } from './tree.js';
export { xxh128, xxh128Stream, type DigestStream } from './xxhash.js';
export { RACY_MARGIN_NS } from './stat-cache.js';
export { benchmarkHashing, type BenchReport, type BenchRow } from './bench.js';

export interface ContextSummary {
  readonly ignoreFile: string | undefined;
  readonly topLevelNames: ReadonlySet<string>;
}

/** The cheap facts `strata check` needs: the ignore file and the top-level names. */
export function summarizeContext(contextDir: string, dockerfilePath: string | undefined): ContextSummary {
  return {
    ignoreFile: findIgnoreFile(contextDir, dockerfilePath),
    topLevelNames: new Set(readdirSync(contextDir)),
  };
}
export { contentChanged, fileDigest } from './probe.js';
