/**
 * The context as a Merkle tree. A directory's digest covers its children
 * sorted by name (name, kind, permission bits, digest), so any subtree's
 * digest is at hand and a change re-digests only the path to the root.
 * Times and owners never enter a digest.
 */
import { encodeName, hasEscapes, nameByteLength } from './names.js';
import { xxh128 } from './xxhash.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';

export interface StatKey {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

export interface Entry {
  /** Context-relative, '/'-separated; '' for the root. */
  readonly path: string;
  readonly name: string;
  kind: EntryKind;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  size: number;
  linkTarget: string | undefined;
  /** For a hard-linked file: the first path in walk order with the same inode. */
  hardlinkOf: string | undefined;
  /** File: XXH128 of the content. Symlink: of the target. Directory: of its children's records. */
  digest: Buffer;
  /** What the stat cache compares; never part of a digest. */
  stat: StatKey;
  /** Directories only, by name. */
  children: Map<string, Entry> | undefined;
}

export const KIND_BYTE: Record<EntryKind, number> = { file: 0x66, dir: 0x64, symlink: 0x6c, other: 0x6f };

/** Writes the record a child contributes to its parent's digest: name, NUL, kind, mode, digest. */
function writeRecord(out: Buffer, at: number, name: string, nameBytes: number, kind: EntryKind, mode: number, digest: Buffer): number {
  if (hasEscapes(name)) encodeName(name).copy(out, at);
  else out.write(name, at, nameBytes, 'utf8');
  at += nameBytes;
  out[at++] = 0;
  out[at++] = KIND_BYTE[kind];
  out.writeUInt32LE(mode, at);
  digest.copy(out, at + 4, 0, 16);
  return at + 20;
}

const RECORD_OVERHEAD = 1 + 1 + 4 + 16; // NUL, kind, mode (u32), XXH128 digest

/** The bytes a child contributes to its parent's digest. */
export function childRecord(entry: Entry): Buffer {
  const nameBytes = nameByteLength(entry.name);
  const out = Buffer.allocUnsafe(nameBytes + RECORD_OVERHEAD);
  writeRecord(out, 0, entry.name, nameBytes, entry.kind, entry.mode, entry.digest);
  return out;
}

export function sortedChildren(dir: Entry): Entry[] {
  return [...(dir.children?.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function digestDirectory(dir: Entry): Buffer {
  const children = sortedChildren(dir);
  let total = 0;
  const sizes = children.map((c) => {
    const n = nameByteLength(c.name);
    total += n + RECORD_OVERHEAD;
    return n;
  });
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  children.forEach((c, i) => {
    at = writeRecord(out, at, c.name, sizes[i]!, c.kind, c.mode, c.digest);
  });
  return xxh128(out);
}

/** Calls fn for `entry` and everything below it, in no particular order (cheaper than walkEntries). */
export function forEachEntry(entry: Entry, fn: (e: Entry) => void): void {
  const stack = [entry];
  while (stack.length) {
    const e = stack.pop()!;
    fn(e);
    if (e.children) for (const c of e.children.values()) stack.push(c);
  }
}

export function parentPath(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash < 0 ? '' : p.slice(0, slash);
}

export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The entry at a context path below `tree` ('' is `tree` itself), found by descending from it. */
export function entryAt(tree: Entry, p: string): Entry | undefined {
  if (p === '') return tree;
  let entry: Entry | undefined = tree;
  let from = 0;
  for (;;) {
    const slash = p.indexOf('/', from);
    entry = entry.children?.get(slash < 0 ? p.slice(from) : p.slice(from, slash));
    if (!entry || slash < 0) return entry;
    from = slash + 1;
  }
}

/**
 * Entries by context path, answered by the tree itself: no second map of
 * 100,000 paths to keep in step, and a tree restored from the stat cache
 * reads only the directories a lookup passes through.
 */
export interface EntryIndex {
  get(path: string): Entry | undefined;
  has(path: string): boolean;
  /** Every path, parents first (this reads the whole tree). */
  keys(): Generator<string>;
  values(): Generator<Entry>;
}

export function indexOver(tree: Entry): EntryIndex {
  return {
    get: (p) => entryAt(tree, p),
    has: (p) => entryAt(tree, p) !== undefined,
    *keys() {
      for (const e of walkEntries(tree)) yield e.path;
    },
    values: () => walkEntries(tree),
  };
}

/** Every entry below `entry` (itself included), parents before children, children by name. */
export function* walkEntries(entry: Entry): Generator<Entry> {
  yield entry;
  if (entry.kind === 'dir') for (const child of sortedChildren(entry)) yield* walkEntries(child);
}
