/**
 * Piscina worker for the context engine: scans directories (listing,
 * hashing what it lists), hashes batches of files, checks stat cache rows,
 * or (for the benchmark's floor) only reads files. Results go back packed,
 * never as an object per file. Imports only the modules it runs, not
 * lib/context's index, so a thread starts fast.
 */
import { Piscina } from 'piscina';
import { compileIgnore, type IgnoreMatcher } from '../lib/context/ignore.js';
import { hashFileBatch, readFileBatch } from '../lib/context/read-file.js';
import { scanDirs, type ScanTask, type ScannedDirs } from '../lib/context/scan-core.js';
import { decodeStatCache } from '../lib/context/stat-cache.js';
import { verifyClaimed, type VerifyClaims } from '../lib/context/walk-core.js';

export type WorkerTask =
  | { readonly kind: 'hash' | 'read'; readonly root: string; /** NUL-joined context paths. */ readonly paths: string }
  | ({ readonly kind: 'scan'; readonly patterns: readonly string[]; readonly started: SharedArrayBuffer } & ScanTask)
  | { readonly kind: 'verify'; readonly root: string; readonly cache: SharedArrayBuffer; readonly claims: VerifyClaims };

let matcherKey = '';
let matcher: IgnoreMatcher = compileIgnore([]);

function matcherFor(patterns: readonly string[]): IgnoreMatcher {
  const key = patterns.join('\n');
  if (key !== matcherKey) {
    matcher = compileIgnore(patterns);
    matcherKey = key;
  }
  return matcher;
}

export default function run(task: WorkerTask): ArrayBuffer | number | number[] | ScannedDirs {
  switch (task.kind) {
    case 'verify':
      // The coordinator verified the checksum of these very bytes (shared, not copied).
      return verifyClaimed(task.root, decodeStatCache(task.cache, true), task.claims);
    case 'hash':
      return Piscina.move(hashFileBatch(task.root, task.paths)) as unknown as ArrayBuffer;
    case 'read':
      return readFileBatch(task.root, task.paths);
    case 'scan': {
      // The coordinator stops scanning in its own thread once the threads are at work.
      Atomics.add(new Int32Array(task.started), 0, 1);
      return scanDirs(task, matcherFor(task.patterns));
    }
  }
}
