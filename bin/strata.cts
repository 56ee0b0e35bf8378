#!/usr/bin/env node
/**
 * The strata command. It runs the bundled CLI (scripts/bundle.mjs: one
 * CommonJS file) with a V8 code cache kept in the user's cache directory,
 * so a start after the first skips compiling what the run that made the
 * cache compiled: measured here on a no-change build, 170 ms from the ES
 * module bundle, 150 ms from the CommonJS one, 125 ms with its cache,
 * against 72 ms for `node -e 0`. Each command keeps its own cache: one made
 * by `strata hash` holds none of the build engine, which a build would then
 * compile on every start (4 ms of 195 measured). `strata build` first
 * asks the no-change answer (quick.cjs, with a cache of its own: 4 ms of
 * 107). Without a fresh bundle (a bare tsc after a change) the modules tsc
 * wrote run instead, the same code. This file is CommonJS itself: Node's
 * ES module loader, started for an ES module entry, cost 11 ms of a 125 ms
 * no-change build.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

type Main = (typeof import('../lib/cli/main.js'))['main'];
type QuickMain = (typeof import('../lib/cli/quick.js'))['quickMain'];

const dist = path.join(__dirname, '..');
const bundlePath = path.join(dist, 'lib', 'strata', 'main.cjs');

/** Where code caches live: regenerated when missing, so a cache directory rather than the store. */
function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'strata');
}

/** The commands that get a cache of their own; anything else shares one. */
const CACHED_COMMANDS = new Set(['build', 'dev', 'plan', 'check', 'hash', 'image', 'history', 'cache']);

/** The cache's name without its command: the same for every command of one bundle on one Node. */
function cacheStem(bundle: Stats): string {
  return `-${process.version}-${process.arch}-${bundle.size}-${Math.floor(bundle.mtimeMs)}.v8`;
}

/** Writes the cache atomically and drops caches of other bundles or Node versions; a read-only home only costs the speed. */
function saveCodeCache(file: string, stem: string, data: Buffer): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, data);
    renameSync(temp, file);
    for (const name of readdirSync(path.dirname(file))) {
      if (name.startsWith('cli-') && !name.endsWith(stem) && !name.endsWith('.tmp')) rmSync(path.join(path.dirname(file), name), { force: true });
    }
  } catch {
    // (no cache next time)
  }
}

/**
 * Loads a bundle as Node loads a CommonJS module, but compiled with its
 * cache (`cli-NAME-STEM`) when there is one. V8 checks a cache against the
 * source's length and its own version and flags, not the content, so the
 * stem carries the CLI bundle's size and time (every bundle is written in
 * one run) and the Node version.
 */
function loadBundle<T>(file: string, name: string, stem: string): { exports: T; saveCache: () => void } {
  const cacheFile = path.join(cacheDir(), `cli-${name}${stem}`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const source = readFileSync(file, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} as T };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, path.dirname(file));
  const stale = cachedData === undefined || script.cachedDataRejected === true;
  // Made after the command ran, the cache holds every function it compiled, not only the top level.
  return { exports: module.exports, saveCache: () => stale && saveCodeCache(cacheFile, stem, script.createCachedData()) };
}

async function run(): Promise<number> {
  const bundle = statSync(bundlePath, { throwIfNoEntry: false });
  const compiled = statSync(path.join(dist, '.tsbuildinfo'), { throwIfNoEntry: false });
  if (!bundle || (compiled && bundle.mtimeMs < compiled.mtimeMs)) {
    const { main } = (await import('../lib/cli/main.js')) as { main: Main };
    return main(process.argv.slice(2));
  }
  const stem = cacheStem(bundle);
  const command = process.argv[2];
  let quick;
  if (command === 'build') {
    // A build with nothing to do is answered from a bundle a tenth the size (lib/cli/quick.ts).
    const quickBundle = loadBundle<{ quickMain: QuickMain }>(path.join(path.dirname(bundlePath), 'quick.cjs'), 'quick', stem);
    quick = await quickBundle.exports.quickMain(process.argv.slice(3));
    if (quick.code !== undefined) {
      // (Its cache is made by a run that answered, so that it holds the answer's functions too.)
      quickBundle.saveCache();
      // Every line is written (stdout and stderr are synchronous on Linux, even to a pipe), and leaving at
      // once spares the teardown of a natural exit: 6-8 ms here (hyperfine, 60 runs: 110 against 104 ms).
      process.exit(quick.code);
    }
  }
  const { exports: { main }, saveCache } = loadBundle<{ main: Main }>(bundlePath, command && CACHED_COMMANDS.has(command) ? command : 'other', stem);
  const code = await main(process.argv.slice(2), { quick });
  saveCache();
  return code;
}

void run().then((code) => {
  process.exitCode = code;
});
