/**
 * What `COPY <src>... <dst>` would copy from the context, and its digest.
 * Sources are matched as Docker does (Go filepath.Match wildcards per path
 * segment; a directory source copies its contents; a wildcard-matched
 * directory is flattened the same way; --parents keeps the path; --exclude
 * drops matches). The digest is the Merkle digest of the directory the
 * copy would produce, so two selectors that produce the same files with the
 * same metadata have the same digest, and a plain directory source costs
 * nothing: its digest is already in the tree.
 */
import { ContextError } from '../errors/index.js';
import type { HashedContext } from './context.js';
import { compileIgnore, goClean, validateGlob, type IgnoreMatcher } from './ignore.js';
import { childRecord, forEachEntry, sortedChildren, type Entry } from './tree.js';
import { xxh128 } from './xxhash.js';

export interface SourceSelector {
  readonly sources: readonly string[];
  readonly exclude?: readonly string[];
  readonly parents?: boolean;
  /** What the files are, for errors, when not the build context: `--from=builder`. */
  readonly from?: string;
}

export interface Selection {
  /** Hex XXH128 of the tree the copy would produce. */
  readonly digest: string;
  /** Context paths of the files (and symlinks) the copy reads. */
  readonly files: string[];
  /** Their entries, in the same order. */
  readonly fileEntries: Entry[];
  /** Every entry the copy creates: its context path and its path below the destination, parents first. */
  readonly placed: { readonly src: string; readonly dest: string; readonly entry: Entry }[];
  /** What each source without a wildcard names, symlinks followed. */
  readonly named: readonly Entry[];
}

/** A node of the tree the copy would produce. */
interface Placed {
  readonly name: string;
  readonly entry: Entry;
  /** Present when the node's content differs from entry's (merged or filtered). */
  children: Map<string, Placed> | undefined;
}

const WILDCARD = /[*?[\\]/;

function fail(message: string, source: string, hint: string): never {
  throw new ContextError(message, source, { hint });
}

function cleanSource(source: string): string {
  const clean = goClean('/' + source.replace(/^\.\/+/, '')).slice(1);
  return clean;
}

/** A relative source that climbs above the context root (`../x`, `a/../../x`). */
function climbsOut(source: string): boolean {
  if (source.startsWith('/')) return false;
  const clean = goClean(source);
  return clean === '..' || clean.startsWith('../');
}

/** Symlinks followed before giving up, as Linux's own limit. */
const MAX_LINKS = 40;

/**
 * The entry a source path names, as Docker reads a named source: a symlink
 * anywhere in the path, the last part included, is followed, inside the
 * context only. The context is the root: an absolute target starts there
 * and `..` stops there (BuildKit's scoping), so a link never reads past it.
 * Undefined when the path, or where a link leads, is not in the context.
 */
function resolveSource(ctx: HashedContext, clean: string): Entry | undefined {
  const direct = ctx.index.get(clean);
  if (direct && direct.kind !== 'symlink') return direct;
  let rest = clean === '' ? [] : clean.split('/');
  let done: string[] = [];
  for (let links = 0; rest.length; ) {
    const part = rest.shift()!;
    const entry = ctx.index.get([...done, part].join('/'));
    if (!entry || (rest.length && entry.kind !== 'dir' && entry.kind !== 'symlink')) return undefined;
    if (entry.kind !== 'symlink') {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = entry.linkTarget!;
    const resolved = goClean(`/${target.startsWith('/') ? target : [...done, target].join('/')}`).slice(1);
    rest = [...(resolved === '' ? [] : resolved.split('/')), ...rest];
    done = [];
  }
  return ctx.index.get(done.join('/'));
}

/** Entries whose path matches a Go filepath.Match pattern, segment by segment. */
function matchWildcard(ctx: HashedContext, pattern: string): Entry[] {
  validateGlob(pattern);
  const segments = pattern.split('/');
  let current: Entry[] = [ctx.tree];
  for (const seg of segments) {
    const next: Entry[] = [];
    const re = WILDCARD.test(seg) ? globSegment(seg) : undefined;
    for (const dir of current) {
      if (dir.kind !== 'dir') continue;
      if (!re) {
        const child = dir.children!.get(seg);
        if (child) next.push(child);
        continue;
      }
      for (const child of sortedChildren(dir)) if (re.test(child.name)) next.push(child);
    }
    current = next;
  }
  return current;
}

function globSegment(seg: string): RegExp {
  let re = '^';
  const chars = Array.from(seg);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\') re += escapeChar(chars[++i] ?? '\\');
    else if (ch === '[') {
      let j = i + 1;
      let cls = '[';
      if (chars[j] === '^') {
        cls += '^';
        j++;
      }
      const first = j;
      for (; j < chars.length; j++) {
        const c = chars[j]!;
        if (c === ']' && j > first) break;
        if (c === '\\') cls += chars[++j] === '-' ? '\\-' : escapeChar(chars[j]!);
        else cls += c === '-' ? '-' : escapeChar(c);
      }
      re += cls + ']';
      i = j;
    } else re += escapeChar(ch);
  }
  return new RegExp(re + '$', 'u');
}

function escapeChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
}

/** Places `entry` at `name` under `into`, merging directories as a copy would. */
function place(into: Placed, name: string, entry: Entry, exclude: IgnoreMatcher | undefined, relBase: string): void {
  const existing = into.children!.get(name);
  if (entry.kind === 'dir' && existing?.entry.kind === 'dir') {
    existing.children ??= expand(existing);
    for (const child of entry.children!.values()) placeFiltered(existing, child, exclude, relBase);
    return;
  }
  const node: Placed = { name, entry, children: undefined };
  if (entry.kind === 'dir' && exclude) {
    node.children = new Map();
    for (const child of entry.children!.values()) placeFiltered(node, child, exclude, relBase);
  }
  into.children!.set(name, node);
}

function placeFiltered(into: Placed, child: Entry, exclude: IgnoreMatcher | undefined, relBase: string): void {
  const rel = relBase === '' ? child.path : child.path.slice(relBase.length + 1);
  if (exclude?.ignores(rel)) return;
  place(into, child.name, child, exclude, relBase);
}

function expand(node: Placed): Map<string, Placed> {
  const map = new Map<string, Placed>();
  for (const child of node.entry.children!.values()) map.set(child.name, { name: child.name, entry: child, children: undefined });
  return map;
}

function digestOf(node: Placed): Buffer {
  if (!node.children) return node.entry.digest;
  const records = [...node.children.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((child) => childRecord({ ...child.entry, name: child.name, digest: digestOf(child) }));
  return xxh128(Buffer.concat(records));
}

function placedOf(node: Placed, destPrefix: string, out: { src: string; dest: string; entry: Entry }[]): void {
  const children = node.children
    ? [...node.children.values()]
    : [...(node.entry.children?.values() ?? [])].map((e) => ({ name: e.name, entry: e, children: undefined }) as Placed);
  for (const child of children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const dest = destPrefix ? `${destPrefix}/${child.name}` : child.name;
    out.push({ src: child.entry.path, dest, entry: child.entry });
    if (child.entry.kind === 'dir') placedOf(child, dest, out);
  }
}

function filesOf(node: Placed, out: Entry[]): void {
  if (node.children) {
    for (const child of node.children.values()) filesOf(child, out);
  } else {
    forEachEntry(node.entry, (e) => {
      if (e.kind !== 'dir') out.push(e);
    });
  }
}

/** Resolves a COPY/ADD source list against the context. Throws ContextError for a source that is not there. */
export function selectSources(ctx: HashedContext, selector: SourceSelector): Selection {
  const root: Placed = { name: '', entry: ctx.tree, children: new Map() };
  const exclude = selector.exclude?.length ? compileIgnore(selector.exclude) : undefined;
  const named: Entry[] = [];
  for (const source of selector.sources) {
    if (climbsOut(source)) fail(`${source} is outside the build context`, source, 'sources are read from inside the context only: name the file by its path in the context, or build from a directory that holds it');
    const clean = cleanSource(source);
    // Each match: the path it is copied as (a symlink's own), and what is copied (where the link leads).
    let matched: { path: string; name: string; entry: Entry }[];
    const follow = (path: string, name: string) => {
      const entry = resolveSource(ctx, path);
      if (entry) return { path, name, entry };
      const link = ctx.index.get(path);
      if (link?.kind === 'symlink') {
        fail(`${source} is a symlink to ${link.linkTarget}, which is not in the build context`, source,
          'a symlink named as a source is followed inside the context only (an absolute target is read from the context root): put the file itself in the context');
      }
      if (selector.from) fail(`${source} is not in the files of ${selector.from}`, source, 'check the path: it is read from that stage or image, from its /');
      fail(`${source} is not in the build context`, source, ctx.matcher.ignores(clean) ? 'it is excluded by .dockerignore' : 'check the path: sources are relative to the context');
    };
    if (WILDCARD.test(clean)) {
      let found: Entry[];
      try {
        found = matchWildcard(ctx, clean);
      } catch {
        fail(`bad wildcard pattern ${source}`, source, 'check the [...] classes and escapes');
      }
      if (found.length === 0) {
        fail(`no files ${selector.from ? `of ${selector.from} ` : ''}match ${source}`, source, selector.from ? 'check the pattern: it is matched from that stage or image\'s /' : 'check the pattern, and that .dockerignore does not exclude the files');
      }
      matched = found.map((e) => follow(e.path, e.name));
    } else {
      const path = clean === '.' ? '' : clean;
      matched = [follow(path, path.slice(path.lastIndexOf('/') + 1))];
      named.push(matched[0]!.entry);
    }
    for (const { path: sourcePath, name, entry } of matched) {
      if (selector.parents) {
        let at = root;
        const parts = sourcePath === '' ? [] : sourcePath.split('/');
        parts.slice(0, -1).forEach((part, i) => {
          const dirPath = parts.slice(0, i + 1).join('/');
          let next = at.children!.get(part);
          if (!next) {
            next = { name: part, entry: resolveSource(ctx, dirPath)!, children: new Map() };
            at.children!.set(part, next);
          }
          next.children ??= expand(next);
          at = next;
        });
        if (entry.kind === 'dir' && parts.length === 0) for (const child of entry.children!.values()) placeFiltered(root, child, exclude, entry.path);
        else if (!exclude?.ignores(name)) place(at, name, entry, exclude, entry.path);
      } else if (entry.kind === 'dir') {
        for (const child of entry.children!.values()) placeFiltered(root, child, exclude, entry.path);
      } else if (!exclude?.ignores(name)) {
        place(root, name, entry, exclude, entry.path);
      }
    }
  }
  // The lists are walked only when asked for: a cached COPY of a whole directory needs its digest, which the tree has already.
  let fileEntries: Entry[] | undefined;
  let files: string[] | undefined;
  let placed: { src: string; dest: string; entry: Entry }[] | undefined;
  return {
    named,
    digest: digestOf(root).toString('hex'),
    get fileEntries() {
      if (!fileEntries) {
        fileEntries = [];
        filesOf(root, fileEntries);
        fileEntries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      }
      return fileEntries;
    },
    get files() {
      files ??= this.fileEntries.map((e) => e.path);
      return files;
    },
    get placed() {
      if (!placed) {
        placed = [];
        placedOf(root, '', placed);
      }
      return placed;
    },
  };
}
