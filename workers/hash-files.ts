/**
 * Piscina worker for the context engine: walks subtrees, hashes batches of
 * files, or (for the benchmark's floor) only reads them. Results go back
 * packed, with their buffers transferred, never as an object per file.
 * Imports only the modules it runs, not lib/context's index, so a thread
 * starts fast.
 */
import { Piscina } from 'piscina';
import { compileIgnore, type IgnoreMatcher } from '../lib/context/ignore.js';
import { hashFileBatch, readFileBatch } from '../lib/context/read-file.js';
import { packRecords, walkBelow, type PackedRecords, type StatRecord } from '../lib/context/walk-core.js';

export type WorkerTask =
  | { readonly kind: 'hash' | 'read'; readonly root: string; /** NUL-joined context paths. */ readonly paths: string }
  | { readonly kind: 'walk'; readonly root: string; readonly dirs: readonly string[]; readonly patterns: readonly string[] };

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

export default function run(task: WorkerTask): ArrayBuffer | number | PackedRecords {
  switch (task.kind) {
    case 'hash':
      return Piscina.move(hashFileBatch(task.root, task.paths)) as unknown as ArrayBuffer;
    case 'read':
      return readFileBatch(task.root, task.paths);
    case 'walk': {
      const records: StatRecord[] = [];
      walkBelow(task.root, task.dirs, matcherFor(task.patterns), (r) => records.push(r));
      // Structured clone copies the (small) metadata buffer: Piscina.move only transfers a top-level value.
      return packRecords(records);
    }
  }
}
