/**
 * Entries for the parts of a context an incremental update reaches: a path
 * lstat-ed again, or a directory that appeared, walked in the calling
 * thread. (A whole context is scanned by scan.ts, into stat cache columns.)
 */
import type { IgnoreMatcher } from './ignore.js';
import { encodeName } from './names.js';
import type { Entry } from './tree.js';
import { lstatRecord, readKept, walkBelow, type StatRecord } from './walk-core.js';
import { xxh128 } from './xxhash.js';

const NO_DIGEST = Buffer.alloc(16);
export function entryFromRecord(r: StatRecord): Entry {
  return {
    path: r.rel,
    name: r.rel.slice(r.rel.lastIndexOf('/') + 1),
    kind: r.kind,
    mode: r.mode,
    size: Number(r.size),
    linkTarget: r.link,
    hardlinkOf: undefined,
    digest: r.link !== undefined ? xxh128(encodeName(r.link)) : NO_DIGEST,
    stat: r, // the record has the four stat fields: no second object per entry
    children: r.kind === 'dir' ? new Map() : undefined,
  };
}

/** lstat of one context path as an entry (no children read), or undefined when gone or a socket, FIFO or device (never part of a context). */
export function lstatEntry(root: string, rel: string): Entry | undefined {
  const r = lstatRecord(root, rel);
  return r && r.kind !== 'other' ? entryFromRecord(r) : undefined;
}

interface TreeBuilder {
  readonly byPath: Map<string, Entry>;
  readonly provisional: Set<Entry>;
  readonly files: Entry[];
  readonly links: Map<string, string[]>;
}

function add(b: TreeBuilder, r: StatRecord): Entry | undefined {
  const parent = b.byPath.get(r.rel.slice(0, Math.max(0, r.rel.lastIndexOf('/'))));
  if (!parent?.children) return undefined;
  const entry = entryFromRecord(r);
  parent.children.set(entry.name, entry);
  b.byPath.set(r.rel, entry);
  if (r.provisional) b.provisional.add(entry);
  if (entry.kind === 'file') {
    b.files.push(entry);
    if (r.nlink > 1) {
      const key = `${r.dev}:${r.ino}`;
      const group = b.links.get(key);
      if (group) group.push(r.rel);
      else b.links.set(key, [r.rel]);
    }
  }
  return entry;
}

/** Drops provisional directories with nothing kept below them. */
function prune(b: TreeBuilder, dir: Entry): boolean {
  for (const child of [...dir.children!.values()]) {
    if (child.kind === 'dir' && !prune(b, child)) {
      dir.children!.delete(child.name);
      b.byPath.delete(child.path);
    }
  }
  return dir.children!.size > 0 || !b.provisional.has(dir);
}

/** Marks each hard-linked file after the first (by path) as a link to it. */
function linkHardlinks(b: TreeBuilder): void {
  for (const group of b.links.values()) {
    if (group.length < 2) continue;
    group.sort();
    for (const p of group.slice(1)) {
      const entry = b.byPath.get(p);
      if (entry) entry.hardlinkOf = group[0];
    }
  }
}

/** Walks below a directory in the calling thread (for incremental updates). */
export function walkInline(root: string, top: Entry, matcher: IgnoreMatcher, skipped?: string[]): Entry[] {
  const b: TreeBuilder = { byPath: new Map([[top.path, top]]), provisional: new Set(), files: [], links: new Map() };
  walkBelow(root, [top.path], matcher, (r) => add(b, r), skipped);
  prune(b, top);
  linkHardlinks(b);
  return b.files.filter((f) => b.byPath.get(f.path) === f);
}

/** Names in a directory that the walk would keep (sockets, FIFOs and devices go to `skipped`). */
export function listKeptNames(root: string, relDir: string, matcher: IgnoreMatcher, skipped?: string[]): string[] {
  return readKept(root, relDir, matcher, skipped).map((r) => r.rel.slice(r.rel.lastIndexOf('/') + 1));
}
