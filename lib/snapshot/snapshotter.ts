/**
 * Snapshotters: how a step gets a root filesystem made of its parent's
 * layers, and how what it changed there becomes its layer. Two kinds, as
 * DESIGN says: overlay (the layers stay extracted once in the store and
 * are mounted as lowers; a step writes into a fresh upper directory, which
 * is its diff) and copy (the layers applied into a plain directory, the
 * diff found by comparing scans), the fallback where overlay cannot mount.
 */
import type { LayerRef } from '../cache/index.js';
import { SnapshotError } from '../errors/index.js';
import { copySnapshotter } from './copy-snapshotter.js';
import type { SpliceSource, StagedLayer, TarIndex } from './layer-tar.js';
import { overlaySnapshotter, overlayUnavailable } from './overlay.js';

export type SnapshotterKind = 'overlay' | 'copy';
export type SnapshotterChoice = SnapshotterKind | 'auto';
export const SNAPSHOTTER_CHOICES: readonly SnapshotterChoice[] = ['auto', 'overlay', 'copy'];

export interface WorkspaceOptions {
  /**
   * The caller will name every path it writes (COPY does): the copy
   * snapshotter then skips scanning the root filesystem before and after.
   */
  readonly reportsWrites?: boolean;
  /**
   * Paths that something (the RUN sandbox) will mount over and would
   * otherwise create: a snapshotter that can provide them beneath the
   * layers does, so they never touch the step's diff.
   */
  readonly mountPoints?: readonly { readonly rel: string; readonly dir: boolean }[];
  /**
   * The layer is a new version of one made before (a COPY run again):
   * entries the caller knows to be unchanged are copied from the last
   * version's tar, and this version's tar is kept for the next. Only the
   * overlay snapshotter uses it; asked for when the layer is written.
   */
  readonly reuse?: LayerReuse;
  /**
   * The caller can go on with the layer's files before its tar is written
   * (a step follows that needs only them): a snapshotter that can hand a
   * big layer over at once does (see StagedLayer.pending), and writes its
   * tar meanwhile. `bytes`, when the caller knows beforehand how many bytes
   * the layer's files hold (a COPY); otherwise they are counted.
   */
  readonly tarLater?: { readonly bytes?: number };
}

export interface LayerReuse {
  /** The last version's diffID: a snapshotter that keeps layers as directories may store this one as a delta over it (see Workspace.base). */
  readonly base?: string;
  /** The last version's tar and which entries to take from it (asked after the workspace's writes). */
  splice(): SpliceSource | undefined;
  /** Where this version's tar is kept once its blob is written. */
  readonly keep: string;
  /** Told where each file's entry went in this version's tar, and its diffID. */
  kept(index: TarIndex, diffId: string): void;
}

/** A writable root filesystem over some layers; what is written there becomes one new layer. */
export interface Workspace {
  /** The root filesystem to read (and, where `writeRoot` is the same, to write). */
  readonly root: string;
  /**
   * Where writes go. The same as `root`, except for a `reportsWrites`
   * workspace of the overlay snapshotter: there `root` is a read-only view
   * of the layers and the caller writes the new layer's files straight into
   * `writeRoot` (its upper directory), copying up any existing directory
   * it writes into, with that directory's mode, owner and times.
   */
  readonly writeRoot: string;
  /**
   * Present when the new layer may be stored as a delta over the last
   * version named by `reuse.base`: `dirs` (top first) hold that version's
   * files. The caller then writes into `writeRoot` only what differs from
   * it and commits with `overBase`, naming every path of the new layer; it
   * may do so only if the new layer has every path the last one had, and
   * no directory where that had something else (a delta holds no
   * whiteouts). Otherwise it writes the whole layer as usual.
   */
  readonly base?: { readonly dirs: readonly string[] };
  /**
   * Ends the workspace and returns its changes as a layer (null when
   * nothing changed): its diffID at once, its blob in the store when
   * `blob` resolves. The overlay snapshotter's layer is usable (mounted by
   * later steps) before then; `written` says the blob was written before
   * commit returned (a small layer, and always with the copy snapshotter,
   * whose next workspace applies it). `written` (the argument) is required
   * when the workspace was opened with `reportsWrites`.
   */
  commit(written?: readonly string[], options?: { readonly overBase?: boolean }): Promise<StagedLayer | null>;
  /** Ends the workspace and forgets its changes. */
  discard(): Promise<void>;
}

export interface Snapshotter {
  readonly kind: SnapshotterKind;
  /** The files of `layers` to read (COPY --from, a stage's /etc/passwd); valid until dispose. Never write there. */
  view(layers: readonly LayerRef[]): Promise<string>;
  workspace(layers: readonly LayerRef[], options?: WorkspaceOptions): Promise<Workspace>;
  /** The directories holding a committed layer's files (top first: more than one for a delta), where this snapshotter keeps them (overlay). */
  layerDirs(diffId: string): readonly string[] | undefined;
  /** Unmounts and removes everything this snapshotter made in `scratch`. */
  dispose(): Promise<void>;
}

/**
 * The snapshotter for a build whose temporary files live in `scratch`
 * (a directory inside the store). `auto` is overlay where it mounts here,
 * else copy; asking for overlay where it cannot mount is an error that
 * says why.
 */
export async function openSnapshotter(store: string, scratch: string, choice: SnapshotterChoice): Promise<Snapshotter> {
  if (choice === 'copy') return copySnapshotter(store, scratch);
  const problem = await overlayUnavailable(store);
  if (!problem) return overlaySnapshotter(store, scratch);
  if (choice === 'auto') return copySnapshotter(store, scratch);
  throw new SnapshotError(`the overlay snapshotter cannot be used here: ${problem}`, store, {
    hint: 'overlayfs needs root and a store on a filesystem overlay accepts as its upper layer (ext4, xfs, tmpfs); use --snapshotter copy or auto',
  });
}
