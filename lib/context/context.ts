/**
 * Hashing a build context. Cold: scan it (honouring .dockerignore) on the
 * worker threads, hashing every file as it is listed, straight into stat
 * cache columns (scan.ts), digest the directories over them. Warm: take the
 * stat cache as it is, lstat every row it lists (on the threads when big),
 * and treat whatever moved as a change set. Either way the tree is read
 * from the columns lazily (RestoredEntry). `updateContext` applies a list of
 * changed paths to an existing result, re-reading only those paths.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ContextError } from '../errors/index.js';
import { HashStatus, type HashRecord } from './hash-record.js';
import { compileIgnore, type IgnoreMatcher } from './ignore.js';
import { selectSources, type SourceSelector } from './select.js';
import { hashFiles, poolIsRunning, prestartPool, VERIFY_BOOT_ROWS, verifyStatCache } from './pool.js';
import { takeEarlyCheck } from './early-check.js';
import { statHelperAvailable } from './stat-helper.js';
import {
  cachedDigest, cachedHardlink, cachedLink, cachedPath, encodeStatCache, isReusable, KIND_CODES, loadStatCache, patternsKey, RACY_MARGIN_NS,
  saveStatCache, statCacheId, type CacheSegment, type LoadedStatCache,
} from './stat-cache.js';
import { digestDirectory, forEachEntry, indexOver, joinPath, parentPath, sortedChildren, walkEntries, type Entry, type EntryIndex, type EntryKind, type StatKey } from './tree.js';
import { listKeptNames, lstatEntry, walkInline } from './walk.js';
import { assembleScan, digestDirectories, scanContext, setFileRow } from './scan.js';

export interface HashProgress {
  readonly filesDone: number;
  /** Undefined while the context is still being listed (files are hashed as they are found). */
  readonly filesTotal: number | undefined;
  readonly bytesDone: number;
  readonly bytesTotal: number | undefined;
}

export interface ContextOptions {
  /** .dockerignore patterns (see parseIgnoreFile). */
  readonly ignorePatterns?: readonly string[];
  /** Where the stat cache lives; without it every file is read. */
  readonly statCacheFile?: string;
  /** Called as batches of files finish hashing. */
  readonly onProgress?: (progress: HashProgress) => void;
  /** Hash in the calling thread (the single-thread benchmark). */
  readonly inline?: boolean;
  /** Entries to walk or verify in the calling thread before the workers take over (tuning and tests). */
  readonly inlineBudget?: number;
  /**
   * The tree cannot have changed since its stat cache was written (it is a
   * stack of committed layers, named by their digests): a cache that
   * restores is taken as it is, without looking at the disk, and `root`
   * need not exist until something reads the files.
   */
  readonly immutable?: boolean;
}

export interface ContextStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of regular files in the context. */
  bytes: number;
  /** Files whose digest came from the stat cache. */
  cacheHits: number;
  /** Files read and hashed. */
  hashedFiles: number;
  hashedBytes: number;
}

export interface HashedContext {
  readonly root: string;
  readonly matcher: IgnoreMatcher;
  readonly tree: Entry;
  /** Every entry by context path ('' is the root). */
  readonly index: EntryIndex;
  /** When the scan behind the current digests began (ns since the epoch). */
  takenAtNs: bigint;
  readonly stats: ContextStats;
  /** Problems that cost speed, not correctness (a discarded stat cache). */
  readonly warnings: string[];
  /** The stat cache loaded at the start (its digests serve files whose stat still matches). */
  readonly cache: LoadedStatCache | undefined;
  /** The ignore patterns the tree was built with. */
  readonly patterns: readonly string[];
  /**
   * The id (statCacheId) of the stat cache file that describes exactly this
   * state, when hashContext left one: what an up-to-date record vouches by.
   */
  statCacheId?: string;
}

/** The warning for sockets, FIFOs and devices left out of the context. */
function skippedWarning(paths: readonly string[]): string {
  return `skipped ${paths.length} socket(s), FIFO(s) or device(s), as Docker does: ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', ...' : ''}`;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function emptyStats(): ContextStats {
  return { files: 0, dirs: 0, symlinks: 0, bytes: 0, cacheHits: 0, hashedFiles: 0, hashedBytes: 0 };
}

type Counts = Pick<ContextStats, 'files' | 'dirs' | 'symlinks' | 'bytes'>;

/** The files, directories, symlinks and bytes of `entry` and everything below it (the context root itself does not count). */
function countsOf(entry: Entry): Counts {
  const counts: Counts = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  forEachEntry(entry, (e) => {
    if (e.path === '') return;
    if (e.kind === 'file') {
      counts.files++;
      counts.bytes += e.size;
    } else if (e.kind === 'dir') counts.dirs++;
    else if (e.kind === 'symlink') counts.symlinks++;
  });
  return counts;
}

/** The same counts read off a stat cache's columns, without a single entry. */
function countsOfRows(cache: LoadedStatCache): Counts {
  const counts: Counts = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  for (let i = 1; i < cache.count; i++) {
    const kind = KIND_CODES[cache.kinds[i]!];
    if (kind === 'file') {
      counts.files++;
      counts.bytes += Number(cache.sizes[i]);
    } else if (kind === 'dir') counts.dirs++;
    else if (kind === 'symlink') counts.symlinks++;
  }
  return counts;
}

/** Adds (sign 1) or takes away (sign -1) counts: incremental updates keep the totals without recounting. */
function addCounts(stats: ContextStats, counts: Counts, sign: 1 | -1): void {
  stats.files += sign * counts.files;
  stats.dirs += sign * counts.dirs;
  stats.symlinks += sign * counts.symlinks;
  stats.bytes += sign * counts.bytes;
}

function statusError(root: string, file: { path: string }, status: HashStatus): ContextError | undefined {
  if (status === HashStatus.Unstable) {
    return new ContextError(`${file.path} kept changing while it was read (3 attempts)`, path.join(root, file.path), {
      hint: 'a process is writing it: exclude it in .dockerignore, or build when it is done',
    });
  }
  if (status === HashStatus.Unreadable) {
    return new ContextError(`${file.path} cannot be read`, path.join(root, file.path), {
      hint: 'fix its permissions, or exclude it in .dockerignore',
    });
  }
  return undefined;
}

/**
 * Fills in the digests of `files`: from the stat cache where it vouches for
 * the file, otherwise by reading. Returns the entries that vanished or
 * stopped being files while being read (the caller re-examines them).
 */
/** Takes in one file's hash result: its digest (and the stat it was read under), or why not. */
function takeRecord(ctx: HashedContext, entry: Entry, record: HashRecord, moved: Entry[], failures: ContextError[]): void {
  if (record.status === HashStatus.Ok) {
    entry.digest = record.digest;
    ctx.stats.bytes += Number(record.size) - entry.size;
    entry.size = Number(record.size);
    entry.mode = record.mode & 0o7777;
    entry.stat = { size: record.size, mtimeNs: record.mtimeNs, ctimeNs: record.ctimeNs, ino: record.ino };
    ctx.stats.hashedFiles++;
    ctx.stats.hashedBytes += entry.size;
  } else if (record.status === HashStatus.Vanished || record.status === HashStatus.NotAFile) {
    moved.push(entry);
  } else {
    const error = statusError(ctx.root, entry, record.status);
    if (error) failures.push(error);
  }
}

/**
 * Fills in the digests of `files`: from the stat cache where it vouches for
 * the file, otherwise by reading. Returns the entries that vanished or
 * stopped being files while being read (the caller re-examines them).
 */
async function digestFiles(ctx: HashedContext, files: readonly Entry[], onProgress: ContextOptions['onProgress'], inline: boolean | undefined): Promise<Entry[]> {
  const toHash: Entry[] = [];
  const cache = ctx.cache;
  for (const entry of files) {
    const row = cache && cachedRow(entry);
    if (cache && row !== undefined && isReusable(cache, row, entry.stat, entry.mode)) {
      entry.digest = cachedDigest(cache, row);
      ctx.stats.cacheHits++;
    } else {
      toHash.push(entry);
    }
  }
  const byPath = new Map(toHash.map((e) => [e.path, e]));
  const bytesTotal = toHash.reduce((n, e) => n + e.size, 0);
  let filesDone = 0;
  let bytesDone = 0;
  const failures: ContextError[] = [];
  const moved: Entry[] = [];
  await hashFiles(
    ctx.root,
    toHash,
    (file, record: HashRecord) => {
      takeRecord(ctx, byPath.get(file.path)!, record, moved, failures);
      filesDone++;
      bytesDone += file.size;
      onProgress?.({ filesDone, filesTotal: toHash.length, bytesDone, bytesTotal });
    },
    { inline },
  );
  if (failures.length) throw failures[0];
  return moved;
}

/** The stat cache's row for an entry: a restored entry knows its own; one attached since (a new path) has none. */
function cachedRow(entry: Entry): number | undefined {
  return entry instanceof RestoredEntry ? entry.row : undefined;
}

function rootEntry(root: string): Entry {
  if (!existsSync(root)) throw new ContextError('build context does not exist', root, { hint: 'name the folder that holds your sources' });
  const entry = lstatEntry(root, '');
  if (!entry || entry.kind !== 'dir') throw new ContextError('build context is not a directory', root, { hint: 'name a folder' });
  return entry;
}

/** Hashes the context at `root`, from the stat cache where it has one for the same ignore rules. */
export async function hashContext(root: string, options: ContextOptions = {}): Promise<HashedContext> {
  const absRoot = path.resolve(root);
  const patterns = options.ignorePatterns ?? [];
  const matcher = compileIgnore(patterns);
  // A check the CLI started before it loaded the engine (early-check.ts) is this one, begun sooner.
  const early = options.statCacheFile && !options.inline && options.inlineBudget === undefined ? takeEarlyCheck(absRoot, options.statCacheFile) : undefined;
  const takenAtNs = early?.startedAtNs ?? nowNs();
  // Without the stat helper, a big stat cache is checked on the threads: started before it is even read, they boot
  // while this thread reads and starts checking.
  const threads = !options.inline && !options.immutable && !poolIsRunning() && !statHelperAvailable();
  if (threads && options.statCacheFile && (statSync(options.statCacheFile, { throwIfNoEntry: false })?.size ?? 0) > VERIFY_BOOT_ROWS * 100) prestartPool();
  const loaded = early?.loaded ?? (options.statCacheFile ? loadStatCache(options.statCacheFile) : { cache: undefined, warning: undefined });
  const cache = loaded.cache;
  const warnings = loaded.warning ? [loaded.warning] : [];
  // (Row 0 is the root when its path is empty: one NUL.)
  const restorable = cache !== undefined && cache.patternsKey === patternsKey(patterns) && cache.count > 0 && cache.pathEnds[0] === 1;
  if (restorable && threads && !poolIsRunning() && cache.count > VERIFY_BOOT_ROWS) prestartPool();
  // Every cached stat is checked (on the threads when the cache is big); the tree is read from the cache lazily meanwhile.
  const check = () => verifyStatCache(absRoot, cache!, { inline: options.inline, threshold: options.inlineBudget });
  const verification = restorable && !options.immutable ? (early ? early.changed.then((changed) => changed ?? check()) : check()) : undefined;
  verification?.catch(() => undefined);
  const warm = restorable ? restoreTree(absRoot, matcher, patterns, cache, warnings) : undefined;
  if (warm && options.immutable) {
    warm.stats.cacheHits = warm.stats.files;
    return warm;
  }
  const ctx = warm && verification
    ? await refreshFromDisk(warm, options, verification)
    : await scanAndHash(absRoot, matcher, patterns, restorable ? undefined : cache, warnings, takenAtNs, options);
  const changed = !warm || ctx.stats.hashedFiles > 0 || ctx.takenAtNs !== cache!.takenAtNs;
  if (options.statCacheFile) ctx.statCacheId = changed ? persistStatCache(ctx, options.statCacheFile) : statCacheId(cache!);
  return ctx;
}

/**
 * A context with no usable stat cache: scanned and hashed in one pass on
 * the threads, straight into stat cache columns (scan.ts), then read as a
 * restored tree. A cache made under other ignore rules still vouches for
 * files whose stat it matches, by path; they are lstat-ed, not read.
 */
async function scanAndHash(
  root: string, matcher: IgnoreMatcher, patterns: readonly string[], oldCache: LoadedStatCache | undefined,
  warnings: string[], takenAtNs: bigint, options: ContextOptions,
): Promise<HashedContext> {
  const top = rootEntry(root);
  const report = options.onProgress;
  const scan = await scanContext(root, matcher, {
    hash: !oldCache,
    inline: options.inline,
    firstBudget: options.inlineBudget,
    onScanned: report && ((p) => report({ filesDone: p.files, filesTotal: undefined, bytesDone: p.bytes, bytesTotal: undefined })),
  });
  const assembled = assembleScan({ mode: top.mode, ...top.stat }, scan, matcher, takenAtNs, patternsKey(patterns));
  if (assembled.skipped.length) warnings.push(skippedWarning(assembled.skipped));
  const failed = assembled.failures[0];
  if (failed) throw statusError(root, failed, failed.status);
  const { cache } = assembled;
  let cacheHits = 0;
  let toHash = assembled.toHash;
  if (oldCache) {
    const rowOf = new Map(oldCache.paths.map((p, i) => [p, i]));
    toHash = toHash.filter((row) => {
      const old = rowOf.get(cache.paths[row]!);
      const now = { size: cache.sizes[row]!, mtimeNs: cache.mtimes[row]!, ctimeNs: cache.ctimes[row]!, ino: cache.inos[row]! };
      if (old === undefined || !isReusable(oldCache, old, now, cache.modes[row]!)) return true;
      cache.digests.set(oldCache.digests.subarray(16 * old, 16 * old + 16), 16 * row);
      cacheHits++;
      return false;
    });
  }
  let hashedFiles = scan.results.reduce((n, r) => n + r.files, 0);
  let hashedBytes = scan.results.reduce((n, r) => n + r.bytes, 0);
  const moved = [...assembled.moved];
  const failures: ContextError[] = [];
  const files = toHash.map((row) => ({ row, path: cachedPath(cache, row), size: Number(cache.sizes[row]) }));
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  let filesDone = 0;
  let bytesDone = 0;
  await hashFiles(root, files, (file, record) => {
    const { row } = file as (typeof files)[number];
    if (record.status === HashStatus.Ok) {
      setFileRow(assembled, row, record);
      hashedFiles++;
      hashedBytes += Number(record.size);
    } else if (record.status === HashStatus.Vanished || record.status === HashStatus.NotAFile) {
      moved.push(file.path);
    } else {
      const error = statusError(root, file, record.status);
      if (error) failures.push(error);
    }
    filesDone++;
    bytesDone += file.size;
    report?.({ filesDone, filesTotal: files.length, bytesDone, bytesTotal });
  }, { inline: options.inline });
  if (failures.length) throw failures[0];
  digestDirectories(assembled);
  const ctx = restoreTree(root, matcher, patterns, cache, warnings)!;
  Object.assign(ctx.stats, { cacheHits, hashedFiles, hashedBytes });
  if (moved.length) {
    const { dirty } = await applyChanges(ctx, moved, options, takenAtNs);
    redigest(ctx, dirty);
  }
  return ctx;
}

/**
 * An entry as the stat cache recorded it, read from the cache's columns
 * when first reached: a directory lists its children (one range of rows)
 * the first time something asks for them, and its stat (four BigInts) and
 * digest are views made on demand. A no-change run that needs only the
 * root digest reads no entry at all; a lookup reads the directories it
 * passes through.
 */
class RestoredEntry implements Entry {
  readonly name: string;
  mode: number;
  size: number;
  linkTarget: string | undefined;
  hardlinkOf: string | undefined;
  private known: StatKey | undefined;
  private ownDigest: Buffer | undefined;
  private listed: Map<string, Entry> | undefined;
  private unlisted: boolean;

  constructor(private readonly cache: LoadedStatCache, readonly row: number, readonly path: string, public kind: EntryKind) {
    this.name = path.slice(path.lastIndexOf('/') + 1);
    this.mode = cache.modes[row]!;
    this.size = kind === 'file' ? Number(cache.sizes[row]) : 0;
    this.linkTarget = cachedLink(cache, row);
    const link = cachedHardlink(cache, row);
    this.hardlinkOf = link === undefined ? undefined : cache.paths[link];
    this.unlisted = kind === 'dir';
  }

  get children(): Map<string, Entry> | undefined {
    if (this.unlisted) {
      this.unlisted = false;
      const { cache, row } = this;
      const children = new Map<string, Entry>();
      for (let r = row + 1; r < cache.ends[row]!; r = cache.ends[r]!) {
        const child = new RestoredEntry(cache, r, cache.paths[r]!, KIND_CODES[cache.kinds[r]!]!);
        children.set(child.name, child);
      }
      this.listed = children;
    }
    return this.listed;
  }

  set children(value: Map<string, Entry> | undefined) {
    this.unlisted = false;
    this.listed = value;
  }

  get digest(): Buffer {
    return this.ownDigest ?? cachedDigest(this.cache, this.row);
  }

  set digest(value: Buffer) {
    this.ownDigest = value;
  }

  get stat(): StatKey {
    this.known ??= { size: this.cache.sizes[this.row]!, mtimeNs: this.cache.mtimes[this.row]!, ctimeNs: this.cache.ctimes[this.row]!, ino: this.cache.inos[this.row]! };
    return this.known;
  }

  set stat(value: StatKey) {
    this.known = value;
  }

  /** This directory's rows, when nothing has read below it or changed it since the cache was loaded. */
  unchangedSubtree(): { from: LoadedStatCache; start: number } | undefined {
    const untouched = this.unlisted && this.ownDigest === undefined && this.known === undefined && this.mode === this.cache.modes[this.row];
    return untouched ? { from: this.cache, start: this.row } : undefined;
  }
}

/** The tree as the cache recorded it (digests included), read lazily from its rows; undefined if row 0 is not a directory at ''. */
function restoreTree(root: string, matcher: IgnoreMatcher, patterns: readonly string[], cache: LoadedStatCache, warnings: string[]): HashedContext | undefined {
  if (cache.count === 0 || cache.pathEnds[0] !== 1 || KIND_CODES[cache.kinds[0]!] !== 'dir') {
    warnings.push('stat cache discarded: it does not start at the context root; hashing every file and writing a new one');
    return undefined;
  }
  const tree = new RestoredEntry(cache, 0, '', 'dir');
  const stats = { ...emptyStats(), ...countsOfRows(cache) };
  return { root, matcher, tree, index: indexOver(tree), takenAtNs: cache.takenAtNs, stats, warnings, cache, patterns };
}

/** Brings a restored tree up to date: whatever the lstat pass found moved is applied as a change set. */
async function refreshFromDisk(ctx: HashedContext, options: ContextOptions, verification: Promise<number[]>): Promise<HashedContext> {
  const cache = ctx.cache!;
  const rows = await verification;
  if (rows.length > 0) {
    const takenAtNs = nowNs();
    const { dirty } = await applyChanges(ctx, rows.map((i) => cache.paths[i]!), options, cache.takenAtNs);
    redigest(ctx, dirty);
    ctx.takenAtNs = takenAtNs;
  }
  ctx.stats.cacheHits = ctx.stats.files - ctx.stats.hashedFiles;
  return ctx;
}

/**
 * Every directory of the context (its path; '' is the root), without
 * turning untouched parts of a restored tree into entries: their directory
 * rows are read off the cache's columns (the dev loop watches them all).
 */
export function contextDirectories(ctx: HashedContext): string[] {
  const out: string[] = [];
  const dirCode = KIND_CODES.indexOf('dir');
  const visit = (e: Entry): void => {
    if (e.kind !== 'dir') return;
    const untouched = e instanceof RestoredEntry ? e.unchangedSubtree() : undefined;
    if (untouched) {
      const { from, start } = untouched;
      for (let r = start; r < from.ends[start]!; r++) if (from.kinds[r] === dirCode) out.push(from.paths[r]!);
      return;
    }
    out.push(e.path);
    for (const child of e.children!.values()) visit(child);
  };
  visit(ctx.tree);
  return out;
}

/** Writes the stat cache for the current state of the context; returns its id (statCacheId). */
export function persistStatCache(ctx: HashedContext, file: string): string {
  const whole = ctx.tree instanceof RestoredEntry ? ctx.tree.unchangedSubtree() : undefined;
  if (whole && whole.from.takenAtNs === ctx.takenAtNs && whole.from.patternsKey === patternsKey(ctx.patterns)) {
    // The tree is exactly the cache it was read from (a fresh scan, say): its bytes are the file.
    return saveStatCache(file, Buffer.from(whole.from.bytes));
  }
  const segments: CacheSegment[] = [];
  const visit = (e: Entry): void => {
    const unchanged = e instanceof RestoredEntry ? e.unchangedSubtree() : undefined;
    if (unchanged) {
      segments.push(unchanged);
      return;
    }
    const stat = e.stat;
    segments.push({
      row: { path: e.path, kind: e.kind, mode: e.mode, size: stat.size, mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs, ino: stat.ino, digest: e.digest, link: e.linkTarget, hardlinkOf: e.hardlinkOf },
    });
    if (e.kind === 'dir') for (const child of sortedChildren(e)) visit(child);
  };
  visit(ctx.tree);
  return saveStatCache(file, encodeStatCache(ctx.takenAtNs, patternsKey(ctx.patterns), segments));
}

/** Re-digests every dirty directory and its ancestors, deepest first. */
function redigest(ctx: HashedContext, dirty: ReadonlySet<string>): void {
  const toDigest = new Set<string>();
  for (let d of dirty) {
    for (;;) {
      toDigest.add(d);
      if (d === '') break;
      d = parentPath(d);
    }
  }
  for (const d of [...toDigest].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1))) {
    const dir = ctx.index.get(d);
    if (dir && dir.kind === 'dir') dir.digest = digestDirectory(dir);
  }
}

/** A selection's digest, or its error message (a source that vanished is a change too). */
function selectionDigest(ctx: HashedContext, selector: SourceSelector): string {
  try {
    return selectSources(ctx, selector).digest;
  } catch (e) {
    if (e instanceof ContextError) return `error: ${e.message}`;
    throw e;
  }
}

function toContextPath(root: string, p: string): string | undefined {
  const rel = path.isAbsolute(p) ? path.relative(root, p) : p;
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const clean = path.posix.normalize(rel.split(path.sep).join('/')).replace(/\/+$/, '');
  return clean === '.' ? '' : clean;
}

function detach(ctx: HashedContext, entry: Entry, dirty: Set<string>): void {
  const parent = ctx.index.get(parentPath(entry.path));
  if (parent?.children?.get(entry.name) === entry) {
    parent.children.delete(entry.name);
    addCounts(ctx.stats, countsOf(entry), -1);
  }
  dirty.add(parentPath(entry.path));
}

function sameKind(a: Entry, b: Entry): boolean {
  return a.kind === b.kind && a.linkTarget === b.linkTarget;
}

export interface UpdateResult {
  /** Context paths whose entry was added, removed or changed digest. */
  readonly changed: string[];
  /** Indexes (into the `selectors` passed in) of the COPY/ADD selections whose digest changed. */
  readonly selectorsChanged: number[];
  /** The root digest before and after. */
  readonly before: string;
  readonly after: string;
}

async function applyChanges(ctx: HashedContext, paths: readonly string[], options: ContextOptions, sinceNs: bigint): Promise<{ dirty: Set<string>; touched: Set<string> }> {
  const dirty = new Set<string>();
  const touched = new Set<string>();
  const found: Entry[] = [];
  const lstatFound = (rel: string): Entry | undefined => {
    const e = lstatEntry(ctx.root, rel);
    if (e?.kind === 'file') found.push(e);
    return e;
  };
  const unchangedFiles = new Set<Entry>();
  const skipped: string[] = [];
  const rels = [...new Set(paths.map((p) => toContextPath(ctx.root, p)).filter((p): p is string => p !== undefined))]
    .sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1));

  for (const rel of rels) {
    const ignored = rel !== '' && ctx.matcher.ignores(rel);
    if (ignored && !ctx.matcher.hasExclusions) continue;
    const existing = ctx.index.get(rel);
    const fresh = rel === '' ? rootEntry(ctx.root) : lstatFound(rel);
    if (!fresh || (ignored && fresh.kind !== 'dir')) {
      if (existing) {
        detach(ctx, existing, dirty);
        touched.add(rel);
      }
      continue;
    }
    if (!existing || !sameKind(existing, fresh)) {
      if (existing) detach(ctx, existing, dirty);
      attach(ctx, fresh, dirty, touched, lstatFound, found, skipped);
      continue;
    }
    if (fresh.kind === 'file' && sameStat(existing, fresh, sinceNs)) unchangedFiles.add(existing);
    ctx.stats.bytes += fresh.size - existing.size;
    existing.mode = fresh.mode;
    existing.size = fresh.size;
    existing.stat = fresh.stat;
    existing.hardlinkOf = fresh.hardlinkOf;
    if (fresh.kind === 'dir') syncDirectory(ctx, existing, dirty, touched, lstatFound, found, skipped);
    dirty.add(parentPath(rel));
    touched.add(rel);
  }

  if (skipped.length) ctx.warnings.push(skippedWarning(skipped));
  // Every file lstat-ed above that is in the tree now, except those whose stat proves them unchanged.
  const targets = new Set<Entry>();
  for (const f of found) {
    const entry = ctx.index.get(f.path);
    if (entry?.kind === 'file' && !unchangedFiles.has(entry)) targets.add(entry);
  }
  const moved = await digestFiles(ctx, [...targets], options.onProgress, options.inline);
  if (moved.length) {
    const again = await applyChanges(ctx, moved.map((e) => e.path), options, sinceNs);
    again.dirty.forEach((d) => dirty.add(d));
    again.touched.forEach((t) => touched.add(t));
  }
  return { dirty, touched };
}

/** Same stat as when it was last hashed, and not racily clean: the digest still holds. */
function sameStat(a: Entry, b: Entry, sinceNs: bigint): boolean {
  return a.mode === b.mode && a.stat.size === b.stat.size && a.stat.mtimeNs === b.stat.mtimeNs &&
    a.stat.ctimeNs === b.stat.ctimeNs && a.stat.ino === b.stat.ino && a.stat.mtimeNs + RACY_MARGIN_NS < sinceNs;
}

/** Adds a new entry (and, for a directory, everything below it), creating missing parents. */
type Lstat = (rel: string) => Entry | undefined;

function attach(ctx: HashedContext, entry: Entry, dirty: Set<string>, touched: Set<string>, lstat: Lstat, found: Entry[], skipped: string[]): void {
  const parentRel = parentPath(entry.path);
  let parent = ctx.index.get(parentRel);
  if (!parent) {
    const p = lstat(parentRel);
    if (!p || p.kind !== 'dir') return;
    attach(ctx, p, dirty, touched, lstat, found, skipped);
    parent = ctx.index.get(parentRel);
    if (!parent) return;
  }
  if (entry.kind === 'dir' && entry.children!.size === 0) {
    found.push(...walkInline(ctx.root, entry, ctx.matcher, skipped));
    if (ctx.matcher.ignores(entry.path) && entry.children!.size === 0) return;
  }
  const replaced = parent.children!.get(entry.name);
  if (replaced) addCounts(ctx.stats, countsOf(replaced), -1);
  parent.children!.set(entry.name, entry);
  addCounts(ctx.stats, countsOf(entry), 1);
  for (const e of walkEntries(entry)) {
    touched.add(e.path);
    if (e.kind === 'dir') dirty.add(e.path);
  }
  dirty.add(parentRel);
}

/** Re-lists a directory: names that appeared are added, names that went away removed. */
function syncDirectory(ctx: HashedContext, dir: Entry, dirty: Set<string>, touched: Set<string>, lstat: Lstat, found: Entry[], skipped: string[]): void {
  const names = new Set(listKeptNames(ctx.root, dir.path, ctx.matcher, skipped));
  for (const [name, child] of [...dir.children!]) {
    if (!names.has(name)) {
      detach(ctx, child, dirty);
      touched.add(child.path);
    }
  }
  for (const name of names) {
    if (dir.children!.has(name)) continue;
    const fresh = lstat(joinPath(dir.path, name));
    if (fresh) attach(ctx, fresh, dirty, touched, lstat, found, skipped);
  }
}

/**
 * Applies changed paths (files, directories, deleted or renamed paths;
 * absolute or context-relative) to `ctx`: only those paths are re-read, and
 * only the directories above them re-digested.
 */
export async function updateContext(
  ctx: HashedContext,
  paths: readonly string[],
  options: ContextOptions & { readonly selectors?: readonly SourceSelector[] } = {},
): Promise<UpdateResult> {
  const before = ctx.tree.digest.toString('hex');
  const selectors = options.selectors ?? [];
  const selectionBefore = selectors.map((sel) => selectionDigest(ctx, sel));
  const previous = new Map<string, string>();
  const rels = paths.map((p) => toContextPath(ctx.root, p)).filter((p): p is string => p !== undefined);
  const remember = (e: Entry) => previous.set(e.path, e.kind + e.mode + e.digest.toString('hex'));
  for (const rel of rels) {
    const e = ctx.index.get(rel);
    if (e) for (const x of walkEntries(e)) remember(x);
    for (let up = rel; up !== ''; ) {
      up = parentPath(up);
      const dir = ctx.index.get(up);
      if (dir) remember(dir);
    }
  }
  const sinceNs = ctx.takenAtNs;
  ctx.takenAtNs = nowNs();
  const { dirty, touched } = await applyChanges(ctx, rels, options, sinceNs);
  redigest(ctx, dirty);
  const changed = [...new Set([...touched, ...previous.keys()])].filter((p) => {
    const now = ctx.index.get(p);
    const was = previous.get(p);
    const is = now ? now.kind + now.mode + now.digest.toString('hex') : undefined;
    return was !== is;
  });
  const selectorsChanged = selectors.flatMap((sel, i) => (selectionDigest(ctx, sel) !== selectionBefore[i] ? [i] : []));
  return { changed: changed.filter((p) => p !== '').sort(), selectorsChanged, before, after: ctx.tree.digest.toString('hex') };
}
