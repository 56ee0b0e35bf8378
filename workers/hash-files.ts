/**
 * Piscina worker: hashes one batch of context files and hands the packed
 * records back as a transferred buffer. Imports only what it runs (the
 * reader and the xxhash wrapper), not lib/context's index, to keep
 * thread start-up lean.
 */
import { Piscina } from 'piscina';
import { hashFileBatch, readFileBatch } from '../lib/context/read-file.js';

export interface HashBatchTask {
  readonly root: string;
  /** Context-relative paths joined with NUL. */
  readonly paths: string;
  /** Read without hashing (the benchmark's read floor); returns the byte count. */
  readonly readOnly?: boolean;
}

export default function hashBatch(task: HashBatchTask): ArrayBuffer | number {
  if (task.readOnly) return readFileBatch(task.root, task.paths);
  return Piscina.move(hashFileBatch(task.root, task.paths)) as unknown as ArrayBuffer;
}
