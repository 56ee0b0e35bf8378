/**
 * What `build` and `hash` start before their modules are loaded: the
 * check of a big context's stat cache (early-check.ts in lib/context),
 * which needs only the context and the store. The options are the
 * commands' own, so that the context is found exactly as they find it.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveStoreDir, statCachePath } from '../cache/index.js';
import { startStatCacheCheck, type ContextCheck } from '../context/index.js';

export const BUILD_OPTIONS = {
  file: { type: 'string', short: 'f' },
  tag: { type: 'string', short: 't', multiple: true },
  'build-arg': { type: 'string', multiple: true },
  'no-cache': { type: 'boolean' },
  target: { type: 'string' },
  progress: { type: 'string' },
  output: { type: 'string', short: 'o' },
  store: { type: 'string' },
  snapshotter: { type: 'string' },
  secret: { type: 'string', multiple: true },
  jobs: { type: 'string' },
  network: { type: 'string' },
  label: { type: 'string', multiple: true },
  iidfile: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  platform: { type: 'string' },
  explain: { type: 'boolean' },
  pull: { type: 'boolean' },
  push: { type: 'boolean' },
  'insecure-registry': { type: 'string', multiple: true },
  'cache-to': { type: 'string', multiple: true },
  'cache-from': { type: 'string', multiple: true },
} as const;

export const HASH_OPTIONS = {
  file: { type: 'string', short: 'f' },
  'ignore-file': { type: 'string' },
  'no-stat-cache': { type: 'boolean' },
  json: { type: 'boolean' },
  store: { type: 'string' },
  bench: { type: 'boolean' },
  target: { type: 'string' },
  'build-arg': { type: 'string', multiple: true },
} as const;

/**
 * Starts what `command` will need first, if its arguments say where (a bad
 * argument is left for the command to report); `done`: the check of the
 * context that the no-change answer made already.
 */
export function startEarly(command: string, argv: readonly string[], done?: ContextCheck): void {
  let context: string | undefined;
  let store: string | undefined;
  try {
    if (command === 'build') {
      const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: BUILD_OPTIONS });
      if (positionals.length !== 1) return;
      [context, store] = [positionals[0], values.store];
    } else if (command === 'hash') {
      const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: HASH_OPTIONS });
      if (values['no-stat-cache'] || values.bench) return;
      [context, store] = [positionals[0] ?? '.', values.store];
    }
  } catch {
    return;
  }
  if (context === undefined) return;
  const contextDir = path.resolve(context);
  startStatCacheCheck(contextDir, statCachePath(resolveStoreDir(store), contextDir), done);
}
