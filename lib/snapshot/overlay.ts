/**
 * The overlay snapshotter. Every layer is extracted once into
 * `<store>/snapshots/<id>` in overlayfs's own format (a whiteout is a
 * character device 0/0, an opaque directory carries
 * trusted.overlay.opaque=y) and is from then on only ever a read-only
 * lower. A step mounts its parent's layers as lowers with a fresh upper
 * directory; the upper is the step's diff, turned into a layer tar
 * without looking at the rest of the tree, and then renamed into the
 * snapshots as the new layer's own. The lowers are named relative to the
 * snapshots directory (mount runs there) so that a deep image keeps the
 * mount option string short.
 *
 * A new version of a COPY layer may be kept as a delta over its last
 * version: its directory holds only the entries that differ, and
 * `<name>.base` names the snapshot beneath it. Mounting such a layer mounts
 * its chain. A delta never holds a whiteout or an opaque mark (the caller
 * commits one only when the new version has every path of the last, no
 * directory where that had something else), so the chain shows exactly the
 * layer's files whatever lies beneath it, in any image that uses it.
 *
 * A big layer that another step follows is usable before its tar is
 * written: its directory goes in as `p<pid>-<n>` at once and the next
 * steps mount it, while the tar thread writes its tar (and so learns its
 * diffID). When the build ends, with nothing mounted any more, it is
 * renamed to its diffID's name; one left by a killed build is removed by
 * the next.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { blobPath, diskUsage, processAlive, tempPath, withStoreLock, writeFileAtomic, type LayerRef } from '../cache/index.js';
import { SnapshotError } from '../errors/index.js';
import { applyLayer } from './extract.js';
import { BIG_LAYER_BYTES, stageEntriesLayer, storeTar, type StagedLayer } from './layer-tar.js';
import { ovl, OvlError, OVL_HELPER } from './ovl-helper.js';
import type { Snapshotter, Workspace } from './snapshotter.js';
import { tarThreadRunning, writeTarInThread } from './tar-thread.js';

const EMPTY = 'empty';
/** The kernel copies mount options into one page. */
const MAX_OPTIONS = 4000;
/** How many deltas a snapshot may stack before a new version is written whole again (each is a lower in every mount). */
const CHAIN_LIMIT = 6;
/** Redirects and metacopy would leave upper entries that are not plain files and dirs. */
const FIXED_OPTIONS = 'redirect_dir=off,metacopy=off,index=off';

const snapshotsDir = (store: string) => path.join(store, 'snapshots');

/** A layer's snapshot directory name: short, so that many fit into one mount option string. */
function snapshotName(diffId: string): string {
  return diffId.replace(/^sha256:/, '').slice(0, 24);
}

/** Runs the helper over many paths without passing the kernel's argument limit. */
async function helperOnAll(command: 'whiteout' | 'opaque', paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 500) await ovl([command, ...paths.slice(i, i + 500)]);
}

async function mountOverlay(store: string, lowers: readonly string[], target: string, upper?: { upper: string; work: string }): Promise<void> {
  let options = `lowerdir=${lowers.join(':')}`;
  if (upper) options += `,upperdir=${upper.upper},workdir=${upper.work}`;
  options += `,${FIXED_OPTIONS}`;
  if (options.length > MAX_OPTIONS) {
    throw new SnapshotError(`an image of ${lowers.length - 1} layers is too deep for one overlay mount`, store, { hint: 'use --snapshotter copy for this build, or squash some layers' });
  }
  try {
    await ovl(['mount', snapshotsDir(store), options, target]);
  } catch (e) {
    throw new SnapshotError(`cannot mount overlay at ${target}: ${(e as Error).message}`, store, { hint: 'use --snapshotter copy' });
  }
}

/** Unmounts (detached if busy: a process still inside, which the sandbox should have killed, and it goes when free). */
async function unmount(target: string): Promise<void> {
  await ovl(['umount', target]).catch(() => undefined);
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
function mountsBelow(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return info.split('\n').map((line) => unescape(line.split(' ')[4] ?? '')).filter((p) => p === dir || p.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
}

/** Unmounts whatever a killed build left mounted below `dir` (called before its temp files are removed). */
export async function unmountBelow(dir: string): Promise<void> {
  for (const target of mountsBelow(dir)) await unmount(target);
}

let probed: Map<string, Promise<string | undefined>> | undefined;

/** Why overlay cannot be used with this store, or undefined when it can (tried once per store and process). */
export function overlayUnavailable(store: string): Promise<string | undefined> {
  probed ??= new Map();
  let answer = probed.get(store);
  if (!answer) {
    answer = probe(store);
    probed.set(store, answer);
  }
  return answer;
}

async function probe(store: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'overlayfs is Linux only';
  if (!existsSync(OVL_HELPER)) return 'the strata-ovl helper was not built (it needs a C compiler: apt-get install gcc libc6-dev, then npm run build)';
  if (process.getuid?.() !== 0) return 'mounting overlayfs needs root';
  ensureEmpty(store);
  // A store on which overlay mounted once under this kernel still will: the answer is kept, saving a mount and an unmount a build.
  const proof = path.join(snapshotsDir(store), '.overlay-works');
  const machine = `${release()} ${OVL_HELPER}\n`;
  if (existsSync(proof) && readFileSync(proof, 'utf8') === machine) return undefined;
  const dir = tempPath(store, 'probe');
  mkdirSync(dir);
  try {
    // A whiteout, an opaque mark, a mount and an unmount, in one process.
    await ovl(['probe', dir, path.join(snapshotsDir(store), EMPTY)]);
    writeFileSync(proof, machine);
    return undefined;
  } catch (e) {
    return e instanceof OvlError ? `cannot mount overlay here: ${e.message.split('\n')[0]}` : (e as Error).message.split('\n')[0];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ensureEmpty(store: string): void {
  mkdirSync(path.join(snapshotsDir(store), EMPTY), { recursive: true });
}

/** A lower holding empty mount points (made once per store), to go beneath a RUN's layers. */
async function ensureMountPoints(store: string, points: readonly { readonly rel: string; readonly dir: boolean }[]): Promise<string> {
  const name = `stubs-${createHash('sha256').update(JSON.stringify(points)).digest('hex').slice(0, 12)}`;
  const final = path.join(snapshotsDir(store), name);
  if (existsSync(final)) return name;
  const tmp = tempPath(store, 'snapshot');
  try {
    for (const point of points) {
      const p = path.join(tmp, point.rel);
      mkdirSync(point.dir ? p : path.dirname(p), { recursive: true, mode: 0o755 });
      if (!point.dir) writeFileSync(p, '', { mode: 0o644 });
    }
    chmodSync(tmp, 0o755);
    await commitSnapshot(store, tmp, name);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return name;
}

const baseFile = (store: string, name: string) => path.join(snapshotsDir(store), `${name}.base`);
/** Dated by each use of its snapshot: a prune leaves what a build used in its grace period (pruneSnapshots). */
const usedFile = (store: string, name: string) => path.join(snapshotsDir(store), `${name}.used`);

function markUsed(store: string, chain: readonly string[]): void {
  const now = new Date();
  for (const name of chain) {
    try {
      utimesSync(usedFile(store, name), now, now);
    } catch {
      try {
        writeFileSync(usedFile(store, name), '');
      } catch {
        // (only a prune's view of it is lost)
      }
    }
  }
}

/**
 * The snapshot directories (names, top first) that together hold a layer's
 * files: the snapshot itself, and for a delta the chain beneath it; undefined
 * when a snapshot of the chain is missing (removed by hand).
 */
function chainOf(store: string, name: string): string[] | undefined {
  const chain: string[] = [];
  for (let at: string | undefined = name; at; ) {
    if (chain.length > CHAIN_LIMIT + 1 || !existsSync(path.join(snapshotsDir(store), at))) return undefined;
    chain.push(at);
    try {
      at = readFileSync(baseFile(store, at), 'utf8').trim();
    } catch {
      at = undefined;
    }
  }
  return chain;
}

/** Extracts a layer into its snapshot directory unless it is there already; returns its chain's names, top first. */
async function ensureSnapshot(store: string, layer: LayerRef): Promise<string[]> {
  const name = snapshotName(layer.diffId);
  const final = path.join(snapshotsDir(store), name);
  if (existsSync(final)) {
    const chain = chainOf(store, name);
    if (chain) {
      markUsed(store, chain);
      return chain;
    }
    // A delta whose base is gone: set it aside and extract the layer whole.
    await withStoreLock(store, 'snapshots', () => {
      if (chainOf(store, name)) return;
      const aside = tempPath(store, 'broken-snapshot');
      renameSync(final, aside);
      rmSync(baseFile(store, name), { force: true });
      rmSync(aside, { recursive: true, force: true });
    });
    if (existsSync(final)) return ensureSnapshot(store, layer);
  }
  const tmp = tempPath(store, 'snapshot');
  mkdirSync(tmp);
  try {
    const recorded = await applyLayer(tmp, blobPath(store, layer.digest), { whiteouts: 'record' });
    await helperOnAll('whiteout', recorded.removed.map((p) => path.join(tmp, p)));
    await helperOnAll('opaque', recorded.opaque.map((p) => path.join(tmp, p)));
    await commitSnapshot(store, tmp, name);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return [name];
}

/**
 * Moves a finished snapshot into place, with its base when it is a delta;
 * another build that got there first wins (the files are the same). Under
 * the store's snapshot lock, the base file is in place before the directory
 * appears, and a stale one (a build killed between the two) goes first.
 */
async function commitSnapshot(store: string, from: string, name: string, base?: string): Promise<void> {
  const final = path.join(snapshotsDir(store), name);
  await withStoreLock(store, 'snapshots', () => {
    if (existsSync(final)) return;
    if (base) writeFileAtomic(baseFile(store, name), base);
    else rmSync(baseFile(store, name), { force: true });
    try {
      renameSync(from, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
    }
  });
}

/** The topmost lower's entry at `rel`, or undefined if no lower has it (or a whiteout hides it). */
function lowerEntry(lowerDirs: readonly string[], rel: string): Stats | undefined {
  for (const dir of lowerDirs) {
    const st = lstatSync(path.join(dir, rel), { throwIfNoEntry: false });
    if (st) return st.isCharacterDevice() && st.rdev === 0 ? undefined : st;
  }
  return undefined;
}

/**
 * What an upper directory holds: entries to put in the layer, whiteouts
 * (deleted paths) and opaque directories. A directory overlay copied up
 * only because something was made and removed in it again (a mount point
 * of the sandbox) and that still matches the lower in mode, owner and
 * mtime is no change: it is removed from the upper and left out.
 */
async function readUpper(upper: string, lowerDirs: readonly string[], mounted: boolean): Promise<{ entries: string[]; removed: string[]; opaque: string[] }> {
  const entries: string[] = [];
  const removed: string[] = [];
  // Only overlay itself marks directories opaque: an upper written directly (COPY) has none, and needs no helper to say so.
  const opaque = new Set(mounted ? (await ovl(['list-opaque', upper])).split('\0').filter(Boolean) : []);
  /** Returns whether the directory at rel ends up holding anything. */
  const visit = (rel: string): boolean => {
    let kept = false;
    for (const d of readdirSync(path.join(upper, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isCharacterDevice() && lstatSync(path.join(upper, p)).rdev === 0) {
        removed.push(p);
        kept = true;
        continue;
      }
      if (d.isDirectory() && !visit(p) && !opaque.has(p) && unchangedDir(p)) {
        rmdirSync(path.join(upper, p));
        continue;
      }
      entries.push(p);
      kept = true;
    }
    return kept;
  };
  const unchangedDir = (rel: string): boolean => {
    const below = lowerEntry(lowerDirs, rel);
    if (!below?.isDirectory()) return false;
    const st = lstatSync(path.join(upper, rel));
    return st.mode === below.mode && st.uid === below.uid && st.gid === below.gid && Math.floor(st.mtimeMs) === Math.floor(below.mtimeMs);
  };
  visit('');
  return { entries: entries.sort(), removed: removed.sort(), opaque: [...opaque] };
}

/** The bytes of the regular files among `rels` (below root), counted until they reach `limit`. */
function bytesUpTo(root: string, rels: readonly string[], limit: number): number {
  let bytes = 0;
  for (const rel of rels) {
    const st = lstatSync(path.join(root, rel), { throwIfNoEntry: false });
    if (st?.isFile()) bytes += st.size;
    if (bytes >= limit) break;
  }
  return bytes;
}

/** A layer whose tar is being written: its tar job, then its diffID, and the snapshot it is a delta over. */
interface PendingSnapshot {
  tarred: Promise<unknown>;
  diffId?: string;
  readonly base: string | undefined;
}

/** A snapshot of a build still running, whose tar is being written: `p<pid>-<n>`. */
const PENDING = /^p(\d+)-\d+$/;
let pendingCount = 0;

/** Removes the snapshots that builds killed before they ended left under their provisional names. */
function sweepDeadPending(store: string): void {
  const dir = snapshotsDir(store);
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const owner = PENDING.exec(name.replace(/\.(base|used)$/, ''))?.[1];
    if (owner && !processAlive(Number(owner))) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

export function overlaySnapshotter(store: string, scratch: string): Snapshotter {
  ensureEmpty(store);
  sweepDeadPending(store);
  const views = new Map<string, Promise<string>>();
  const mounted = new Set<string>();
  /** This build's layers whose tar is being written, by provisional name. */
  const pending = new Map<string, PendingSnapshot>();
  /** The same once their diffID is known (a later step may name the layer by it). */
  const pendingByDiff = new Map<string, string>();
  const nameOf = (layer: LayerRef): string | undefined => layer.snapshot ?? pendingByDiff.get(layer.diffId);

  const lowersOf = async (layers: readonly LayerRef[]): Promise<string[]> => {
    const chains: string[][] = [];
    for (const layer of layers) {
      const provisional = nameOf(layer);
      if (!provisional) {
        chains.push(await ensureSnapshot(store, layer));
        continue;
      }
      const chain = chainOf(store, provisional);
      // (It has no blob yet to be extracted again from.)
      if (!chain) throw new SnapshotError(`the snapshot ${provisional} or one beneath it went away while this build used it`, store, { hint: 'something removed files in the store\'s snapshots directory: build again' });
      chains.push(chain);
    }
    // Top layer first, as overlay wants, each followed by the chain beneath it. A snapshot that comes twice is
    // shadowed entirely by its upper copy (the same paths, whiteouts and opaque marks), and overlay refuses a
    // lower given twice. The empty one at the bottom makes a chain of one layer a valid read-only mount.
    return [...new Set(chains.reverse().flat()), EMPTY];
  };

  const view = (layers: readonly LayerRef[]): Promise<string> => {
    const chain = layers.map((l) => l.snapshot ?? l.diffId).join(',');
    let mountedView = views.get(chain);
    if (!mountedView) {
      mountedView = (async () => {
        const lowers = await lowersOf(layers);
        if (lowers.length === 1) return path.join(snapshotsDir(store), EMPTY);
        const target = mkdtempSync(path.join(scratch, 'view-'));
        await mountOverlay(store, lowers, target);
        mounted.add(target);
        return target;
      })();
      views.set(chain, mountedView);
    }
    return mountedView;
  };

  return {
    kind: 'overlay',
    view,
    async workspace(layers, options = {}): Promise<Workspace> {
      const lowers = await lowersOf(layers);
      if (options.mountPoints?.length) lowers.splice(lowers.length - 1, 1, await ensureMountPoints(store, options.mountPoints));
      const dir = mkdtempSync(path.join(scratch, 'ws-'));
      const [upper, work, merged] = ['u', 'w', 'm'].map((n) => path.join(dir, n)) as [string, string, string];
      for (const d of [upper, work, merged]) mkdirSync(d);
      chmodSync(upper, 0o755); // the upper's root is the merged root: / must be reachable by a non-root USER
      // A caller that names its writes (COPY) writes the upper directly and reads a read-only view: no
      // per-file overlay cost, and files may be hard links into other snapshots (never into the context).
      const direct = options.reportsWrites === true;
      const root = direct ? await view(layers) : merged;
      // The last version, to write this one as a delta over, if its chain is whole and not yet too long.
      const baseName = direct && options.reuse?.base ? snapshotName(options.reuse.base) : undefined;
      const baseChain = baseName ? chainOf(store, baseName) : undefined;
      const base = baseChain && baseChain.length <= CHAIN_LIMIT ? { dirs: baseChain.map((n) => path.join(snapshotsDir(store), n)) } : undefined;
      if (!direct) {
        await mountOverlay(store, lowers, merged, { upper, work });
        mounted.add(merged);
      }
      let ended = false;
      const end = async () => {
        if (ended) throw new Error('a workspace ends once');
        ended = true;
        if (!direct) {
          await unmount(merged);
          mounted.delete(merged);
        }
      };
      /**
       * The layer handed over before its tar is written: its directory
       * becomes a snapshot under a provisional name now, and its tar is
       * written on the tar thread.
       */
      const inBackground = async (upper: string, entries: readonly string[], removed: readonly string[], opaque: readonly string[], over: string | undefined): Promise<StagedLayer> => {
        const name = `p${process.pid}-${++pendingCount}`;
        // A name no other build looks up: put in place without the snapshots lock (commitSnapshot takes it at the end).
        if (over) writeFileAtomic(baseFile(store, name), over);
        renameSync(upper, path.join(snapshotsDir(store), name));
        const dirs = [path.join(snapshotsDir(store), name), ...(over && base ? base.dirs : [])];
        const tarPath = tempPath(store, 'layer-tar');
        const reuse = options.reuse;
        const entry: PendingSnapshot = { tarred: Promise.resolve(), base: over };
        const diffId = (async () => {
          const written = await writeTarInThread({ tarPath, root: dirs[0]!, rels: entries, deleted: removed, opaque, splice: reuse?.splice(), locateIn: over ? dirs : undefined });
          entry.diffId = written.diffId;
          if (!pendingByDiff.has(written.diffId)) pendingByDiff.set(written.diffId, name);
          reuse?.kept(written.index, written.diffId);
          return written.diffId;
        })();
        entry.tarred = diffId.catch(() => undefined);
        pending.set(name, entry);
        const blob = diffId.then((d) => storeTar(store, tarPath, d, { keep: reuse?.keep }), (e: unknown) => {
          rmSync(tarPath, { force: true }); // (a thread that stopped mid-tar could not remove it)
          throw e;
        });
        blob.catch(() => undefined); // whoever awaits it sees the error
        return { diffId: '', blob, pending: { snapshot: name, diffId } };
      };
      return {
        root,
        writeRoot: direct ? upper : merged,
        base,
        async commit(written, commitOptions = {}) {
          await end();
          try {
            const overBase = commitOptions.overBase === true && base !== undefined && written !== undefined;
            // A delta's upper holds only what changed: the layer is every path written, each read from the
            // upper or else from the base's chain (where its unchanged entries mostly come from the kept tar).
            const { entries, removed, opaque } = overBase ? { entries: written, removed: [], opaque: [] } : await readUpper(upper, lowers.map((l) => path.join(snapshotsDir(store), l)), !direct);
            if (!entries.length && !removed.length) return null;
            const reuse = options.reuse;
            // A big layer handed over before its tar is written (its size told by the caller, or else counted), where
            // the tar thread runs already (strata dev --watch starts it). A one-shot build does not start it: there it
            // does not pay, as the thread costs its start and the image waits for the tar anyway. A one-file edit under
            // a 20 MB COPY followed by RUN true took 0.36 s with it against 0.28 s inline (when blobs were gzip, 80 MB
            // written by a RUN followed by a 1 s one: 3.2-3.9 s against 3.1-3.5 s).
            const bytes = options.tarLater && tarThreadRunning() ? options.tarLater.bytes ?? bytesUpTo(upper, entries, BIG_LAYER_BYTES) : 0;
            if (bytes >= BIG_LAYER_BYTES) {
              return inBackground(upper, entries, removed, opaque, overBase ? baseName : undefined);
            }
            const staged = await stageEntriesLayer(store, upper, entries, removed, opaque, { splice: reuse?.splice(), keep: reuse?.keep, locateIn: overBase ? [upper, ...base.dirs] : undefined });
            // The upper is the new layer (or its delta), already in overlay's format: it becomes its snapshot as
            // is, and the next steps mount it while its blob is still being put in place.
            await commitSnapshot(store, upper, snapshotName(staged.diffId), overBase ? baseName : undefined);
            reuse?.kept(staged.index, staged.diffId);
            return staged;
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
        async discard() {
          await end();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    layerDirs(diffId) {
      return chainOf(store, pendingByDiff.get(diffId) ?? snapshotName(diffId))?.map((n) => path.join(snapshotsDir(store), n));
    },
    async dispose() {
      await Promise.allSettled(views.values());
      for (const target of mounted) await unmount(target);
      mounted.clear();
      views.clear();
      // Nothing is mounted now: each layer whose tar was written takes its diffID's name (unless another build gave
      // it one first); one whose tar failed is of no use.
      for (const [name, entry] of pending) {
        await entry.tarred;
        const dir = path.join(snapshotsDir(store), name);
        if (entry.diffId) await commitSnapshot(store, dir, snapshotName(entry.diffId), entry.base);
        for (const left of [dir, baseFile(store, name), usedFile(store, name)]) rmSync(left, { recursive: true, force: true });
      }
      pending.clear();
      pendingByDiff.clear();
    },
  };
}

/** The snapshot names the overlay mounts of this machine use as lower layers (they are given by name, from the snapshots directory). */
function mountedSnapshotNames(): Set<string> {
  const names = new Set<string>();
  let mounts = '';
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return names;
  }
  for (const line of mounts.split('\n')) {
    const [, , type, options] = line.split(' ');
    if (type !== 'overlay' || !options) continue;
    const lower = /(?:^|,)lowerdir=([^,]*)/.exec(options)?.[1];
    for (const name of lower?.split(':') ?? []) names.add(path.basename(name));
  }
  return names;
}

/**
 * Removes the layer directories of the overlay snapshotter that no layer in
 * `keep` (diff ids) needs, leaving those a mounted root filesystem uses and
 * those made or used within `graceMs` (a build may have just looked one up
 * and not mounted it yet).
 * A snapshot is only a cache of its layer's blob: a layer whose directory
 * is gone is extracted again when next used.
 */
export async function pruneSnapshots(store: string, keep: ReadonlySet<string>, graceMs: number): Promise<{ removed: number; bytes: number }> {
  const dir = snapshotsDir(store);
  if (!existsSync(dir)) return { removed: 0, bytes: 0 };
  return withStoreLock(store, 'snapshots', () => {
    const kept = new Set<string>();
    for (const diffId of keep) for (const name of chainOf(store, snapshotName(diffId)) ?? []) kept.add(name);
    const mounted = mountedSnapshotNames();
    let removed = 0;
    let bytes = 0;
    for (const name of readdirSync(dir)) {
      if (!/^[0-9a-f]{24}$/.test(name) || kept.has(name) || mounted.has(name)) continue;
      const full = path.join(dir, name);
      const st = lstatSync(full);
      const lastUsed = Math.max(st.mtimeMs, lstatSync(usedFile(store, name), { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (!st.isDirectory() || Date.now() - lastUsed < graceMs) continue;
      bytes += diskUsage(full).bytes;
      rmSync(full, { recursive: true, force: true });
      rmSync(baseFile(store, name), { force: true });
      rmSync(usedFile(store, name), { force: true });
      removed++;
    }
    return { removed, bytes };
  });
}
