/** lib/context: what is in a build context. */
import { readdirSync } from 'node:fs';
import { findIgnoreFile } from './ignore-file.js';

export { findIgnoreFile } from './ignore-file.js';
export { compileIgnore, parseIgnoreFile, goClean, IgnorePatternError, type IgnoreMatcher } from './ignore.js';

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
