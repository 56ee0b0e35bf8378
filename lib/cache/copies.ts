/**
 * What the last run of a COPY left, for the next run of the same COPY to
 * share: per destination file, a signature of what was written (content
 * digest, mode, owner, mtime) and the snapshot holding it. A COPY that
 * runs again because one file of thousands changed hard-links the
 * unchanged ones from that snapshot instead of copying them from the
 * context (snapshots are immutable; the context is never linked). Only a
 * hint: a missing or stale record just means copying.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './files.js';

export interface CopyRecord {
  /** The directory of the snapshot that holds the files (the top one of its chain, for a delta). */
  readonly layerDir: string;
  /** That layer's diffID. */
  readonly layer?: string;
  /** Destination path (relative to the root filesystem) → signature. */
  readonly files: Readonly<Record<string, string>>;
  /** The layer's directories → signature (mode, owner), when every entry's kind was known: a next version may then be a delta over this one. */
  readonly dirs?: Readonly<Record<string, string>>;
  /** Its entries that are neither files nor directories (symlinks). */
  readonly others?: readonly string[];
  /**
   * That layer's uncompressed tar, kept beside the record, with its diffID
   * and where each file's entry is in it (offset, length, XXH128 of the
   * entry's bytes): unchanged entries are copied from it, each checked,
   * rather than read from their files again.
   */
  readonly tar?: { readonly file: string; readonly diffId: string; readonly index: Readonly<Record<string, readonly [number, number, string]>> };
}

const recordPath = (store: string, identity: string) => path.join(store, 'cache', 'copies', identity.replace(/^sha256:/, ''));

/** Where the tar of a COPY's layer is kept for its next run. */
export function copyTarPath(store: string, identity: string): string {
  return `${recordPath(store, identity)}.tar`;
}

export function readCopyRecord(store: string, identity: string): CopyRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(recordPath(store, identity), 'utf8')) as CopyRecord;
    return typeof record.layerDir === 'string' && typeof record.files === 'object' ? record : undefined;
  } catch {
    return undefined;
  }
}

export function writeCopyRecord(store: string, identity: string, record: CopyRecord): void {
  writeFileAtomic(recordPath(store, identity), JSON.stringify(record));
}

/** Forgets every COPY's record and kept tar (the next run of each copies from its source and reads every file); returns the bytes freed. */
export function pruneCopyRecords(store: string): { records: number; bytes: number } {
  const dir = path.join(store, 'cache', 'copies');
  let records = 0;
  let bytes = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const file = path.join(dir, name);
    bytes += statSync(file).size;
    if (!name.endsWith('.tar')) records++;
    rmSync(file, { force: true });
  }
  return { records, bytes };
}
