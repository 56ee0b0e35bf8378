/**
 * The copy snapshotter: each root filesystem is a plain directory with the
 * layers applied one after another. A step's diff is what changed between
 * a metadata scan before and after it (or, for COPY, exactly the paths it
 * wrote). A directory that served one step goes on serving the next step
 * of the same chain, so a stage applies each layer once.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { blobPath, type LayerRef } from '../cache/index.js';
import { diffTrees, scanTree } from './diff.js';
import { applyLayer } from './extract.js';
import { writeEntriesLayer, type LayerBlob } from './layer-tar.js';
import type { Snapshotter, Workspace, WorkspaceOptions } from './snapshotter.js';

interface Rootfs {
  readonly dir: string;
  /** diffIds of the layers applied, in order. */
  chain: string[];
  /** In use by a step: its chain is about to change. */
  busy: boolean;
  /** Handed out as a view: never written again. */
  frozen: boolean;
  /** Applying layers, under way. */
  ready: Promise<void>;
}

const isPrefix = (prefix: readonly string[], of: readonly string[]) => prefix.length <= of.length && prefix.every((d, i) => of[i] === d);

export function copySnapshotter(store: string, scratch: string): Snapshotter {
  const pool: Rootfs[] = [];

  /** A root filesystem holding exactly `layers`, grown from the longest free one whose chain is a prefix. */
  const acquire = (layers: readonly LayerRef[], forView: boolean): Rootfs => {
    const chain = layers.map((l) => l.diffId);
    if (forView) {
      const same = pool.find((r) => !r.busy && r.chain.length === chain.length && isPrefix(r.chain, chain));
      if (same) {
        same.frozen = true;
        return same;
      }
    }
    let rootfs = pool.filter((r) => !r.busy && !r.frozen && isPrefix(r.chain, chain)).sort((a, b) => b.chain.length - a.chain.length)[0];
    if (!rootfs) {
      const dir = mkdtempSync(path.join(scratch, 'rootfs-'));
      chmodSync(dir, 0o755); // mkdtemp makes it 0700: a non-root USER could not even reach /
      rootfs = { dir, chain: [], busy: false, frozen: false, ready: Promise.resolve() };
      pool.push(rootfs);
    }
    const target = rootfs;
    const from = target.chain.length;
    target.busy = true;
    target.chain = chain;
    target.ready = target.ready.then(async () => {
      for (const layer of layers.slice(from)) await applyLayer(target.dir, blobPath(store, layer.digest));
    });
    return target;
  };

  const drop = (rootfs: Rootfs) => {
    pool.splice(pool.indexOf(rootfs), 1);
    rmSync(rootfs.dir, { recursive: true, force: true });
  };

  /** A root filesystem once its layers are applied; one that failed to be made is dropped. */
  const ready = async (rootfs: Rootfs): Promise<Rootfs> => {
    try {
      await rootfs.ready;
      return rootfs;
    } catch (e) {
      drop(rootfs);
      throw e;
    }
  };

  return {
    kind: 'copy',
    async view(layers) {
      const rootfs = await ready(acquire(layers, true));
      rootfs.busy = false;
      rootfs.frozen = true;
      return rootfs.dir;
    },
    async workspace(layers, options: WorkspaceOptions = {}): Promise<Workspace> {
      const rootfs = await ready(acquire(layers, false));
      const before = options.reportsWrites ? undefined : scanTree(rootfs.dir);
      let ended = false;
      const end = () => {
        if (ended) throw new Error('a workspace ends once');
        ended = true;
      };
      return {
        root: rootfs.dir,
        writeRoot: rootfs.dir,
        async commit(written) {
          end();
          try {
            let blob: LayerBlob | null;
            if (before) {
              const diff = diffTrees(before, scanTree(rootfs.dir));
              blob = diff.changed.length || diff.deleted.length ? await writeEntriesLayer(store, rootfs.dir, diff.changed, diff.deleted) : null;
            } else {
              const paths = [...new Set(written ?? [])].sort();
              blob = paths.length ? await writeEntriesLayer(store, rootfs.dir, paths, []) : null;
            }
            if (blob) rootfs.chain = [...rootfs.chain, blob.diffId];
            rootfs.busy = false;
            // Its next workspace applies this blob: it is written before the layer is handed on.
            return blob && { diffId: blob.diffId, blob: Promise.resolve(blob), written: blob };
          } catch (e) {
            drop(rootfs);
            throw e;
          }
        },
        async discard() {
          end();
          // It holds the failed step's changes: it must not serve another step.
          drop(rootfs);
        },
      };
    },
    layerDirs() {
      return undefined;
    },
    async dispose() {
      for (const rootfs of [...pool]) drop(rootfs);
    },
  };
}
