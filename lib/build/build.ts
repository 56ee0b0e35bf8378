/**
 * strata build: the plan's stages, step by step, with Docker's cache rules
 * (BuildKit's where they differ). Each filesystem step has a key derived
 * from its parent's key and its inputs; a key seen before reuses its layer
 * ("CACHED"); otherwise the step runs on a root filesystem assembled from
 * the layers so far, and its diff becomes a new layer, committed to the
 * store before its key is. Stages run in dependency order.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { cacheKey, readCacheRecord, readCopyRecord, sweepStaleTemp, tempPath, writeCacheRecord, writeCopyRecord, type CacheRecord, type CacheSource, type Descriptor, type LayerRef } from '../cache/index.js';
import { fileDigest, hashContext, selectSources, type HashedContext } from '../context/index.js';
import { hostPlatform, stageOfRef, type Plan, type PlannedStage, type PlannedStep, type TypedDockerfile } from '../dockerfile/index.js';
import { BuildError, CancelledError, ContextError, ImageError, SnapshotError } from '../errors/index.js';
import { runInSandbox, SANDBOX_MOUNT_POINTS, type SandboxMount } from '../exec/index.js';
import { readConfig, readManifest, requireImage, tagImage, writeImage, type ImageConfig } from '../image/index.js';
import { applyLayer, isTarArchive, openSnapshotter, unmountBelow, type Snapshotter, type SnapshotterChoice, type SnapshotterKind, type Workspace, type WorkspaceOptions } from '../snapshot/index.js';
import { applyMetadata, cloneStageConfig, createdBy, DEFAULT_PATH, resolveInContainer, shellOf, stageConfigFrom, toImageConfig, type StageConfig } from './config.js';
import { copyInto, ensureDirs, isDirectoryIn, makeDirIn } from './copy.js';
import { download, GIT_SOURCE, parseChecksum, REMOTE_SOURCE, remoteFileName } from './remote.js';
import { runCommand, SCRIPT_DIR } from './run-command.js';
import { prepareRunMounts } from './run-mounts.js';
import { METADATA, stageLabel } from './steps.js';
import { resolveOwner, resolveUser } from './users.js';
import type { EventSink } from './events.js';
import { describeCause, explainMiss, readInputsRecord, readKeysRecord, writeInputsRecord, writeKeysRecord, type InputsRecord, type StepInputs } from './explain.js';

export interface BuildOptions {
  readonly store: string;
  readonly contextDir: string;
  readonly typed: TypedDockerfile;
  readonly plan: Plan;
  readonly ignorePatterns: readonly string[];
  readonly statCacheFile?: string | undefined;
  /** The context already hashed (and kept current by the watcher); otherwise it is hashed from contextDir. */
  readonly context?: HashedContext;
  readonly tags: readonly string[];
  readonly noCache: boolean;
  /** Secrets for RUN --mount=type=secret, by id (never in a key, a layer or an event). */
  readonly secrets?: ReadonlyMap<string, Buffer>;
  /** Caches to import from (--cache-from): a key missing here is looked up there, its layer brought in on a hit. */
  readonly cacheFrom?: readonly CacheSource[];
  /** Where the inputs of this Dockerfile's steps are kept between builds, to say why a step missed. */
  readonly inputsFile?: string;
  /** At most this many RUN commands at once (default: the number of cores). */
  readonly jobs?: number;
  /** How root filesystems are assembled (default auto: overlay where it mounts, else copy). */
  readonly snapshotter?: SnapshotterChoice;
  readonly onEvent: EventSink;
  readonly signal?: AbortSignal;
}

export interface BuildResult {
  readonly manifest: Descriptor;
  readonly config: ImageConfig;
  /** How many filesystem steps came from the cache, and how many ran. */
  readonly cached: number;
  readonly executed: number;
  readonly snapshotter: SnapshotterKind;
  /** The image's layers, bottom first. */
  readonly layers: readonly LayerRef[];
  /** Every filesystem step's key and record, by stage index: what --cache-to exports. */
  readonly entries: readonly { readonly stage: number; readonly key: string; readonly record: CacheRecord }[];
  /** The stage-tree files (hashed stages that COPY --from read) this build used: --cache-to carries them too. */
  readonly trees: readonly string[];
}

/** A filesystem step: its key, what went into it, and how to carry it out on a miss. */
interface FilesystemStep {
  readonly key: string;
  readonly inputs: StepInputs;
  readonly execute: () => Promise<LayerRef | null>;
  readonly after?: () => void;
}

interface StageState {
  key: string;
  /** When the newest layer so far was made (the base image's creation at first). */
  created: string;
  layers: LayerRef[];
  config: StageConfig;
}

const WILDCARD = /[*?[]/;
const EPOCH = new Date(0).toISOString();


/** A limit on how many calls of the returned function run at once. */
function semaphore(slots: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let free = slots;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** Masks every secret value in a line of output. */
function redactor(secrets: readonly string[]): (line: string) => string {
  const values = secrets.filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  if (!values.length) return (line) => line;
  return (line) => values.reduce((out, v) => out.split(v).join('****'), line);
}

/** The step as buildx shows it: the instruction as written, flags included, continuations joined. */
function displayText(step: PlannedStep): string {
  return `${step.instruction} ${step.original.replace(/^\S+\s*/, '').replace(/\s+/g, ' ')}`.trim();
}

/** An imported layer that failed its fetch after its step had been taken as a hit: the build runs again without it. */
class ImportFailure extends Error {
  constructor(readonly digest: string, readonly source: string, readonly reason: string, readonly others: readonly ImportFailure[] = []) {
    super(`the imported layer ${digest} failed: ${reason}`);
  }
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  // Imported layers are fetched in the background while later steps are keyed; one that fails (a damaged blob)
  // is known only when something needs it: then the build runs again, that layer's steps built instead.
  const refused = new Set<string>();
  for (;;) {
    try {
      return await buildOnce(options, refused);
    } catch (e) {
      if (!(e instanceof ImportFailure) || refused.has(e.digest)) throw e;
      for (const failure of [e, ...e.others]) {
        if (refused.has(failure.digest)) continue;
        refused.add(failure.digest);
        options.onEvent({ type: 'cache-import-error', id: 0, source: failure.source, message: failure.reason, time: Date.now() });
      }
    }
  }
}

async function buildOnce(options: BuildOptions, refused: ReadonlySet<string>): Promise<BuildResult> {
  const { store, plan, onEvent } = options;
  const file = plan.file;
  const started = Date.now();
  // Aborted by the caller (Ctrl-C, a newer build) or by a failing sibling stage.
  const cancel = new AbortController();
  if (options.signal?.aborted) cancel.abort();
  options.signal?.addEventListener('abort', () => cancel.abort(), { once: true });
  await sweepStaleTemp(store, unmountBelow);
  const scratch = mkdtempSync(tempPath(store, 'build'));
  let snapshots: Snapshotter;
  try {
    snapshots = await openSnapshotter(store, scratch, options.snapshotter ?? 'auto');
  } catch (e) {
    rmSync(scratch, { recursive: true, force: true });
    throw e;
  }
  const states = new Map<number, StageState>();
  let nextId = 1;
  let cached = 0;
  let executed = 0;
  const needed = plan.levels.flat();
  onEvent({ type: 'build-start', file, target: plan.target, snapshotter: snapshots.kind, stages: needed.length, steps: needed.reduce((n, i) => n + plan.stages[i]!.steps.filter((st) => !METADATA.has(st.instruction)).length, 0) });

  const baseState = (stage: PlannedStage): StageState => {
    if (typeof stage.base === 'object') {
      const parent = states.get(stage.base.stage)!;
      // The parent's ONBUILD triggers fire here (the plan put them first) and are not passed on; its CMD is inherited, not set here.
      const config = { ...cloneStageConfig(parent.config), onBuild: [], cmdSetHere: false };
      return { key: parent.key, created: parent.created, layers: [...parent.layers], config };
    }
    if (stage.base === 'scratch') return { key: 'scratch', created: EPOCH, layers: [], config: stageConfigFrom(undefined, hostPlatform()) };
    let image;
    try {
      image = requireImage(store, stage.base);
    } catch (e) {
      if (e instanceof ImageError) throw new BuildError(`base image ${stage.base} is not in the store`, { file, line: stage.line }, { hint: e.hint });
      throw e;
    }
    const manifest = readManifest(store, image.manifest);
    const config = readConfig(store, manifest);
    const triggers = config.config?.OnBuild ?? [];
    if (triggers.length !== stage.imageTriggers.length || triggers.some((t, i) => t !== stage.imageTriggers[i])) {
      // The plan was made without looking the image up (or before it changed): its triggers would be skipped.
      throw new BuildError(`base image ${stage.base} has ONBUILD triggers that the plan did not fire`, { file, line: stage.line }, {
        hint: `plan with the image's triggers (planBuild's imageTriggers option; strata build does): ${triggers.join('; ')}`,
      });
    }
    const layers = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i]! }));
    return { key: image.manifest.digest, created: config.created ?? EPOCH, layers, config: stageConfigFrom(config, hostPlatform()) };
  };

  /**
   * The digests of a finished stage's (or an image's) files, for COPY --from
   * and mounts: hashed once per build however many steps read them, and
   * kept in the store by layer chain. A chain of committed layers never
   * changes, so its tree comes back from there without mounting or
   * looking at a file; the files are mounted only when a step reads them.
   */
  const sourceHashes = new Map<string, Promise<HashedContext>>();

  /**
   * The inputs of each step in the last build of this Dockerfile and
   * context (read at the first miss: for a big COPY they are big), and
   * their keys (small, read every build) to know which records to renew.
   */
  let previousInputs: InputsRecord | undefined;
  const lastInputs = (): InputsRecord => (previousInputs ??= options.inputsFile ? readInputsRecord(options.inputsFile) : {});
  let previousKeys: Record<string, string> | undefined;
  const lastKeys = (): Record<string, string> => (previousKeys ??= options.inputsFile ? readKeysRecord(`${options.inputsFile}.keys`) : {});
  const currentInputs: InputsRecord = {};
  const entries: { stage: number; key: string; record: CacheRecord }[] = [];

  /**
   * A key this store lacks, from an imported cache: the layer is brought in
   * (verified) now that the step hits it; a layer that fails is reported and
   * the step is built instead.
   */
  const prefetches = new Map<string, Promise<void>>();
  const importedRecord = async (key: string): Promise<CacheRecord | undefined> => {
    for (const source of options.cacheFrom ?? []) {
      const record = source.records.get(key);
      if (!record || (record.layer && refused.has(record.layer.digest))) continue;
      const layer = record.layer;
      if (layer && !prefetches.has(layer.digest)) {
        // Fetched (and verified) in the background; the record is kept only once its layer is in the store.
        const fetched = source.fetchLayer(store, layer).then(() => writeCacheRecord(store, key, record), (e: unknown) => {
          throw new ImportFailure(layer.digest, source.describe, (e as Error).message);
        });
        fetched.catch(() => undefined);
        prefetches.set(layer.digest, fetched);
      } else if (!layer) writeCacheRecord(store, key, record);
      return record;
    }
    return undefined;
  };
  /** Waits for the imported layers among `layers` (all at once): needed now, by a workspace, a view or the image. */
  const layersReady = async (layers: readonly LayerRef[]): Promise<void> => {
    try {
      await Promise.all(layers.map((l) => prefetches.get(l.digest)));
    } catch (e) {
      // Every imported layer that failed is refused at once, so the build runs again once, not once per layer.
      const settled = await Promise.allSettled(prefetches.values());
      const others = settled.flatMap((r) => (r.status === 'rejected' && r.reason instanceof ImportFailure && r.reason !== e ? [r.reason] : []));
      throw e instanceof ImportFailure ? new ImportFailure(e.digest, e.source, e.reason, others) : e;
    }
  };
  const currentKeys: Record<string, string> = {};
  const pendingRoots = new WeakMap<HashedContext, () => Promise<string>>();
  /** The stage-tree files this build used: an export carries them. */
  const treesUsed = new Set<string>();
  const hashedSource = (from: string): Promise<HashedContext> => {
    const stageIndex = stageOfRef(plan, from);
    const key = stageIndex !== undefined ? `stage:${stageIndex}` : `image:${from}`;
    let hashed = sourceHashes.get(key);
    if (!hashed) {
      hashed = (async () => {
        const layers = sourceLayers(from, stageIndex);
        const statCacheFile = path.join(store, 'cache', 'trees', `${cacheKey({ chain: layers.map((l) => l.diffId), snapshotter: snapshots.kind }).slice(7, 39)}.statcache`);
        let mountedRoot: Promise<string> | undefined;
        const root = () => (mountedRoot ??= layersReady(layers).then(() => snapshots.view(layers)));
        treesUsed.add(statCacheFile);
        // An imported cache may carry this tree: then the stage need not be unpacked to be hashed.
        for (const source of existsSync(statCacheFile) ? [] : options.cacheFrom ?? []) {
          const tree = source.trees.get(path.basename(statCacheFile));
          if (tree && (await source.fetchTree(store, tree, statCacheFile))) break;
        }
        if (existsSync(statCacheFile)) {
          try {
            const restored = await hashContext(path.join(scratch, 'unmounted'), { inline: true, statCacheFile, immutable: true });
            pendingRoots.set(restored, root);
            return restored;
          } catch {
            // Not restorable after all (damaged): hash the mounted files below.
          }
        }
        return hashContext(await root(), { inline: true, statCacheFile, immutable: true });
      })();
      sourceHashes.set(key, hashed);
    }
    return hashed;
  };

  /** Where a hashed source's files are, mounting them first if they came from the store's record. */
  const rootOf = (hashed: HashedContext): Promise<string> => pendingRoots.get(hashed)?.() ?? Promise.resolve(hashed.root);

  /** The layers of a stage or image that COPY --from or a mount's from= reads. */
  const sourceLayers = (from: string, stageIndex: number | undefined): readonly LayerRef[] => {
    if (stageIndex !== undefined) return states.get(stageIndex)!.layers;
    const image = requireImage(store, from);
    const manifest = readManifest(store, image.manifest);
    const diffIds = readConfig(store, manifest).rootfs.diff_ids;
    return manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: diffIds[i]! }));
  };

  /** At most `jobs` RUN commands execute at once, across all stages. */
  const runSlots = semaphore(Math.max(1, options.jobs ?? availableParallelism()));

  /** A writable root filesystem on the stage's layers; its changes are the step's layer, or nothing if it fails. */
  const inWorkspace = async (state: StageState, options: WorkspaceOptions, act: (ws: Workspace) => Promise<readonly string[] | void>): Promise<LayerRef | null> => {
    await layersReady(state.layers);
    const ws = await snapshots.workspace(state.layers, options);
    let written: readonly string[] | void;
    try {
      written = await act(ws);
    } catch (e) {
      await ws.discard();
      throw e;
    }
    const blob = await ws.commit(written ?? undefined);
    return blob && { digest: blob.digest, diffId: blob.diffId, size: blob.size };
  };

  try {
    const t0 = Date.now();
    // The dev loop hands over the context it keeps up to date; a build on its own hashes it here.
    const ctx = options.context ?? await hashContext(options.contextDir, { ignorePatterns: options.ignorePatterns, statCacheFile: options.statCacheFile });
    onEvent({ type: 'context', files: ctx.stats.files, bytes: ctx.stats.bytes, cacheHits: ctx.stats.cacheHits, seconds: (Date.now() - t0) / 1000 });

    // Stages of one level need nothing from each other: they build at the same time. When one
    // fails, its siblings are cancelled (their sandboxes killed) before the error is reported.
    const buildStage = async (index: number): Promise<void> => {
      const stage = plan.stages[index]!;
      const state = baseState(stage);
      states.set(index, state);
      const label = stageLabel(plan, index);
      const fsSteps = stage.steps.filter((st) => !METADATA.has(st.instruction));
      let missed = false;
      for (const step of stage.steps) {
        if (cancel.signal.aborted) throw new CancelledError(`the build was cancelled before ${plan.file}:${step.line}`, { hint: 'it was interrupted (Ctrl-C, SIGTERM, a failing sibling stage, or a newer build replacing it)' });
        const metadata = METADATA.has(step.instruction);
        const id = metadata ? 0 : nextId++;
        const where = { file, line: step.line };
        if (!metadata) {
          onEvent({ type: 'step-start', id, stage: label, index: fsSteps.indexOf(step) + 1, count: fsSteps.length, text: displayText(step), line: step.line, time: Date.now() });
          // A listener may stop the build as a step begins (the dev loop does, where a change starts to matter).
          if (cancel.signal.aborted) {
            onEvent({ type: 'step-error', id, message: 'cancelled', time: Date.now() });
            throw new CancelledError(`the build was cancelled at ${plan.file}:${step.line}`, { hint: 'a newer change replaces it' });
          }
        }
        const stepStart = Date.now();
        const describe = createdBy(step, state.config);
        if (metadata) {
          applyMetadata(state.config, step);
          // Dated like the layer before it, so an unchanged Dockerfile rebuilds to the identical image.
          state.config.history.push({ created: state.created, created_by: describe, comment: 'buildkit.dockerfile.v0', empty_layer: true });
          continue;
        }
        const execTime = { seconds: 0, startedAt: 0 };
        let fs: Awaited<ReturnType<typeof filesystemStep>>;
        let record: ReturnType<typeof readCacheRecord>;
        let layer: LayerRef | null;
        let created: string;
        try {
          fs = await filesystemStep(step, state, ctx, where, id, execTime);
          record = !options.noCache ? readCacheRecord(store, fs.key) ?? (await importedRecord(fs.key)) : undefined;
          const identity = `${label}#${fsSteps.indexOf(step)}`;
          if (!record && !missed) {
            // The first miss of a stage says why; the steps after it miss because it did.
            missed = true;
            const cause = explainMiss(lastInputs()[identity], fs.inputs, { noCache: options.noCache, first: fsSteps.indexOf(step) === 0 });
            onEvent({ type: 'step-explain', id, cause, text: describeCause(cause), time: Date.now() });
          }
          if (lastKeys()[identity] !== fs.key) {
            currentInputs[identity] = fs.inputs;
            currentKeys[identity] = fs.key;
          }
          if (record) {
            layer = record.layer;
            created = record.created;
            cached++;
            onEvent({ type: 'step-cached', id, time: Date.now() });
          } else {
            layer = await fs.execute();
            created = new Date().toISOString();
            writeCacheRecord(store, fs.key, { layer, createdBy: describe, created });
            executed++;
          }
        } catch (e) {
          onEvent({ type: 'step-error', id, message: e instanceof CancelledError || cancel.signal.aborted ? 'cancelled' : (e as Error).message, time: Date.now() });
          throw e;
        }
        entries.push({ stage: index, key: fs.key, record: { layer, createdBy: describe, created } });
        state.created = created;
        const history = { created, created_by: describe, comment: 'buildkit.dockerfile.v0' };
        state.key = fs.key;
        if (fs.after) fs.after();
        if (layer) state.layers.push(layer);
        state.config.history.push(layer ? history : { ...history, empty_layer: true });
        onEvent({ type: 'step-done', id, seconds: (Date.now() - stepStart) / 1000, execSeconds: execTime.seconds, execStartedAt: execTime.startedAt, cached: Boolean(record), time: Date.now() });
      }
    };
    // Each stage starts as soon as the stages it needs are done (not when a whole level is): one failing
    // cancels the others (their sandboxes killed), and a stage whose input failed never starts.
    const scheduled = new Map<number, Promise<void>>();
    const schedule = (index: number): Promise<void> => {
      let run = scheduled.get(index);
      if (!run) {
        run = (async () => {
          await Promise.all(plan.stages[index]!.dependsOn.map(schedule));
          try {
            await buildStage(index);
          } catch (e) {
            cancel.abort();
            throw e;
          }
        })();
        scheduled.set(index, run);
      }
      return run;
    };
    const results = await Promise.allSettled(needed.map(schedule));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof CancelledError)) ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;

    const final = states.get(plan.targetIndex)!;
    // Created when its newest layer was: a rebuild from the cache is the identical image, byte for byte.
    const config = toImageConfig(final.config, final.layers.map((l) => l.diffId), final.created);
    await layersReady(final.layers);
    const manifest = await writeImage(store, final.layers, config);
    // The other imported layers too, so that the store is whole (and their records kept) when the build returns.
    await Promise.allSettled(prefetches.values());
    for (const tag of options.tags) await tagImage(store, tag, manifest);
    onEvent({ type: 'image', digest: manifest.digest, config: '', tags: options.tags, seconds: (Date.now() - started) / 1000 });
    return { manifest, config, cached, executed, snapshotter: snapshots.kind, layers: final.layers, entries, trees: [...treesUsed] };
  } finally {
    await snapshots.dispose();
    rmSync(scratch, { recursive: true, force: true });
    // What the steps that ran were made of, for the next build to explain its misses against.
    if (options.inputsFile && Object.keys(currentInputs).length) {
      writeInputsRecord(options.inputsFile, { ...lastInputs(), ...currentInputs });
      writeKeysRecord(`${options.inputsFile}.keys`, { ...lastKeys(), ...currentKeys });
    }
  }

  /**
   * COPY (and ADD of local files) into a workspace. The copy knows what it
   * wrote: that is the layer, with no scan of the whole root filesystem.
   * Where the snapshotter keeps layers as directories, a file that the last
   * run of the same COPY wrote identically (content, mode, owner, mtime) is
   * hard-linked from that run's snapshot instead of copied again: a
   * one-file edit under `COPY . .` then writes one file, not thousands.
   */
  async function copyStep(state: StageState, c: {
    srcCtx: HashedContext; selection: ReturnType<typeof selectSources>; sources: readonly string[]; dest: string; destIsFile: (root: string) => boolean;
    chown: string | undefined; chmod: number | undefined; from: string | undefined; where: { file: string; line: number };
  }): Promise<LayerRef | null> {
    const identity = cacheKey({ op: 'COPY-identity', sources: c.sources, dest: c.dest, from: c.from, chown: c.chown, chmod: c.chmod });
    const previous = readCopyRecord(store, identity);
    const previousDir = previous && existsSync(previous.layerDir) ? previous.layerDir : undefined;
    const signatures: Record<string, string> = {};
    const layer = await inWorkspace(state, { reportsWrites: true }, async (ws) => {
      const owner = resolveOwner(ws.root, c.chown, c.where);
      const destIsFile = c.destIsFile(ws.root);
      const linkable = ws.writeRoot !== ws.root;
      const reuse = (destRel: string, src: string, st: Stats) => {
        const entry = c.srcCtx.index.get(src);
        if (entry?.kind !== 'file') return undefined;
        // What is copied must be what was hashed, or the layer would not be what its key says.
        const restated = st.size !== Number(entry.stat.size) || Math.floor(st.mtimeMs) !== Number(entry.stat.mtimeNs / 1_000_000n);
        // A file rewritten with the same bytes (an editor, a tool) is fine: only different content is refused.
        if (!c.from && restated && !fileDigest(path.join(c.srcCtx.root, src))?.equals(entry.digest)) {
          throw new BuildError(`${src} changed while the build was copying it`, c.where, { hint: 'build again (strata dev --watch does so by itself when the edits stop)' });
        }
        if (!linkable) return undefined;
        const signature = `${entry.digest.toString('hex')}:${c.chmod ?? st.mode & 0o7777}:${owner.uid}:${owner.gid}:${Math.floor(st.mtimeMs)}`;
        signatures[destRel] = signature;
        return previousDir && previous!.files[destRel] === signature ? path.join(previousDir, destRel) : undefined;
      };
      return copyInto(ws.root, {
        srcRoot: await rootOf(c.srcCtx), placed: destIsFile ? [{ src: c.selection.placed[0]!.src, dest: '' }] : c.selection.placed, dest: c.dest, destIsFile,
        owner, chmod: c.chmod, where: c.where, writeRoot: ws.writeRoot, reuse,
      });
    });
    const layerDir = layer ? snapshots.layerDir(layer.diffId) : undefined;
    if (layerDir && Object.keys(signatures).length) writeCopyRecord(store, identity, { layerDir, files: signatures });
    return layer;
  }

  /** ADD of an http(s) URL: downloaded, never unpacked; keyed by --checksum, or else by the content downloaded. */
  async function remoteAdd(step: PlannedStep, state: StageState, sources: readonly string[], where: { file: string; line: number }): Promise<FilesystemStep> {
    if (sources.length !== 1) throw new BuildError('ADD of a URL takes that URL as its only source', where, { hint: 'write one ADD per URL' });
    const url = sources[0]!;
    const checksum = typeof step.flags.checksum === 'string' ? parseChecksum(step.flags.checksum, where) : undefined;
    const name = remoteFileName(url);
    const rawDest = step.args[step.args.length - 1]!;
    const dest = resolveInContainer(state.config, rawDest);
    const chmod = typeof step.flags.chmod === 'string' ? parseInt(step.flags.chmod, 8) : undefined;
    const chown = typeof step.flags.chown === 'string' ? step.flags.chown : undefined;
    // Without a checksum the content is the key: it must be downloaded to know whether the step is a hit.
    const fetched = checksum ? undefined : await download(url, scratch, where, cancel.signal);
    const content = checksum ? `${checksum.algorithm}:${checksum.hex}` : fetched!.digest;
    return {
      key: cacheKey({ parent: step.flags.link === true ? 'link' : state.key, op: 'ADD-url', name, content, dest, destDir: rawDest.endsWith('/'), chown, chmod }),
      inputs: { text: displayText(step), line: step.line, parent: step.flags.link === true ? 'link' : state.key, other: content },
      execute: () => inWorkspace(state, { reportsWrites: true }, async (ws) => {
        const got = fetched ?? await download(url, scratch, where, cancel.signal, checksum);
        chmodSync(got.file, 0o600); // Docker's mode for a downloaded file
        if (got.modified) utimesSync(got.file, got.modified, got.modified);
        const destIsFile = !rawDest.endsWith('/') && !isDirectoryIn(ws.root, dest, where);
        return copyInto(ws.root, { srcRoot: path.dirname(got.file), placed: [{ src: path.basename(got.file), dest: name }], dest, destIsFile, owner: resolveOwner(ws.root, chown, where), chmod, where, writeRoot: ws.writeRoot });
      }),
    };
  }

  /** The key of a filesystem step and how to carry it out on a miss. */
  async function filesystemStep(step: PlannedStep, state: StageState, ctx: HashedContext, where: { file: string; line: number }, id: number, execTime: { seconds: number; startedAt: number }): Promise<FilesystemStep> {
    const c = state.config;
    const base = { text: displayText(step), line: step.line, parent: step.flags.link === true ? 'link' : state.key };
    switch (step.instr.kind) {
      case 'WORKDIR': {
        const dir = resolveInContainer(c, step.args[0] ?? '/');
        return {
          key: cacheKey({ parent: state.key, op: 'WORKDIR', path: dir }),
          inputs: { ...base, settings: { WORKDIR: dir } },
          after: () => { c.workdir = dir; },
          execute: () => inWorkspace(state, { reportsWrites: true }, async (ws) => ensureDirs(ws.root, dir, where, ws.writeRoot)),
        };
      }
      case 'RUN': {
        if (step.flags.security === 'insecure') throw new BuildError('RUN --security=insecure is not supported', where, { hint: 'strata runs every step in the sandbox' });
        const user = c.user;
        const { argv, scripts } = runCommand(step, shellOf(c));
        const env: Record<string, string> = { ...step.argsInScope, ...Object.fromEntries(c.env), ...step.proxy };
        env.PATH ??= DEFAULT_PATH;
        const keyEnv = { ...step.argsInScope, ...Object.fromEntries(c.env) };
        const workdir = c.workdir || '/';
        const network = typeof step.flags.network === 'string' ? (step.flags.network as 'default' | 'none' | 'host') : 'default';
        const runMounts = await prepareRunMounts(step.mounts, {
          store, scratch, context: ctx, where, secrets: options.secrets ?? new Map(), filesOf: hashedSource, rootOf, resolveTarget: (t) => resolveInContainer(c, t),
        });
        return {
          key: cacheKey({ parent: state.key, op: 'RUN', argv, scripts: scripts.length ? scripts : undefined, env: keyEnv, user, workdir, network, mounts: runMounts.key.length ? runMounts.key : undefined }),
          inputs: {
            ...base, args: step.argsInScope, env: Object.fromEntries(c.env), settings: { USER: user ?? '', WORKDIR: workdir, network, SHELL: JSON.stringify(shellOf(c)) },
            other: cacheKey({ scripts, mounts: runMounts.key }),
          },
          execute: () => inWorkspace(state, { mountPoints: SANDBOX_MOUNT_POINTS }, async (ws) => {
            const runUser = user ? resolveUser(ws.root, user, where) : undefined;
            const opened = await runMounts.open();
            const redact = redactor(opened.secretValues);
            try {
              const runEnv = { ...env, HOME: env.HOME ?? runUser?.home ?? '/root', ...opened.env };
              const mounts: SandboxMount[] = scripts.map((script) => {
                const file = path.join(mkdtempSync(path.join(scratch, 'script-')), script.name);
                writeFileSync(file, script.content, { mode: 0o755 });
                return { kind: 'bind', source: file, target: `${SCRIPT_DIR}/${script.name}`, readonly: true };
              });
              const result = await runSlots(async () => {
                const execStart = Date.now();
                const r = await runInSandbox({
                  rootfs: ws.root, argv, env: runEnv, cwd: workdir, network, signal: cancel.signal, user: runUser, mounts: [...mounts, ...opened.mounts],
                  onOutput: (stream, line) => onEvent({ type: 'step-log', id, stream, line: redact(line), time: Date.now() }),
                });
                execTime.seconds = (Date.now() - execStart) / 1000;
                execTime.startedAt = execStart;
                return r;
              });
              if (result.exitCode !== 0) {
                const shown = argv.join(' ');
                throw new BuildError(`process "${shown}" did not complete successfully: exit code: ${result.exitCode}`, where, {
                  hint: result.tail.length ? `its last output:\n  ${result.tail.map(redact).join('\n  ')}` : 'it printed nothing',
                });
              }
            } finally {
              await opened.release();
            }
          }),
        };
      }
      case 'COPY':
      case 'ADD': {
        const from = typeof step.flags.from === 'string' ? step.flags.from : undefined;
        let sources = step.args.slice(0, -1);
        if (step.instr.kind === 'ADD' && sources.some((s) => GIT_SOURCE.test(s))) {
          throw new BuildError('ADD of a git repository is not supported', where, { hint: 'clone it in a RUN step (with a secret mount for credentials)' });
        }
        if (step.instr.kind === 'ADD' && sources.some((s) => REMOTE_SOURCE.test(s))) return remoteAdd(step, state, sources, where);
        let srcCtx = from ? await hashedSource(from) : ctx;
        const inline = step.heredocs.length > 0;
        if (inline) {
          // Each heredoc is a file named by its delimiter (BuildKit's rule), written here and copied like a context file.
          if (sources.length !== step.heredocs.length || from) {
            throw new BuildError(`${step.instruction} of heredocs cannot mix them with other sources`, where, { hint: `split it: one ${step.instruction} for the heredocs, another for the files` });
          }
          const dir = mkdtempSync(path.join(scratch, 'heredoc-'));
          for (const doc of step.heredocs) {
            const file = path.join(dir, doc.name);
            if (path.dirname(file) !== dir) throw new BuildError(`the heredoc name ${JSON.stringify(doc.name)} cannot be a file name`, where, { hint: 'name it with letters, digits, _ . or -' });
            writeFileSync(file, doc.content, { mode: 0o644 });
            utimesSync(file, 0, 0);
          }
          srcCtx = await hashContext(dir, { inline: true });
          sources = step.heredocs.map((doc) => doc.name);
        }
        let selection;
        try {
          selection = selectSources(srcCtx, { sources, exclude: Array.isArray(step.flags.exclude) ? step.flags.exclude : [], parents: step.flags.parents === true });
        } catch (e) {
          if (e instanceof ContextError) throw new BuildError(`${step.instruction} failed: ${e.message}`, where, { hint: e.hint });
          throw e;
        }
        const rawDest = step.args[step.args.length - 1]!;
        const dest = resolveInContainer(c, rawDest);
        const single = sources.length === 1 && !WILDCARD.test(sources[0]!) && selection.placed.length === 1 && srcCtx.index.get(selection.placed[0]!.src)?.kind !== 'dir' && srcCtx.index.get(sources[0]!.replace(/^\.?\/+/, '').replace(/\/+$/, ''))?.kind !== 'dir';
        // ADD unpacks a local tar archive (plain, gzip, bzip2, xz or zstd), decided by its content as Docker does.
        const candidate = step.instr.kind === 'ADD' && single && !from && !inline ? path.join(srcCtx.root, selection.placed[0]!.src) : undefined;
        let archive: string | undefined;
        try {
          archive = candidate && isTarArchive(candidate) ? candidate : undefined;
        } catch (e) {
          if (e instanceof SnapshotError) throw new BuildError(`ADD cannot read ${sources[0]}: ${e.message}`, where, { hint: e.hint });
          throw e;
        }
        const chmod = typeof step.flags.chmod === 'string' ? parseInt(step.flags.chmod, 8) : undefined;
        const chown = typeof step.flags.chown === 'string' ? step.flags.chown : undefined;
        return {
          key: cacheKey({ parent: step.flags.link === true ? 'link' : state.key, op: archive ? 'ADD-unpack' : 'COPY', sources: selection.digest, dest, destDir: rawDest.endsWith('/'), chown, chmod, from: from ? 'content' : undefined }),
          inputs: { ...base, files: Object.fromEntries(selection.files.map((f) => { const e = srcCtx.index.get(f); return [f, e ? `${e.digest.toString('hex')}:${e.mode.toString(8)}` : '']; })), other: selection.digest },
          // ADD unpacks a local tar archive into the destination directory (safely: nothing may escape it).
          execute: () => archive
            ? inWorkspace(state, {}, async (ws) => {
              await applyLayer(path.join(ws.writeRoot, makeDirIn(ws.root, dest, where, ws.writeRoot)), archive);
            })
            : copyStep(state, { srcCtx, selection, sources, dest, destIsFile: (root) => single && !rawDest.endsWith('/') && !isDirectoryIn(root, dest, where), chown, chmod, from, where }),
        };
      }
      default:
        throw new BuildError(`${step.instruction} is not supported by strata build yet`, where, { hint: 'see the README for what builds today' });
    }
  }
}
