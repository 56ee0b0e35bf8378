/**
 * One pass over directories of a context, as the worker threads (and the
 * coordinator, while they boot) run it: each directory is listed with its
 * entry types (no lstat of a file just to learn it is one), its kept
 * children sorted by name, and each child recorded: a file by reading and
 * hashing it (its stat comes from fstat on the same descriptor), a
 * directory or symlink by lstat. A task stops after a budget of entries and
 * hands back the directories it did not reach, so that work spreads over
 * the threads however lopsided the tree is. Results are packed: one
 * fixed-size record per child in one buffer, names in one string.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats, type Dirent } from 'node:fs';
import { HashStatus } from './hash-record.js';
import type { IgnoreMatcher } from './ignore.js';
import { decodeName, encodeName, fsPath, hasEscapes } from './names.js';
import { hashWalkedFile, type RecordSlot } from './read-file.js';
import { joinPath, KIND_BYTE } from './tree.js';
import { underRoot } from './walk-core.js';
import { xxh128 } from './xxhash.js';

/** Kind codes, as the stat cache stores them. */
export const enum ScanKind {
  File = 0,
  Dir = 1,
  Symlink = 2,
  /** A socket, FIFO or device: skipped (with a warning), as Docker skips them. */
  Other = 3,
}

/** u32 words per child record. */
export const SCAN_WORDS = 18;
/** Word offsets inside a record. */
export const W = { flags: 0, mode: 1, size: 2, mtime: 4, ctime: 6, ino: 8, dev: 10, nlink: 12, digest: 13 } as const;

export interface ScanTask {
  readonly root: string;
  /** Directories to list (context paths). */
  readonly dirs: readonly string[];
  /** Entries to record before handing the rest back. */
  readonly budget: number;
  /** Read and hash files (false: lstat them only, for a stat cache to vouch for). */
  readonly hash: boolean;
}

/** A listed directory's place: the record (in the same result) that names it, or -(i + 1) for the task's i-th directory. */
export type ScanParent = number;

export interface ScannedDirs {
  /** How many kept children each listed directory has: its block of records follows the one before. */
  readonly counts: Uint32Array;
  /** Where each listed directory was found (see ScanParent): blocks are linked up without a path string. */
  readonly parents: Int32Array;
  /** Every child's name as bytes (escaped bytes turned back: see names.ts), each ended by a NUL, record after record. */
  readonly names: Uint8Array;
  /** Symlink targets, NUL-joined, in record order. */
  readonly links: string;
  /** SCAN_WORDS u32 per child; see W. */
  readonly records: Uint32Array;
  /** Directories not reached within the budget, and where each was found. */
  readonly rest: string[];
  readonly restParents: Int32Array;
  readonly files: number;
  readonly bytes: number;
}


const NUL = Buffer.of(0);

const bySortedName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

interface Child {
  readonly name: string;
  readonly kind: ScanKind;
  readonly provisional: boolean;
}

function kindOfDirent(d: Dirent): ScanKind {
  if (d.isFile()) return ScanKind.File;
  if (d.isDirectory()) return ScanKind.Dir;
  if (d.isSymbolicLink()) return ScanKind.Symlink;
  return ScanKind.Other;
}

/**
 * The kept children of a directory, sorted. Names come as strings; a
 * directory holding a name that is not valid UTF-8 (seen as U+FFFD) is
 * listed again as bytes, so that name keeps its own bytes.
 */
function listDir(root: string, dir: string, matcher: IgnoreMatcher): { children: Child[]; escaped: boolean } | undefined {
  let escaped = hasEscapes(dir);
  const at = escaped ? fsPath(underRoot(root, dir)) : underRoot(root, dir);
  let dirents: Dirent[];
  try {
    dirents = readdirSync(at, { withFileTypes: true });
    if (dirents.some((d) => d.name.includes('\uFFFD'))) {
      dirents = readdirSync(at, { withFileTypes: true, encoding: 'buffer' }).map((d) => Object.assign(d, { name: decodeName(d.name as unknown as Buffer) }) as unknown as Dirent);
      escaped ||= dirents.some((d) => hasEscapes(d.name));
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  const out: Child[] = [];
  for (const d of dirents) {
    const rel = joinPath(dir, d.name);
    const kind = kindOfDirent(d);
    const ignored = matcher.ignores(rel);
    // An ignored directory is walked only when a `!` exception may re-include something below it.
    if (ignored && (!matcher.hasExclusions || kind !== ScanKind.Dir)) continue;
    out.push({ name: d.name, kind, provisional: ignored });
  }
  return { children: out.sort(bySortedName), escaped };
}

const OFFSETS = { mode: 4 * W.mode, size: 4 * W.size, mtime: 4 * W.mtime, ctime: 4 * W.ctime, ino: 4 * W.ino, dev: 4 * W.dev, nlink: 4 * W.nlink, digest: 4 * W.digest };

function slotOver(words: Uint32Array<ArrayBuffer>): RecordSlot {
  return { view: new DataView(words.buffer), bytes: new Uint8Array(words.buffer), at: 0, offsets: OFFSETS };
}

function putStat(slot: RecordSlot, st: BigIntStats): void {
  const { view, at } = slot;
  view.setUint32(at + OFFSETS.mode, Number(st.mode & 0o7777n), true);
  view.setBigUint64(at + OFFSETS.size, st.isFile() ? st.size : 0n, true);
  view.setBigUint64(at + OFFSETS.mtime, st.mtimeNs, true);
  view.setBigUint64(at + OFFSETS.ctime, st.ctimeNs, true);
  view.setBigUint64(at + OFFSETS.ino, st.ino, true);
  view.setBigUint64(at + OFFSETS.dev, st.dev, true);
  view.setUint32(at + OFFSETS.nlink, Number(st.nlink), true);
}

function flags(kind: ScanKind, status: HashStatus, provisional: boolean): number {
  return kind | (status << 8) | ((provisional ? 1 : 0) << 16);
}

export function flagKind(f: number): ScanKind {
  return f & 0xff;
}

export function flagStatus(f: number): HashStatus {
  return (f >> 8) & 0xff;
}

export function flagProvisional(f: number): boolean {
  return ((f >> 16) & 1) === 1;
}

/** Set on a directory's record once its digest (over its whole subtree) is in the record. */
const DIGESTED = 1 << 17;

export function flagDigested(f: number): boolean {
  return (f & DIGESTED) !== 0;
}

/** Grows a Uint32Array by doubling (the record count is not known up front). */
function ensure(words: Uint32Array<ArrayBuffer>, need: number): Uint32Array<ArrayBuffer> {
  if (need <= words.length) return words;
  const bigger = new Uint32Array(Math.max(need, words.length * 2));
  bigger.set(words);
  return bigger;
}

/** What a task has recorded so far. */
interface Recording {
  words: Uint32Array<ArrayBuffer>;
  slot: RecordSlot;
  /** Records written. */
  n: number;
  files: number;
  bytes: number;
  readonly names: string[];
  readonly links: string[];
}

interface DirToList {
  readonly dir: string;
  readonly parent: ScanParent;
}

/**
 * Records one listed directory's children and answers its subdirectories.
 * It is its own function, called once per directory, rather than the body
 * of scanDirs' loop: V8 then optimizes it once as a whole function, where
 * the loop body used to be compiled again and again on stack replacement,
 * each time with every fs call inlined (a fifth of a cold hash's CPU went
 * to the compiler).
 */
function recordChildren(task: ScanTask, rec: Recording, dir: string, children: readonly Child[], escaped: boolean): DirToList[] {
  // Files modified after this moment may be changing while read: those are read again carefully.
  const listedAtNs = BigInt(Date.now()) * 1_000_000n;
  const subdirs: DirToList[] = [];
  const grown = ensure(rec.words, (rec.n + children.length) * SCAN_WORDS);
  if (grown !== rec.words) {
    rec.words = grown;
    rec.slot = slotOver(grown);
  }
  const { words, slot } = rec;
  for (const child of children) {
    const rel = joinPath(dir, child.name);
    const at = underRoot(task.root, rel);
    const fsAt = escaped ? fsPath(at) : at;
    slot.at = 4 * rec.n * SCAN_WORDS;
    let kind = child.kind;
    let status = HashStatus.Ok;
    if (kind === ScanKind.File && task.hash) {
      status = hashWalkedFile(fsAt, listedAtNs, slot);
      if (status === HashStatus.Vanished) continue;
      if (status === HashStatus.Ok) {
        rec.files++;
        rec.bytes += Number(slot.view.getBigUint64(slot.at + OFFSETS.size, true));
      }
    } else {
      let st: BigIntStats | undefined;
      try {
        st = lstatSync(fsAt, { bigint: true, throwIfNoEntry: false });
      } catch {
        st = undefined;
      }
      if (!st) continue;
      // The type may have changed since the listing: lstat has the last word.
      kind = st.isFile() ? ScanKind.File : st.isDirectory() ? ScanKind.Dir : st.isSymbolicLink() ? ScanKind.Symlink : ScanKind.Other;
      if (child.provisional && kind !== ScanKind.Dir) continue;
      putStat(slot, st);
      if (kind === ScanKind.Symlink) {
        const target = decodeName(readlinkSync(fsAt, { encoding: 'buffer' }));
        rec.links.push(target);
        slot.bytes.set(xxh128(encodeName(target)), slot.at + OFFSETS.digest);
      } else if (kind === ScanKind.File) {
        status = HashStatus.NotHashed;
      }
      if (kind === ScanKind.Dir) subdirs.push({ dir: rel, parent: rec.n });
    }
    words[rec.n * SCAN_WORDS + W.flags] = flags(kind, status, child.provisional);
    rec.names.push(child.name);
    rec.n++;
  }
  return subdirs;
}

/** Lists and records directories depth first until the budget is spent. */
export function scanDirs(task: ScanTask, matcher: IgnoreMatcher): ScannedDirs {
  const stack: DirToList[] = [];
  for (let i = task.dirs.length - 1; i >= 0; i--) stack.push({ dir: task.dirs[i]!, parent: -(i + 1) });
  const parents: number[] = [];
  const counts: number[] = [];
  const words = new Uint32Array(SCAN_WORDS * 256);
  const rec: Recording = { words, slot: slotOver(words), n: 0, files: 0, bytes: 0, names: [], links: [] };
  let anyEscaped = false;
  while (stack.length && rec.n < task.budget) {
    const { dir, parent } = stack.pop()!;
    const listing = listDir(task.root, dir, matcher);
    if (!listing) continue;
    anyEscaped ||= listing.escaped;
    const before = rec.n;
    const subdirs = recordChildren(task, rec, dir, listing.children, listing.escaped);
    parents.push(parent);
    counts.push(rec.n - before);
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  stack.reverse();
  const { names, n } = rec;
  const nameBytes = anyEscaped ? Buffer.concat(names.map((name) => Buffer.concat([encodeName(name), NUL]))) : Buffer.from(names.length ? `${names.join('\0')}\0` : '', 'utf8');
  const records = rec.words.slice(0, n * SCAN_WORDS);
  if (task.hash && !matcher.hasExclusions) digestWholeDirectories(records, counts, parents, nameBytes);
  return {
    counts: Uint32Array.from(counts),
    parents: Int32Array.from(parents),
    names: nameBytes,
    links: rec.links.join('\0'),
    records,
    rest: stack.map((s) => s.dir),
    restParents: Int32Array.from(stack, (s) => s.parent),
    files: rec.files,
    bytes: rec.bytes,
  };
}

/** Where each record's name starts in NUL-ended name bytes (and, one past the last, where the names end). */
export function nameStarts(names: Uint8Array, records: number): Uint32Array {
  const starts = new Uint32Array(records + 1);
  // One store for every start, the end included: a store after the loop is first reached by the loop's
  // optimized code, which knows nothing of it and falls back to the interpreter there, on every call.
  for (let i = 0, at = 0; ; i++) {
    starts[i] = at;
    if (i === records) return starts;
    while (names[at] !== 0) at++;
    at++;
  }
}

const KIND_BYTES = [KIND_BYTE.file, KIND_BYTE.dir, KIND_BYTE.symlink, KIND_BYTE.other];

/**
 * Digests, as the stat cache's rows would be digested (digestDirectories
 * in scan.ts), every directory whose whole subtree this task listed and
 * read, and marks its record: the coordinator then digests only the few
 * directories that span tasks, instead of all of them after the threads
 * are done. Blocks are in walk order (a directory's block before its
 * subdirectories'), so going backwards finishes children first. Not used
 * with `!` exceptions: whether an ignored directory stays is settled later.
 */
function digestWholeDirectories(words: Uint32Array, counts: readonly number[], parents: readonly number[], names: Uint8Array): void {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const starts = nameStarts(names, words.length / SCAN_WORDS);
  const blockStarts = new Uint32Array(counts.length + 1);
  for (let b = 0; b < counts.length; b++) blockStarts[b + 1] = blockStarts[b]! + counts[b]!;
  const scratch = { record: Buffer.allocUnsafe(64 * 1024) };
  for (let b = counts.length - 1; b >= 0; b--) {
    const dir = parents[b]!;
    if (dir < 0) continue;
    const digest = blockDigest(words, bytes, names, starts, blockStarts[b]!, blockStarts[b + 1]!, scratch);
    if (digest === undefined) continue;
    bytes.set(digest, 4 * (dir * SCAN_WORDS + W.digest));
    words[dir * SCAN_WORDS + W.flags] = words[dir * SCAN_WORDS + W.flags]! | DIGESTED;
  }
}

/**
 * The digest of the directory whose children are records [from, to), or
 * undefined if one of them is not settled yet. A function of its own, called
 * per directory, for the reason recordChildren is.
 */
function blockDigest(
  words: Uint32Array, bytes: Uint8Array, names: Uint8Array, starts: Uint32Array, from: number, to: number, scratch: { record: Buffer },
): Buffer | undefined {
  let total = 0;
  for (let i = from; i < to; i++) {
    const f = words[i * SCAN_WORDS + W.flags]!;
    const kind = flagKind(f);
    if (kind === ScanKind.Other) continue;
    const settled = kind === ScanKind.File ? flagStatus(f) === HashStatus.Ok : kind === ScanKind.Dir ? flagDigested(f) : true;
    if (!settled) return undefined;
    total += starts[i + 1]! - starts[i]! - 1 + 22;
  }
  if (total > scratch.record.length) scratch.record = Buffer.allocUnsafe(total * 2);
  const record = scratch.record;
  let at = 0;
  for (let i = from; i < to; i++) {
    const r = i * SCAN_WORDS;
    const kind = flagKind(words[r + W.flags]!);
    if (kind === ScanKind.Other) continue;
    for (let k = starts[i]!, end = starts[i + 1]! - 1; k < end; k++) record[at++] = names[k]!;
    record[at++] = 0;
    record[at++] = KIND_BYTES[kind]!;
    const mode = words[r + W.mode]!;
    record[at++] = mode & 0xff;
    record[at++] = (mode >>> 8) & 0xff;
    record[at++] = (mode >>> 16) & 0xff;
    record[at++] = mode >>> 24;
    for (let k = 4 * (r + W.digest), end = k + 16; k < end; k++) record[at++] = bytes[k]!;
  }
  return xxh128(record.subarray(0, total));
}
