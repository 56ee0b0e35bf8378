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
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { blobPath, tempPath, type LayerRef } from '../cache/index.js';
import { SnapshotError } from '../errors/index.js';
import { applyLayer } from './extract.js';
import { stageEntriesLayer } from './layer-tar.js';
import type { Snapshotter, Workspace } from './snapshotter.js';

const run = promisify(execFile);
const HELPER = fileURLToPath(new URL('../../libexec/strata-ovl', import.meta.url));
const EMPTY = 'empty';
/** The kernel copies mount options into one page. */
const MAX_OPTIONS = 4000;
/** Redirects and metacopy would leave upper entries that are not plain files and dirs. */
const FIXED_OPTIONS = 'redirect_dir=off,metacopy=off,index=off';

const snapshotsDir = (store: string) => path.join(store, 'snapshots');

/** A layer's snapshot directory name: short, so that many fit into one mount option string. */
function snapshotName(diffId: string): string {
  return diffId.replace(/^sha256:/, '').slice(0, 24);
}

async function helper(args: readonly string[]): Promise<string> {
  const { stdout } = await run(HELPER, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return stdout;
}

/** Runs the helper over many paths without passing the kernel's argument limit. */
async function helperOnAll(command: 'whiteout' | 'opaque', paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 500) await helper([command, ...paths.slice(i, i + 500)]);
}

async function mountOverlay(store: string, lowers: readonly string[], target: string, upper?: { upper: string; work: string }): Promise<void> {
  let options = `lowerdir=${lowers.join(':')}`;
  if (upper) options += `,upperdir=${upper.upper},workdir=${upper.work}`;
  options += `,${FIXED_OPTIONS}`;
  if (options.length > MAX_OPTIONS) {
    throw new SnapshotError(`an image of ${lowers.length - 1} layers is too deep for one overlay mount`, store, { hint: 'use --snapshotter copy for this build, or squash some layers' });
  }
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd: snapshotsDir(store) });
  } catch (e) {
    throw new SnapshotError(`cannot mount overlay at ${target}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`, store, { hint: 'use --snapshotter copy' });
  }
}

async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch {
    // Busy (a process still inside, which the sandbox should have killed): detach it now, it goes when free.
    await run('umount', ['-l', target]).catch(() => undefined);
  }
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
  if (!existsSync(HELPER)) return 'the strata-ovl helper was not built (it needs a C compiler: apt-get install gcc libc6-dev, then npm run build)';
  if (process.getuid?.() !== 0) return 'mounting overlayfs needs root';
  ensureEmpty(store);
  // A store on which overlay mounted once under this kernel still will: the answer is kept, saving four processes a build.
  const proof = path.join(snapshotsDir(store), '.overlay-works');
  const machine = `${release()} ${HELPER}\n`;
  if (existsSync(proof) && readFileSync(proof, 'utf8') === machine) return undefined;
  const dir = tempPath(store, 'probe');
  mkdirSync(dir);
  const [upper, work, target] = ['u', 'w', 'm'].map((n) => path.join(dir, n)) as [string, string, string];
  for (const d of [upper, work, target]) mkdirSync(d);
  try {
    await helper(['whiteout', path.join(upper, 'gone')]);
    await helper(['opaque', upper]);
    await mountOverlay(store, [EMPTY], target, { upper, work });
    await unmount(target);
    writeFileSync(proof, machine);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ensureEmpty(store: string): void {
  mkdirSync(path.join(snapshotsDir(store), EMPTY), { recursive: true });
}

/** A lower holding empty mount points (made once per store), to go beneath a RUN's layers. */
function ensureMountPoints(store: string, points: readonly { readonly rel: string; readonly dir: boolean }[]): string {
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
    commitSnapshot(tmp, final);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return name;
}

/** Extracts a layer into its snapshot directory unless it is there already; returns the directory's name. */
async function ensureSnapshot(store: string, layer: LayerRef): Promise<string> {
  const name = snapshotName(layer.diffId);
  const final = path.join(snapshotsDir(store), name);
  if (existsSync(final)) return name;
  const tmp = tempPath(store, 'snapshot');
  mkdirSync(tmp);
  try {
    const recorded = await applyLayer(tmp, blobPath(store, layer.digest), { whiteouts: 'record' });
    await helperOnAll('whiteout', recorded.removed.map((p) => path.join(tmp, p)));
    await helperOnAll('opaque', recorded.opaque.map((p) => path.join(tmp, p)));
    commitSnapshot(tmp, final);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return name;
}

/** Moves a finished snapshot into place; another build that got there first wins (the contents are the same). */
function commitSnapshot(from: string, final: string): void {
  try {
    renameSync(from, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
  }
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
  const opaque = new Set(mounted ? (await helper(['list-opaque', upper])).split('\0').filter(Boolean) : []);
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

export function overlaySnapshotter(store: string, scratch: string): Snapshotter {
  ensureEmpty(store);
  const views = new Map<string, Promise<string>>();
  const mounted = new Set<string>();

  const lowersOf = async (layers: readonly LayerRef[]): Promise<string[]> => {
    const names: string[] = [];
    for (const layer of layers) names.push(await ensureSnapshot(store, layer));
    // Top layer first, as overlay wants. A layer that comes twice is shadowed entirely by its upper
    // copy (the same paths, whiteouts and opaque marks), and overlay refuses a lower given twice.
    // The empty one at the bottom makes a chain of one layer a valid read-only mount.
    return [...new Set(names.reverse()), EMPTY];
  };

  const view = (layers: readonly LayerRef[]): Promise<string> => {
    const chain = layers.map((l) => l.diffId).join(',');
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
      if (options.mountPoints?.length) lowers.splice(lowers.length - 1, 1, ensureMountPoints(store, options.mountPoints));
      const dir = mkdtempSync(path.join(scratch, 'ws-'));
      const [upper, work, merged] = ['u', 'w', 'm'].map((n) => path.join(dir, n)) as [string, string, string];
      for (const d of [upper, work, merged]) mkdirSync(d);
      chmodSync(upper, 0o755); // the upper's root is the merged root: / must be reachable by a non-root USER
      // A caller that names its writes (COPY) writes the upper directly and reads a read-only view: no
      // per-file overlay cost, and files may be hard links into other snapshots (never into the context).
      const direct = options.reportsWrites === true;
      const root = direct ? await view(layers) : merged;
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
      return {
        root,
        writeRoot: direct ? upper : merged,
        async commit() {
          await end();
          try {
            const { entries, removed, opaque } = await readUpper(upper, lowers.map((l) => path.join(snapshotsDir(store), l)), !direct);
            if (!entries.length && !removed.length) return null;
            const reuse = options.reuse;
            const staged = await stageEntriesLayer(store, upper, entries, removed, opaque, { splice: reuse?.splice(), keep: reuse?.keep, signal: options.signal });
            reuse?.kept(staged.index, staged.diffId);
            // The upper is the new layer, already in overlay's format: it becomes its snapshot as is, and
            // the next steps mount it while its gzip blob is still being written.
            commitSnapshot(upper, path.join(snapshotsDir(store), snapshotName(staged.diffId)));
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
    layerDir(diffId) {
      const dir = path.join(snapshotsDir(store), snapshotName(diffId));
      return existsSync(dir) ? dir : undefined;
    },
    async dispose() {
      await Promise.allSettled(views.values());
      for (const target of mounted) await unmount(target);
      mounted.clear();
      views.clear();
    },
  };
}
