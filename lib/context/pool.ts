/**
 * The hashing worker pool: created on first use, one thread per core, and
 * reused for the life of the process (watch mode hashes through the same
 * threads on every edit). Work goes out in batches, never a task per file.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { readRecord, type HashRecord } from './hash-record.js';
import type { StatCache } from './stat-cache.js';
import type { IgnoreMatcher } from './ignore.js';
import { scanDirs, type ScannedDirs } from './scan-core.js';
import { HELPER_ROWS, verifyWithHelper } from './stat-helper.js';
import { verifyNextChunk, verifyRange, type VerifyClaims } from './walk-core.js';
import { BIG_FILE_BYTES, hashFileBatch } from './read-file.js';

let pool: Piscina | undefined;

/** The threads' code: from the CLI's bundle (scripts/bundle.mjs), the one bundled beside it; else the module tsc wrote. */
const WORKER = (import.meta.url.endsWith('.cjs') ? new URL('hash-files.cjs', import.meta.url) : new URL('../../workers/hash-files.js', import.meta.url)).href;

export function hashThreads(): number {
  const fromEnv = Number(process.env.STRATA_HASH_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/** piscina is loaded when a pool is first wanted: a build served from the stat cache never pays for it. */
const load = createRequire(import.meta.url);

function getPool(): Piscina {
  const { Piscina: PiscinaPool } = load('piscina') as typeof import('piscina');
  pool ??= new PiscinaPool({ filename: WORKER, minThreads: hashThreads(), maxThreads: hashThreads(), idleTimeout: 60_000, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
  return pool;
}

/** Starts the threads now, so they boot while the calling thread is busy walking. */
export function prestartPool(): void {
  getPool();
}

export function poolIsRunning(): boolean {
  return pool !== undefined;
}

/** Stops the worker threads (a one-shot command calls this before exiting). */
export async function closeHashPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}

/** Below this much work, starting threads costs more than it saves. */
const INLINE_FILES = 256;
const INLINE_BYTES = 8 * 1024 * 1024;
/** Batch shape measured here: >= 256 files per task; big files alone, so they spread over threads. */
const BATCH_FILES = 512;
const BATCH_BYTES = 4 * 1024 * 1024;
const BIG_FILE = BIG_FILE_BYTES;

export interface FileToHash {
  readonly path: string;
  readonly size: number;
}

function toBatches(files: readonly FileToHash[]): FileToHash[][] {
  const batches: FileToHash[][] = [];
  let current: FileToHash[] = [];
  let bytes = 0;
  for (const f of files) {
    if (f.size >= BIG_FILE) {
      batches.push([f]);
      continue;
    }
    if (current.length > 0 && (current.length >= BATCH_FILES || bytes + f.size > BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** Reads every byte of the files on the pool's threads without hashing (the benchmark's floor). */
export async function readFilesOnPool(root: string, files: readonly FileToHash[]): Promise<number> {
  const p = getPool();
  const counts = await Promise.all(toBatches(files).map((batch) => p.run({ kind: 'read', root, paths: batch.map((f) => f.path).join('\0') }) as Promise<number>));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Hashes files under root; calls `done` with each file's record as its
 * batch completes. `inline` forces the calling thread (for tests and the
 * single-thread benchmark).
 */
export async function hashFiles(
  root: string,
  files: readonly FileToHash[],
  done: (file: FileToHash, record: HashRecord) => void,
  options: { inline?: boolean } = {},
): Promise<void> {
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  if (options.inline || (files.length < INLINE_FILES && totalBytes < INLINE_BYTES)) {
    for (let start = 0; start < files.length; start += BATCH_FILES) {
      const batch = files.slice(start, start + BATCH_FILES);
      const out = hashFileBatch(root, batch.map((f) => f.path).join('\0'));
      batch.forEach((f, i) => done(f, readRecord(out, i)));
    }
    return;
  }
  const batches = toBatches(files);
  const p = getPool();
  await Promise.all(
    batches.map(async (batch) => {
      const out = (await p.run({ kind: 'hash', root, paths: batch.map((f) => f.path).join('\0') })) as ArrayBuffer;
      batch.forEach((f, i) => done(f, readRecord(out, i)));
    }),
  );
}

/** Entries a worker records before handing back the directories it did not reach. */
const SCAN_TASK_BUDGET = 4000;
/** Entries this thread records between two looks at whether the threads are up. */
const SCAN_INLINE_BUDGET = 500;

/** A directory to scan, and where it was found (opaque here: the caller's). */
export interface DirToScan {
  readonly dir: string;
  readonly origin: number;
}

/**
 * Takes a scanned result whose task listed `inputs` (their origins, in
 * order) and answers the origin of each directory it hands back.
 */
export type TakeScan = (scanned: ScannedDirs, inputs: readonly number[]) => number[];

/**
 * Scans the subtrees below `dirs` on the worker threads. Tasks go out a few
 * directories at a time (the shallowest first: they hold the most) and
 * each comes back with the directories its budget did not reach, which go
 * out again, so a lopsided tree still keeps every thread busy. Until the
 * threads are up, this thread scans too, a little at a time.
 */
export async function scanOnPool(root: string, dirs: readonly DirToScan[], matcher: IgnoreMatcher, hash: boolean, take: TakeScan): Promise<void> {
  const p = getPool();
  const threads = hashThreads();
  const started = new SharedArrayBuffer(4);
  const startedCount = new Int32Array(started);
  const queue = [...dirs];
  let inFlight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const taken = (scanned: ScannedDirs, batch: readonly DirToScan[]): DirToScan[] => {
    const origins = take(scanned, batch.map((d) => d.origin));
    return scanned.rest.map((dir, i) => ({ dir, origin: origins[i]! }));
  };
  const dispatch = (limit: number) => {
    while (queue.length && inFlight < limit) {
      const share = Math.min(32, Math.max(1, Math.ceil(queue.length / (threads * 2))));
      const batch = queue.splice(queue.length - share);
      inFlight++;
      (p.run({ kind: 'scan', root, dirs: batch.map((d) => d.dir), budget: SCAN_TASK_BUDGET, hash, patterns: matcher.patterns, started }) as Promise<ScannedDirs>)
        .then((scanned) => {
          queue.push(...taken(scanned, batch));
        }, (e: unknown) => {
          failure ??= e;
        })
        .finally(() => {
          inFlight--;
          wake?.();
        });
    }
  };
  while ((queue.length || inFlight) && !failure) {
    if (Atomics.load(startedCount, 0) === 0) {
      // Booting: one task per thread is waiting for it; this thread takes the deepest directories meanwhile.
      dispatch(threads);
      if (queue.length) {
        const batch = queue.splice(0, 1);
        const scanned = scanDirs({ root, dirs: batch.map((d) => d.dir), budget: SCAN_INLINE_BUDGET, hash }, matcher);
        queue.unshift(...taken(scanned, batch));
      }
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    dispatch(threads * 2);
    if (inFlight) await new Promise<void>((resolve) => (wake = resolve));
  }
  if (failure) {
    while (inFlight) await new Promise<void>((resolve) => (wake = resolve));
    throw failure;
  }
}

/** Up to this many rows, the stat cache is checked in the calling thread even when the threads are up. */
export const VERIFY_INLINE_ROWS = 32_768;
/**
 * Threads are started for a check only above this many rows: booting two
 * takes the two cores about as long as 25,000 lstats. Measured in a fresh
 * process: 35,000 rows 0.24-0.31 s inline against 0.33-0.40 s with threads
 * started for it; 120,000 rows 0.70-0.79 s inline against 0.50 s.
 */
export const VERIFY_BOOT_ROWS = 80_000;

/** Rows per claim when the stat cache is checked: small enough to share out evenly, big enough that claiming costs nothing. */
const VERIFY_CHUNK = 1024;

/**
 * Rows of the stat cache whose entry changed on disk (see verifyRange). A
 * big cache is shared out to the worker threads by chunks claimed from a
 * shared counter; while the threads are still booting, this thread claims
 * chunks too, yielding between them so that the pool can hand the threads
 * their tasks as soon as they are up.
 */
export async function verifyStatCache(root: string, cache: StatCache, options: { inline?: boolean; threshold?: number | undefined }): Promise<number[]> {
  const threshold = options.threshold ?? VERIFY_INLINE_ROWS;
  if (!options.inline && options.threshold === undefined && cache.count > HELPER_ROWS) {
    const changed = await verifyWithHelper(root, cache);
    if (changed) return changed;
  }
  if (options.inline || cache.count <= threshold || (options.threshold === undefined && !poolIsRunning())) {
    return [...verifyRange(root, cache, 0, cache.count)];
  }
  const claims: VerifyClaims = { counters: new SharedArrayBuffer(8), chunk: VERIFY_CHUNK };
  const counters = new Int32Array(claims.counters);
  const threads = hashThreads();
  const p = getPool();
  const parts = Array.from({ length: threads }, () => p.run({ kind: 'verify', root, cache: cache.bytes, claims }) as Promise<number[]>);
  const mine: number[] = [];
  while (Atomics.load(counters, 1) < threads && verifyNextChunk(root, cache, claims, mine)) await new Promise((resolve) => setImmediate(resolve));
  return [...mine, ...(await Promise.all(parts)).flat()];
}
