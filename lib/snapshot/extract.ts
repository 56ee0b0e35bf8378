/**
 * Applying a layer tar to a root filesystem directory: the security
 * boundary. No entry may land outside the root: `..`, absolute paths, hard
 * links whose target escapes, and paths through a symlink that leads out
 * are refused with an error naming the entry. OCI whiteouts are applied:
 * `.wh.NAME` removes NAME, `.wh..wh..opq` empties the directory below it;
 * or, for an overlay snapshot (a layer on its own, a lower of later
 * mounts), they are only recorded, for the caller to mark overlay's way.
 */
import { lstatSync, mkdirSync, rmSync, symlinkSync, linkSync, chmodSync, lchownSync, utimesSync, lutimesSync, readdirSync, createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Header } from 'tar-stream';
import { tarExtract } from './tar.js';
import { SnapshotError } from '../errors/index.js';
import { openDecompressed } from './compression.js';

const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';

/** The cleaned, root-relative path of an entry, or an error if it would escape. */
export function safeEntryPath(name: string, layer: string): string {
  const clean = path.posix.normalize(name).replace(/\/+$/, '');
  if (path.posix.isAbsolute(name) || clean === '..' || clean.startsWith('../')) {
    throw new SnapshotError(`layer entry ${JSON.stringify(name)} points outside the root filesystem`, layer, { hint: 'the layer is damaged or hostile; it was not applied' });
  }
  return clean === '.' ? '' : clean;
}

/** Refuses a path whose existing parent chain passes through a symlink (which could lead anywhere). */
function assertNoSymlinkParent(root: string, rel: string, layer: string): void {
  const parts = rel.split('/');
  let at = root;
  for (const part of parts.slice(0, -1)) {
    at = path.join(at, part);
    const st = lstatSync(at, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isSymbolicLink()) {
      throw new SnapshotError(`layer entry ${JSON.stringify(rel)} goes through the symlink ${path.relative(root, at)}`, layer, {
        hint: 'a layer may not write through a symlink; the layer is damaged or hostile',
      });
    }
  }
}

function removeAll(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) removeAll(path.join(dir, name));
}

/** The whiteouts of a layer extracted with `whiteouts: 'record'`: root-relative paths. */
export interface RecordedWhiteouts {
  /** Paths the layer deletes. */
  readonly removed: string[];
  /** Directories the layer makes opaque (nothing below from earlier layers shows). */
  readonly opaque: string[];
}

async function applyEntry(root: string, header: Header, stream: NodeJS.ReadableStream, layer: string, record: RecordedWhiteouts | undefined): Promise<void> {
  const rel = safeEntryPath(header.name, layer);
  if (rel === '') {
    stream.resume();
    return;
  }
  const base = path.posix.basename(rel);
  const dirRel = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
  assertNoSymlinkParent(root, rel, layer);
  if (base === OPAQUE) {
    const dir = path.join(root, dirRel);
    if (record) {
      mkdirSync(dir, { recursive: true });
      record.opaque.push(dirRel);
    } else if (lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) emptyDir(dir);
    stream.resume();
    return;
  }
  if (base.startsWith(WHITEOUT + WHITEOUT)) {
    stream.resume(); // aufs's own metadata (.wh..wh.plnk and the like): nothing for a root filesystem
    return;
  }
  if (base.startsWith(WHITEOUT)) {
    const name = base.slice(WHITEOUT.length);
    if (!name || name === '.' || name === '..') throw new SnapshotError(`layer entry ${JSON.stringify(header.name)} is not a valid whiteout`, layer, { hint: 'the layer is damaged or hostile; it was not applied' });
    if (record) {
      mkdirSync(path.join(root, dirRel), { recursive: true });
      record.removed.push(dirRel ? `${dirRel}/${name}` : name);
    } else removeAll(path.join(root, dirRel, name));
    stream.resume();
    return;
  }
  const full = path.join(root, rel);
  mkdirSync(path.dirname(full), { recursive: true });
  const existing = lstatSync(full, { throwIfNoEntry: false });
  if (existing && !(existing.isDirectory() && header.type === 'directory')) removeAll(full);
  switch (header.type) {
    case 'directory':
      mkdirSync(full, { recursive: true });
      stream.resume();
      break;
    case 'file':
    case 'contiguous-file':
      await pipeline(stream, createWriteStream(full, { mode: 0o600 }));
      break;
    case 'symlink':
      symlinkSync(header.linkname, full);
      stream.resume();
      break;
    case 'link': {
      const target = safeEntryPath(header.linkname, layer);
      assertNoSymlinkParent(root, target, layer);
      linkSync(path.join(root, target), full);
      stream.resume();
      return; // a hard link shares its target's metadata
    }
    default:
      // Device nodes and fifos need mknod, which a layer applied here does not get.
      stream.resume();
      return;
  }
  try {
    lchownSync(full, header.uid, header.gid);
  } catch {
    // Not root: ownership stays ours; the layer's tar still records the real owners.
  }
  // After the owner: a change of owner clears setuid and setgid.
  if (header.type !== 'symlink') chmodSync(full, header.mode & 0o7777);
  if (header.type === 'symlink') lutimesSync(full, header.mtime, header.mtime);
  else utimesSync(full, header.mtime, header.mtime);
}

export interface ApplyOptions {
  /** 'apply' (the default) carries whiteouts out; 'record' returns them instead. */
  readonly whiteouts?: 'apply' | 'record';
}

/** Applies a layer blob or archive (a tar, plain or gzip, bzip2, xz or zstd compressed) onto `root`. */
export async function applyLayer(root: string, blobFile: string, options: ApplyOptions = {}): Promise<RecordedWhiteouts> {
  const record: RecordedWhiteouts | undefined = options.whiteouts === 'record' ? { removed: [], opaque: [] } : undefined;
  const ex = tarExtract();
  const dirs: [string, Header][] = [];
  ex.on('entry', (header, stream, next) => {
    applyEntry(root, header, stream as unknown as NodeJS.ReadableStream, blobFile, record).then(() => {
      if (header.type === 'directory') dirs.push([path.join(root, safeEntryPath(header.name, blobFile)), header]);
      next();
    }, (e: unknown) => {
      stream.resume();
      next(e as Error);
    });
  });
  await pipeline(openDecompressed(blobFile), ex);
  // Directory times last: writing into a directory moves its mtime.
  for (const [dir, header] of dirs.reverse()) {
    try {
      utimesSync(dir, header.mtime, header.mtime);
    } catch {
      // removed by a later whiteout in the same layer
    }
  }
  return record ?? { removed: [], opaque: [] };
}
