/**
 * Builds and prunes of one store kept apart. A build that finds an old
 * cache record names that record's blob in the image it writes; a prune
 * between the two would leave the image naming a blob that is gone. So a
 * build announces itself with a file of its own under `builds/` for as
 * long as it runs, and a prune holds the `prune` lock and waits until no
 * build is announced. Each side writes its own mark before it looks for
 * the other's, so they can never both go ahead: a build that sees the
 * prune's lock withdraws and waits for it to go; the prune, which is
 * quick, never withdraws. Marks of processes that are gone are ignored
 * and removed, so a killed build or prune blocks nothing.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, StoreError } from '../errors/index.js';
import { lockOwner, storeWriteError, withStoreLock } from './lock.js';
import { processAlive } from './process.js';

const buildsDir = (store: string) => path.join(store, 'builds');
const PRUNE_LOCK = 'prune';
/** How long a build waits for a prune before it gives up (a prune takes seconds, or waits for other builds). */
const BUILD_WAIT_MS = 10 * 60 * 1000;

let announced = 0;

/** The pid in a mark file (its name starts with it), or NaN. */
const ownerOf = (name: string) => Number(name.split('-')[0]);

function pruneRunning(store: string): number | undefined {
  const owner = lockOwner(store, PRUNE_LOCK);
  // A lock whose owner is gone counts for nothing (the next prune takes it over).
  return owner !== undefined && Number.isInteger(owner) && owner > 0 && processAlive(owner) ? owner : undefined;
}

function announce(store: string): string {
  const file = path.join(buildsDir(store), `${process.pid}-${++announced}`);
  try {
    mkdirSync(store, { recursive: true });
    try {
      // (Not recursive: on a read-only filesystem that says ENOENT, where this says EROFS.)
      mkdirSync(buildsDir(store));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    closeSync(openSync(file, 'wx', 0o644));
  } catch (e) {
    throw storeWriteError(store, e);
  }
  return file;
}

/** Runs a build's work with the store kept safe from a prune until it is done (waiting for one that runs now). */
export async function duringBuild<T>(store: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + BUILD_WAIT_MS;
  let mark: string;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    mark = announce(store);
    const pruner = pruneRunning(store);
    if (pruner === undefined) break;
    rmSync(mark, { force: true });
    if (signal?.aborted) throw new CancelledError('the build was cancelled while it waited for strata cache prune', { hint: 'it was interrupted (Ctrl-C, SIGTERM, or a newer build replacing it)' });
    if (Date.now() > deadline) {
      throw new StoreError(`the store is being pruned by process ${pruner}`, store, { hint: 'wait for strata cache prune to finish, or stop it, and build again' });
    }
    await sleep(wait);
  }
  try {
    return await fn();
  } finally {
    rmSync(mark, { force: true });
  }
}

/** The pids of the builds running on the store now (marks of processes that are gone are removed). */
function runningBuilds(store: string): number[] {
  let names: string[];
  try {
    names = readdirSync(buildsDir(store));
  } catch {
    return [];
  }
  const pids = new Set<number>();
  for (const name of names) {
    const pid = ownerOf(name);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) pids.add(pid);
    else rmSync(path.join(buildsDir(store), name), { force: true });
  }
  return [...pids];
}

export interface ExclusiveOptions {
  /** How long to wait for the builds running now to finish. */
  readonly waitMs: number;
  /** Told once, when there are builds to wait for. */
  readonly onWait?: (pids: readonly number[]) => void;
}

/** Runs `fn` (a prune) when no build runs on the store, and keeps new builds waiting until it is done. */
export async function withoutBuilds<T>(store: string, fn: () => T | Promise<T>, options: ExclusiveOptions): Promise<T> {
  // No store yet: no build has run on it, and a prune has nothing to remove (nor any reason to make one).
  if (!existsSync(store)) return fn();
  return withStoreLock(store, PRUNE_LOCK, async () => {
    const deadline = Date.now() + options.waitMs;
    let told = false;
    for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
      const builds = runningBuilds(store);
      if (builds.length === 0) break;
      if (Date.now() > deadline) {
        throw new StoreError(`a build is running on the store (process ${builds.join(', ')})`, store, { hint: 'prune when it has finished (a strata dev --watch builds on every edit: prune between two)' });
      }
      if (!told) options.onWait?.(builds);
      told = true;
      await sleep(wait);
    }
    return fn();
  }, options.waitMs + 30_000);
}
