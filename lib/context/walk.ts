/**
 * Builds the context's tree of entries. The walk starts in the calling
 * thread, breadth first; a context still not done after a few thousand
 * entries hands the rest of its directories to the worker threads, which
 * walk their subtrees in parallel (readdir and lstat are most of the cost
 * of hashing many small files). Small contexts never start a thread.
 */
import type { IgnoreMatcher } from './ignore.js';
import { HashStatus, readRecord, type HashRecord } from './hash-record.js';
import { poolIsRunning, walkOnPool } from './pool.js';

import type { Entry } from './tree.js';
import { lstatRecord, readKept, walkBelow, type StatRecord } from './walk-core.js';
import { xxh128 } from './xxhash.js';

const NO_DIGEST = Buffer.alloc(16);
/**
 * Entries listed in the calling thread before the rest goes to the workers:
 * about what it lists while a fresh pool boots (~150 ms), or less when the
 * threads are already up (watch mode). Without a pool the walk stays inline:
 * starting threads just to list a small context costs more than it saves.
 */
export const BUDGET_BOOTING = 20_000;
const BUDGET_RUNNING = 3_000;

export function entryFromRecord(r: StatRecord): Entry {
  return {
    path: r.rel,
    name: r.rel.slice(r.rel.lastIndexOf('/') + 1),
    kind: r.kind,
    mode: r.mode,
    size: Number(r.size),
    linkTarget: r.link,
    hardlinkOf: undefined,
    digest: r.link !== undefined ? xxh128(Buffer.from(r.link, 'utf8')) : NO_DIGEST,
    stat: r, // the record has the four stat fields: no second object per entry
    children: r.kind === 'dir' ? new Map() : undefined,
  };
}

/** lstat of one context path as an entry (no children read), or undefined when gone. */
export function lstatEntry(root: string, rel: string): Entry | undefined {
  const r = lstatRecord(root, rel);
  return r && entryFromRecord(r);
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
    for (const p of group.slice(1)) b.byPath.get(p)!.hardlinkOf = group[0];
  }
}

/**
 * Fills `top` (a directory entry, with no children yet) with everything
 * below it that the ignore rules keep. Returns the regular files found.
 */
export async function walkTree(
  root: string,
  top: Entry,
  matcher: IgnoreMatcher,
  options: {
    inline?: boolean | undefined;
    patterns?: readonly string[];
    budget?: number | undefined;
    /** Let the workers hash the files they walk; each result comes here, and those files are not returned. */
    hashWalked?: ((entry: Entry, record: HashRecord) => void) | undefined;
  } = {},
): Promise<Entry[]> {
  const byPath = new Map<string, Entry>();
  byPath.set(top.path, top);
  const b: TreeBuilder = { byPath, provisional: new Set(), files: [], links: new Map() };
  const queue: string[] = [top.path];
  const budget = options.inline ? Infinity : options.budget ?? (poolIsRunning() ? BUDGET_RUNNING : Infinity);
  let seen = 0;
  while (queue.length && seen < budget) {
    const dir = queue.shift()!;
    for (const r of readKept(root, dir, matcher)) {
      seen++;
      if (add(b, r)?.kind === 'dir') queue.push(r.rel);
    }
  }
  if (queue.length) {
    const hashed = new Set<Entry>();
    await walkOnPool(root, queue, options.patterns ?? matcher.patterns, options.hashWalked !== undefined, (records, hashes) => {
      records.forEach((r, i) => {
        const entry = add(b, r);
        if (!entry || !hashes) return;
        const record = readRecord(hashes, i);
        if (record.status === HashStatus.NotHashed) return;
        options.hashWalked!(entry, record);
        hashed.add(entry);
      });
    });
    prune(b, top);
    linkHardlinks(b);
    return b.files.filter((f) => b.byPath.get(f.path) === f && !hashed.has(f));
  }
  prune(b, top);
  linkHardlinks(b);
  return b.files.filter((f) => b.byPath.get(f.path) === f);
}

/** Walks below a directory in the calling thread (for incremental updates). */
export function walkInline(root: string, top: Entry, matcher: IgnoreMatcher): Entry[] {
  const b: TreeBuilder = { byPath: new Map([[top.path, top]]), provisional: new Set(), files: [], links: new Map() };
  walkBelow(root, [top.path], matcher, (r) => add(b, r));
  prune(b, top);
  return b.files.filter((f) => b.byPath.get(f.path) === f);
}

/** Names in a directory that the walk would keep. */
export function listKeptNames(root: string, relDir: string, matcher: IgnoreMatcher): string[] {
  return readKept(root, relDir, matcher).map((r) => r.rel.slice(r.rel.lastIndexOf('/') + 1));
}
