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
  /** The diffID of the layer that run made (whose snapshot holds the files; see Snapshotter.layerDirs). */
  readonly layer: string;
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

/*
 * The file: a first line of JSON (everything but the per-path tables),
 * then NUL-separated fields: `F path signature offset length check` per
 * file, `D path signature` per directory, `O path` per other entry. A
 * COPY of 30,000 files makes a 6 MB record: as JSON it took 85-110 ms to
 * parse and 40-60 ms to write, on the path of every rebuild; split on NUL
 * it takes a fraction. A path that is not well-formed UTF-16 (a name that
 * is not UTF-8) is left out: it is copied afresh, never confused with
 * another.
 */
const MAGIC = 'strata-copy-record 2';
/** False for a string holding half a surrogate pair (how a name that is not UTF-8 is kept). */
const wellFormed = (s: string) => !/[\uD800-\uDFFF]/u.test(s);

/**
 * The record each COPY last wrote in this process, by file, with the size
 * and mtime of its file once written: a watch loop rebuilds without reading
 * it back, and a file changed by another process is read instead.
 */
const latest = new Map<string, { readonly record: CopyRecord; readonly size?: number; readonly mtimeMs?: number }>();
/** Records kept in memory whose file is still to be written, by file. */
const unwritten = new Map<string, () => void>();

export function readCopyRecord(store: string, identity: string): CopyRecord | undefined {
  const file = recordPath(store, identity);
  const known = latest.get(file);
  if (known && unwritten.has(file)) return known.record;
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.record;
  try {
    return decodeRecord(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export function decodeRecord(text: string): CopyRecord | undefined {
  const firstLine = text.indexOf('\n');
  const secondLine = text.indexOf('\n', firstLine + 1);
  if (firstLine < 0 || secondLine < 0 || text.slice(0, firstLine) !== MAGIC) return undefined;
  const head = JSON.parse(text.slice(firstLine + 1, secondLine)) as { layer: string; tar?: { file: string; diffId: string }; kinds: boolean };
  const fields = text.slice(secondLine + 1).split('\0');
  const files: Record<string, string> = {};
  const index: Record<string, readonly [number, number, string]> = {};
  const dirs: Record<string, string> = {};
  const others: string[] = [];
  for (let i = 0; i < fields.length - 1; ) {
    const tag = fields[i]!;
    if (tag === 'F') {
      const rel = fields[i + 1]!;
      files[rel] = fields[i + 2]!;
      if (fields[i + 5]) index[rel] = [Number(fields[i + 3]), Number(fields[i + 4]), fields[i + 5]!];
      i += 6;
    } else if (tag === 'D') {
      dirs[fields[i + 1]!] = fields[i + 2]!;
      i += 3;
    } else if (tag === 'O') {
      others.push(fields[i + 1]!);
      i += 2;
    } else {
      return undefined;
    }
  }
  if (typeof head.layer !== 'string') return undefined;
  return {
    layer: head.layer, files,
    ...(head.tar ? { tar: { ...head.tar, index } } : {}),
    ...(head.kinds ? { dirs, others } : {}),
  };
}

export function encodeRecord(record: CopyRecord): string {
  const parts: string[] = [];
  const index = record.tar?.index ?? {};
  for (const [rel, signature] of Object.entries(record.files)) {
    if (!wellFormed(rel)) continue;
    const at = index[rel];
    parts.push('F', rel, signature, at ? String(at[0]) : '', at ? String(at[1]) : '', at ? at[2] : '');
  }
  for (const [rel, signature] of Object.entries(record.dirs ?? {})) if (wellFormed(rel)) parts.push('D', rel, signature);
  for (const rel of record.others ?? []) if (wellFormed(rel)) parts.push('O', rel);
  const head = { layer: record.layer, tar: record.tar && { file: record.tar.file, diffId: record.tar.diffId }, kinds: record.dirs !== undefined };
  return `${MAGIC}\n${JSON.stringify(head)}\n${parts.join('\0')}\0`;
}

/** Long enough for the next step (a RUN) to be started before a big record is encoded. */
const WRITE_BEHIND_MS = 100;

/**
 * Keeps the record for this process at once and writes it to disk a little
 * later (a record of 30,000 files takes some 100 ms to encode, better spent
 * while the next step runs), or when flushCopyRecords is called, at the end
 * of a build at the latest. A record is a hint: one lost with a killed
 * process only means copying the files again.
 */
export function writeCopyRecord(store: string, identity: string, record: CopyRecord): void {
  const file = recordPath(store, identity);
  latest.set(file, { record });
  const write = () => {
    try {
      writeFileAtomic(file, encodeRecord(record));
      const st = statSync(file);
      latest.set(file, { record, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      latest.delete(file); // not written (a full disk, a store removed meanwhile): the next run copies from the source
    }
  };
  unwritten.set(file, write);
  setTimeout(() => {
    if (unwritten.get(file) !== write) return; // written already, or a newer one came meanwhile
    unwritten.delete(file);
    write();
  }, WRITE_BEHIND_MS).unref();
}

/** Writes every record still kept only in memory. */
export function flushCopyRecords(): void {
  for (const [file, write] of unwritten) {
    unwritten.delete(file);
    write();
  }
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
