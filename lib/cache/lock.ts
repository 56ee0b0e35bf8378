/**
 * A lock file for read-modify-write updates of the store (the image index):
 * created with O_EXCL, holding the owner's pid; a lock whose owner is gone
 * is taken over, so a killed strata never wedges the store.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../errors/index.js';
import { processAlive } from './process.js';

/** The error for a store that cannot be written at all (before anything in it was changed). */
export function storeWriteError(store: string, e: unknown): StoreError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EROFS' ? 'its filesystem is read-only' : code === 'EACCES' ? 'permission denied' : code;
  return new StoreError(`cannot write to the store (${why})`, store, { cause: e, hint: 'give a store you can write to (--store DIR or STRATA_STORE); nothing in it was changed' });
}

const lockFile = (store: string, name: string) => path.join(store, `${name}.lock`);

/** The pid that holds the store's lock `name` (NaN while its owner is still writing it), or undefined if nobody does. */
export function lockOwner(store: string, name: string): number | undefined {
  try {
    return Number(readFileSync(lockFile(store, name), 'utf8').trim() || 'NaN');
  } catch {
    return undefined;
  }
}

export async function withStoreLock<T>(store: string, name: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const file = lockFile(store, name);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storeWriteError(store, e);
      const owner = lockOwner(store, name);
      if (owner === undefined) continue; // released between our attempt and the read: try again at once
      if (Number.isInteger(owner) && !processAlive(owner)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new StoreError(`the store is locked by process ${owner}`, store, { hint: `wait for it to finish, or remove ${file} if no strata is running` });
      }
      await sleep(wait);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
