/**
 * strata build: the plan's stages, step by step, with Docker's cache rules
 * (BuildKit's where they differ). Each filesystem step has a key derived
 * from its parent's key and its inputs; a key seen before reuses its layer
 * ("CACHED"); otherwise the step runs on a root filesystem assembled from
 * the layers so far, and its diff becomes a new layer, committed to the
 * store before its key is. Stages run in dependency order.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { cacheKey, duringBuild, flushCopyRecords, readCacheRecord, sweepStaleTemp, tempPath, writeCacheRecord, type CacheRecord, type CacheSource, type Descriptor, type LayerRef } from '../cache/index.js';
import { hashContext, type HashedContext } from '../context/index.js';
import { hostPlatform, stageOfRef, type Plan, type PlannedStage, type StageBase, type TypedDockerfile } from '../dockerfile/index.js';
import { BuildError, CancelledError, ExecError, ImageError } from '../errors/index.js';
import type { RunNetwork } from '../exec/index.js';
import { readConfig, readManifest, requireImage, tagImage, writeImage, type ImageConfig } from '../image/index.js';
import { openSnapshotter, unmountBelow, type Snapshotter, type SnapshotterChoice, type SnapshotterKind, type Workspace, type WorkspaceOptions } from '../snapshot/index.js';
import { applyMetadata, cloneStageConfig, stageConfigFrom, toImageConfig } from './config.js';
import { createdBy } from './created-by.js';
import type { EventSink } from './events.js';
import { describeCause, explainMiss, readInputsRecord, readKeysRecord, writeInputsRecord, writeKeysRecord, type InputsRecord, type StepInputs } from './explain.js';
import { displayText, filesystemStep, METADATA, stageLabel, type StageState, type StepEnv, type Written, isPathList } from './step-kinds.js';

export interface BuildOptions {
  readonly store: string;
  readonly contextDir: string;
  readonly typed: TypedDockerfile;
  readonly plan: Plan;
  readonly ignorePatterns: readonly string[];
  readonly statCacheFile?: string | undefined;
  /**
   * The context, hashed or being hashed, by a caller that reports what
   * hashing it found (the watcher, which keeps it current); otherwise the
   * build hashes it from contextDir. Either way only the steps that read
   * it wait for it.
   */
  readonly context?: HashedContext | Promise<HashedContext>;
  readonly tags: readonly string[];
  readonly noCache: boolean;
  /** Secrets for RUN --mount=type=secret, by id (never in a key, a layer or an event). */
  readonly secrets?: ReadonlyMap<string, Buffer>;
  /** Caches to import from (--cache-from): a key missing here is looked up there, its layer brought in when a hit needs it. */
  readonly cacheFrom?: readonly CacheSource[];
  /**
   * Bring in the layer of every imported hit before returning, needed or
   * not (a build that exports its cache elsewhere must have them all). By
   * default only the layers something needs are fetched: the image's, and
   * those under a step that runs.
   */
  readonly importAllHits?: boolean;
  /** Where the inputs of this Dockerfile's steps are kept between builds, to say why a step missed. */
  readonly inputsFile?: string;
  /** At most this many RUN commands at once (default: the number of cores). */
  readonly jobs?: number;
  /** The network of every RUN that names none with --network (docker build --network); default: the host's. */
  readonly network?: RunNetwork;
  /** Labels set on the image over the Dockerfile's (docker build --label). */
  readonly labels?: Readonly<Record<string, string>>;
  /** How root filesystems are assembled (default auto: overlay where it mounts, else copy). */
  readonly snapshotter?: SnapshotterChoice;
  readonly onEvent: EventSink;
  readonly signal?: AbortSignal;
  /**
   * SOURCE_DATE_EPOCH, as an ISO time: every step of this build (run or
   * from the cache) and the image are dated so, as BuildKit does, and the
   * same Dockerfile and files give the same image on any machine.
   */
  readonly created?: string;
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
  /** The context as this build read it: the id of the stat cache file that describes it (see checkContext). */
  readonly contextCacheId: string | undefined;
}

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
  // A prune would remove what a cache hit is about to name in the image: the two never run at once.
  return duringBuild(options.store, async () => {
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
  }, options.signal);
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
    // A plan made without looking the image up (or before it changed) would skip its triggers, or expand
    // the stage's words without its ENV.
    const triggers = config.config?.OnBuild ?? [];
    if (!sameList(triggers, stage.imageTriggers)) {
      throw new BuildError(`base image ${stage.base} has ONBUILD triggers that the plan did not fire`, { file, line: stage.line }, {
        hint: `plan with the image's config (planBuild's baseImage option; strata build does): ${triggers.join('; ')}`,
      });
    }
    if (!sameList(config.config?.Env ?? [], stage.imageEnv)) {
      throw new BuildError(`base image ${stage.base} has ENV that the plan did not expand with`, { file, line: stage.line }, {
        hint: "plan with the image's config (planBuild's baseImage option; strata build does)",
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
   * A key this store lacks, from an imported cache: the step hits, and its
   * layer is brought in (verified) when something needs it: a workspace or
   * view on top of it, or the image. A layer that fails is reported and the
   * step is built instead. Only then is the record kept here, its layer
   * being in the store.
   */
  const imports = new Map<string, () => Promise<void>>();
  const prefetches = new Map<string, Promise<void>>();
  const fetchImported = (digest: string): Promise<void> | undefined => {
    let fetched = prefetches.get(digest);
    const start = imports.get(digest);
    if (!fetched && start) {
      fetched = start();
      fetched.catch(() => undefined);
      prefetches.set(digest, fetched);
    }
    return fetched;
  };
  /** The target stage and the stages it is built FROM: their layers are the image's, so an imported hit there is fetched at once. */
  const imageStages = new Set<number>();
  for (let at: number | undefined = plan.targetIndex; at !== undefined; ) {
    imageStages.add(at);
    const base: StageBase = plan.stages[at]!.base;
    at = typeof base === 'object' ? base.stage : undefined;
  }
  /** The stage trees an imported cache carries (small): fetched from the start, in parallel, for COPY --from keys. */
  const treeFetches = new Map<string, Promise<boolean>>();
  for (const source of options.cacheFrom ?? []) {
    for (const [name, tree] of source.trees) {
      if (treeFetches.has(name)) continue;
      const file = path.join(store, 'cache', 'trees', name);
      treeFetches.set(name, existsSync(file) ? Promise.resolve(true) : source.fetchTree(store, tree, file));
    }
  }
  /**
   * Each imported layer as this store will name it: the cache's (gzip) blob until it is fetched, then
   * the plain tar the store keeps (fetchLayer), so that the image is the one the exporting store made.
   */
  const importedLayers = new Map<string, { digest: string; diffId: string; size: number }>();
  const importedRecord = async (key: string, stage: number): Promise<CacheRecord | undefined> => {
    for (const source of options.cacheFrom ?? []) {
      const record = source.records.get(key);
      if (!record || (record.layer && refused.has(record.layer.digest))) continue;
      const layer = record.layer;
      if (!layer) {
        writeCacheRecord(store, key, record);
        return record;
      }
      let local = importedLayers.get(layer.digest);
      if (!local) {
        const named = { digest: layer.digest, diffId: layer.diffId, size: layer.size };
        local = named;
        importedLayers.set(layer.digest, named);
        imports.set(layer.digest, () => source.fetchLayer(store, layer).then((kept) => {
          Object.assign(named, kept);
          writeCacheRecord(store, key, { ...record, layer: kept });
        }, (e: unknown) => {
          throw new ImportFailure(layer.digest, source.describe, (e as Error).message);
        }));
        if (options.importAllHits || imageStages.has(stage)) fetchImported(layer.digest);
      }
      return { ...record, layer: local };
    }
    return undefined;
  };
  /** Brings in the imported layers among `layers` (all at once) and waits for them: needed now, by a workspace, a view or the image. */
  const layersReady = async (layers: readonly LayerRef[]): Promise<void> => {
    try {
      await Promise.all(layers.map((l) => fetchImported(l.digest)));
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
        // The stage's tree is kept by its layers' diffIDs: those still being tarred are waited for.
        await Promise.all(layers.map((l) => tarring.get(l)));
        const statCacheFile = path.join(store, 'cache', 'trees', `${cacheKey({ chain: layers.map((l) => l.diffId), snapshotter: snapshots.kind }).slice(7, 39)}.statcache`);
        let mountedRoot: Promise<string> | undefined;
        const root = () => (mountedRoot ??= layersReady(layers).then(() => snapshots.view(layers)));
        treesUsed.add(statCacheFile);
        // An imported cache may carry this tree: then the stage need not be unpacked to be hashed.
        await treeFetches.get(path.basename(statCacheFile));
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

  /** Layers this build made whose blob is still being put in place; and the cache records waiting for them. */
  const storing = new Map<LayerRef, Promise<void>>();
  /** Those of them whose tar is still being written: their diffID is known when this resolves. */
  const tarring = new Map<LayerRef, Promise<void>>();
  const recordWrites: Promise<void>[] = [];
  /** A writable root filesystem on the stage's layers; its changes are the step's layer, or nothing if it fails. */
  const inWorkspace = async (state: StageState, options: WorkspaceOptions, act: (ws: Workspace) => Promise<Written | void>): Promise<LayerRef | null> => {
    await layersReady(state.layers);
    const ws = await snapshots.workspace(state.layers, options);
    let written: Written | void;
    try {
      written = await act(ws);
    } catch (e) {
      await ws.discard();
      throw e;
    }
    const staged = written && !isPathList(written) ? await ws.commit(written.written, { overBase: true }) : await ws.commit(written ?? undefined);
    if (!staged) return null;
    if (staged.written) return { diffId: staged.diffId, digest: staged.written.digest, size: staged.written.size };
    // The layer is usable at once (the overlay snapshotter mounts it by diffID, or while its tar is being
    // written by its provisional name); its diffID, blob digest and size arrive as its tar is written and
    // put in place as its blob, which runs alongside the steps after it.
    const layer: { diffId: string; digest: string; size: number; snapshot?: string } = { diffId: staged.diffId, digest: '', size: 0 };
    if (staged.pending) {
      layer.snapshot = staged.pending.snapshot;
      const named = staged.pending.diffId.then((diffId) => {
        layer.diffId = diffId;
        delete layer.snapshot;
      });
      named.catch(() => undefined);
      tarring.set(layer, named);
    }
    const blobWritten = staged.blob.then((b) => {
      layer.digest = b.digest;
      layer.size = b.size;
    });
    blobWritten.catch(() => undefined);
    storing.set(layer, blobWritten);
    return layer;
  };

  const env: StepEnv = {
    store, scratch, snapshots, signal: cancel.signal, onEvent, secrets: options.secrets ?? new Map(), runSlots, hashedSource, rootOf, inWorkspace,
    network: options.network ?? 'default',
  };

  try {
    const t0 = Date.now();
    // The steps that read none of the context (a WORKDIR, a RUN before the first COPY, a stage that copies
    // nothing from it) run while it is hashed: a cold context of 2,000 files takes some 0.3 s, and the
    // base image's first unpacking about as long. A context that cannot be hashed stops the build as a
    // failing step does. (A caller that hands the context over reports what hashing it found.)
    const hashing = options.context
      ? Promise.resolve(options.context).then((hashed) => ({ hashed, warnings: [] as readonly string[] }))
      : hashContext(options.contextDir, { ignorePatterns: options.ignorePatterns, statCacheFile: options.statCacheFile }).then((hashed) => ({ hashed, warnings: hashed.warnings }));
    const ctx = hashing.then(
      ({ hashed, warnings }) => {
        onEvent({ type: 'context', files: hashed.stats.files, bytes: hashed.stats.bytes, cacheHits: hashed.stats.cacheHits, seconds: (Date.now() - t0) / 1000, warnings });
        return hashed;
      },
      (e: unknown) => {
        cancel.abort();
        throw e;
      },
    );
    ctx.catch(() => undefined); // (seen below, with the stages' outcomes)

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
        if (metadata) {
          applyMetadata(state.config, step);
          // Undated until the image is written (datedHistory), unless SOURCE_DATE_EPOCH dates everything.
          // BuildKit records no history for ONBUILD.
          if (step.instruction !== 'ONBUILD') {
            state.config.history.push({ ...(options.created && { created: options.created }), created_by: createdBy(step, state.config), comment: 'buildkit.dockerfile.v0', empty_layer: true });
          }
          continue;
        }
        const describe = createdBy(step, state.config);
        const execTime = { seconds: 0, startedAt: 0 };
        let fs: Awaited<ReturnType<typeof filesystemStep>>;
        let record: ReturnType<typeof readCacheRecord>;
        let layer: LayerRef | null;
        let created: string;
        try {
          fs = await filesystemStep(env, step, state, ctx, where, id, execTime);
          record = !options.noCache ? readCacheRecord(store, fs.key) ?? (await importedRecord(fs.key, index)) : undefined;
          const identity = `${label}#${fsSteps.indexOf(step)}`;
          // (A getter that lists every file of a COPY: read once.)
          let inputs: StepInputs | undefined;
          const inputsOfStep = () => (inputs ??= fs.inputs);
          if (!record && !missed) {
            // The first miss of a stage says why; the steps after it miss because it did.
            missed = true;
            const cause = explainMiss(lastInputs()[identity], inputsOfStep(), { noCache: options.noCache, first: fsSteps.indexOf(step) === 0 });
            onEvent({ type: 'step-explain', id, cause, text: describeCause(cause), time: Date.now() });
          }
          if (options.inputsFile && lastKeys()[identity] !== fs.key) {
            currentInputs[identity] = inputsOfStep();
            currentKeys[identity] = fs.key;
          }
          if (record) {
            layer = record.layer;
            created = options.created ?? record.created;
            cached++;
            onEvent({ type: 'step-cached', id, time: Date.now() });
          } else {
            layer = await fs.execute({ followed: fsSteps.indexOf(step) < fsSteps.length - 1 });
            created = options.created ?? new Date().toISOString();
            const made = { layer, createdBy: describe, created };
            // A record is committed only once its layer's blob is in the store.
            const blob = layer && storing.get(layer);
            if (blob) {
              const recorded = blob.then(() => writeCacheRecord(store, fs.key, made));
              recorded.catch(() => undefined); // seen where the build waits for every blob, not as an unhandled rejection before
              recordWrites.push(recorded);
            } else {
              writeCacheRecord(store, fs.key, made);
            }
            executed++;
          }
        } catch (e) {
          onEvent({ type: 'step-error', id, message: e instanceof CancelledError || cancel.signal.aborted ? 'cancelled' : (e as Error).message, time: Date.now() });
          // An image a step reads (COPY --from=IMAGE) that is missing or damaged, or a sandbox that cannot
          // start (no bwrap, a mount it cannot make): said at the step's line.
          throw e instanceof ImageError || e instanceof ExecError ? new BuildError(e.message, where, { hint: e.hint }) : e;
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
    const results = await Promise.allSettled([ctx, ...needed.map(schedule)]);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof CancelledError)) ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;

    const final = states.get(plan.targetIndex)!;
    // Created when its newest layer was: a rebuild from the cache is the identical image, byte for byte.
    const labeled = options.labels ? { ...final.config, labels: { ...final.config.labels, ...options.labels } } : final.config;
    await layersReady(final.layers);
    await Promise.all([...storing.values(), ...recordWrites]);
    // (After the waits: a layer tarred in the background has its diffID only now.)
    const config = toImageConfig(labeled, final.layers.map((l) => l.diffId), options.created ?? final.created);
    const manifest = await writeImage(store, final.layers, config);
    // The other imported layers being fetched too, so that nothing is left half-done when the build returns.
    await Promise.allSettled(prefetches.values());
    for (const tag of options.tags) await tagImage(store, tag, manifest);
    onEvent({ type: 'image', digest: manifest.digest, config: '', tags: options.tags, seconds: (Date.now() - started) / 1000 });
    const contextCacheId = (await ctx).statCacheId;
    return { manifest, config, cached, executed, snapshotter: snapshots.kind, layers: final.layers, entries, trees: [...treesUsed], contextCacheId };
  } finally {
    // A failed build stops here too: no blob is left half-written behind the caller's back.
    await Promise.allSettled([...storing.values(), ...recordWrites]);
    await snapshots.dispose();
    rmSync(scratch, { recursive: true, force: true });
    flushCopyRecords();
    // What the steps that ran were made of, for the next build to explain its misses against.
    if (options.inputsFile && Object.keys(currentInputs).length) {
      writeInputsRecord(options.inputsFile, { ...lastInputs(), ...currentInputs });
      writeKeysRecord(`${options.inputsFile}.keys`, { ...lastKeys(), ...currentKeys });
    }
  }

}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
