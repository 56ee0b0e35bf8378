/**
 * Piscina worker for the context engine: walks subtrees, hashes batches of
 * files, or (for the benchmark's floor) only reads them. Results go back
 * packed, with their buffers transferred, never as an object per file.
 * Imports only the modules it runs, not lib/context's index, so a thread
 * starts fast.
 */
import { Piscina } from 'piscina';
import { compileIgnore, type IgnoreMatcher } from '../lib/context/ignore.js';
import { hashFileBatch, hashWalkedFiles, readFileBatch } from '../lib/context/read-file.js';
import { decodeStatCache } from '../lib/context/stat-cache.js';
import { packRecords, verifyClaimed, walkBelow, type PackedRecords, type StatRecord, type VerifyClaims } from '../lib/context/walk-core.js';

export type WorkerTask =
  | { readonly kind: 'hash' | 'read'; readonly root: string; /** NUL-joined context paths. */ readonly paths: string }
  | {
      readonly kind: 'walk';
      readonly root: string;
      readonly dirs: readonly string[];
      readonly patterns: readonly string[];
      /** Also hash the files found (a cold run): one pass over each subtree instead of two. */
      readonly hash: boolean;
    }
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

export default function run(task: WorkerTask): ArrayBuffer | number | PackedRecords | number[] | (PackedRecords & { hashes: ArrayBuffer }) {
  switch (task.kind) {
    case 'verify':
      // The coordinator verified the checksum of these very bytes (shared, not copied).
      return verifyClaimed(task.root, decodeStatCache(task.cache, true), task.claims, true);
    case 'hash':
      return Piscina.move(hashFileBatch(task.root, task.paths)) as unknown as ArrayBuffer;
    case 'read':
      return readFileBatch(task.root, task.paths);
    case 'walk': {
      const records: StatRecord[] = [];
      walkBelow(task.root, task.dirs, matcherFor(task.patterns), (r) => records.push(r));
      // Structured clone copies the (small) buffers: Piscina.move only transfers a top-level value.
      return task.hash ? { ...packRecords(records), hashes: hashWalkedFiles(task.root, records) } : packRecords(records);
    }
  }
}
