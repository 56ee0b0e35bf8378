/**
 * The dev loop: build once; with watching on, keep one hashed context
 * current from the watcher's batches (only the changed paths are read
 * again) and rebuild from the first step whose key changed. A batch that
 * changes no content (a touch, an identical rewrite, an ignored file)
 * does nothing; one that changes files no step reads says so and builds
 * nothing; one that lands during a build cancels it (sandbox killed,
 * nothing half-committed) and builds again, the finished steps from the
 * cache. A Dockerfile or ignore-file edit re-plans (and re-reads the
 * context under the new rules). With `run`, the image runs after every
 * good build and is restarted on the next one; a failed build keeps the
 * last good app running.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build, contextReads, mayRead, trimBuildCache, type BuildResult } from '../build/index.js';
import { tempPath } from '../cache/index.js';
import { contentChanged, contextDirectories, hashContext, persistStatCache, updateContext, type HashedContext, type HashProgress } from '../context/index.js';
import type { Plan, TypedDockerfile } from '../dockerfile/index.js';
import type { RunNetwork } from '../exec/index.js';
import { openSnapshotter, startTarThread, type Snapshotter, type SnapshotterChoice } from '../snapshot/index.js';
import { startApp, type RunningApp } from './app.js';
import type { DevEvent, DevEventSink } from './events.js';
import { watchTree, type TreeWatcher } from './watcher.js';

export interface DevOptions {
  readonly store: string;
  readonly contextDir: string;
  /** The Dockerfile's path on disk (undefined when read from stdin: then it is not watched). */
  readonly dockerfilePath: string | undefined;
  /** Reads and plans the Dockerfile (again, after an edit); throws its parse errors. */
  readonly loadPlan: () => { typed: TypedDockerfile; plan: Plan };
  /** The ignore file in force, if any, and how to read it. */
  readonly ignoreFile: string | undefined;
  readonly loadIgnore: () => string[];
  readonly tags: readonly string[];
  readonly statCacheFile: string;
  readonly inputsFile: string;
  readonly snapshotter: SnapshotterChoice;
  readonly secrets: ReadonlyMap<string, Buffer>;
  readonly jobs: number | undefined;
  /** The network of a RUN without --network (default: the host's). */
  readonly network?: RunNetwork;
  readonly watch: boolean;
  /**
   * While watching, the build cache is kept within this many bytes beyond
   * the images (the oldest records go after a build, as `strata cache
   * prune --build --keep-storage`): every edit leaves a new version of
   * the layers it changed.
   */
  readonly keepStorageBytes?: number;
  readonly debounceMs: number;
  readonly run: { readonly command: string | undefined; readonly graceMs: number } | undefined;
  readonly onEvent: DevEventSink;
  /** Ctrl-C: stop watching, the build and the app, and return. */
  readonly signal: AbortSignal;
  /** Filled in by the loop: what a dashboard's keys call. */
  readonly controller?: DevController;
}

/** The loop's handles for an interactive front end (the dashboard's keys). */
export interface DevController {
  /** Builds now (cancelling a running build), optionally with --no-cache. */
  rebuild?: (noCache: boolean) => void;
  /** Pauses or resumes watching; returns whether it is now paused. */
  togglePause?: () => boolean;
}

const SHOWN_PATHS = 10;

interface RunningBuild {
  readonly number: number;
  readonly abort: AbortController;
  readonly done: Promise<BuildResult | undefined>;
}

/** Runs the loop; resolves with the exit status when it ends (Ctrl-C, or the one build without watching). */
export async function runDev(o: DevOptions): Promise<number> {
  const emit = o.onEvent;
  // Every rebuild after an edit under a big COPY writes that layer's tar on the tar thread, which then costs nothing to start.
  if (o.watch) startTarThread();
  let { typed, plan } = o.loadPlan();
  let patterns = o.loadIgnore();
  const onProgress = (p: HashProgress) => emit({ type: 'hashing', ...p });
  let ctx: HashedContext = await hashContext(o.contextDir, { ignorePatterns: patterns, statCacheFile: o.statCacheFile, onProgress });
  emit({ type: 'dev-start', context: o.contextDir, files: ctx.stats.files, digest: ctx.tree.digest.toString('hex'), watching: o.watch });

  const scratch = tempPath(o.store, 'dev');
  mkdirSync(scratch, { recursive: true });
  let appSnapshots: Snapshotter | undefined;
  let app: RunningApp | undefined;
  let buildNumber = 0;
  let running: RunningBuild | undefined;
  let lastStatus = 0;
  /** Context paths that changed while a build was running, applied to the context once it has stopped. */
  const pending = new Set<string>();
  /** Per stage, the first step (1-based index) the pending changes invalidate: the running build stops when it gets there. */
  let cutAt: Map<string, number> | undefined;
  /** How far the running build has come in each stage (the index of its last step-start). */
  const progress = new Map<string, number>();
  /** Runs once the running build has settled (set by the loop below, which owns the batch queue). */
  let afterBuild: (cancelled: boolean) => void = () => undefined;

  /** The exit status of the app last started (or of its failure to start, 1): what a run without --watch exits with. */
  let appStatus: Promise<number> | undefined;
  const restartApp = async (result: BuildResult) => {
    if (!o.run) return;
    if (app) {
      const old = app;
      app = undefined;
      emit({ type: 'app-exit', code: await old.stop(), stopped: true });
    }
    try {
      appSnapshots ??= await openSnapshotter(o.store, scratch, o.snapshotter);
      const started = await startApp({
        snapshots: appSnapshots, layers: result.layers, config: result.config, command: o.run.command, graceMs: o.run.graceMs,
        onOutput: (stream, line) => emit({ type: 'app-log', stream, line, time: Date.now() }),
      });
      app = started;
      appStatus = started.done.catch(() => 1);
      emit({ type: 'app-start', argv: started.argv });
      void started.done.then((code) => {
        if (app === started) {
          app = undefined;
          emit({ type: 'app-exit', code, stopped: false });
        }
      }, (error: unknown) => emit({ type: 'app-error', error }));
    } catch (error) {
      appStatus = Promise.resolve(1);
      emit({ type: 'app-error', error });
    }
  };

  /**
   * The paths of the last batch that needed no build. The same paths
   * changing again are taken in without a word: a file rewritten all the
   * time (a log; strata's own output sent into the context) would fill the
   * screen, and where the output is that file, feed itself for ever.
   */
  let quietPaths = new Set<string>();
  const startBuild = (cause: 'start' | 'change' | 'manual', noCache = false): RunningBuild => {
    quietPaths = new Set();
    const number = ++buildNumber;
    const abort = new AbortController();
    emit({ type: 'rebuild', number, cause });
    progress.clear();
    const started = Date.now();
    const onEvent = (e: DevEvent) => {
      emit(e);
      if (e.type !== 'step-start') return;
      progress.set(e.stage, e.index);
      // A change that only later steps read let the build go on; it stops where that change begins to matter.
      if (cutAt && (cutAt.get(e.stage) ?? Infinity) <= e.index) abort.abort();
    };
    const done = build({
      store: o.store, contextDir: o.contextDir, typed, plan, ignorePatterns: patterns, context: ctx, statCacheFile: o.statCacheFile,
      inputsFile: o.inputsFile, tags: o.tags, noCache, snapshotter: o.snapshotter, secrets: o.secrets, jobs: o.jobs, network: o.network,
      onEvent, signal: abort.signal,
    }).then(async (result) => {
      lastStatus = 0;
      emit({ type: 'build-done', number, digest: result.manifest.digest, seconds: (Date.now() - started) / 1000, executed: result.executed, cached: result.cached });
      await restartApp(result);
      if (o.watch && o.keepStorageBytes !== undefined) await trimBuildCache(o.store, o.keepStorageBytes, result, emit);
      return result;
    }, (error: unknown) => {
      // Told to stop, it ends with whatever the interrupted step threw: that is a cancellation, not a failure.
      if (abort.signal.aborted) emit({ type: 'build-cancelled', number });
      else {
        lastStatus = 1;
        emit({ type: 'build-failed', number, error });
      }
      return undefined;
    });
    const handle = { number, abort, done };
    void done.finally(() => {
      if (running === handle) running = undefined;
      afterBuild(abort.signal.aborted);
    });
    return handle;
  };

  /** Stops the running build, if any; resolves once it is gone. Returns whether one was running. */
  const cancelRunning = async (): Promise<boolean> => {
    const current = running;
    if (!current) return false;
    current.abort.abort();
    await current.done;
    return true;
  };

  running = startBuild('start');
  let watcher: TreeWatcher | undefined;
  try {
    if (!o.watch) {
      await running.done;
      // Without watching, a --run app runs in the foreground until it ends or Ctrl-C, and its exit status is
      // the command's, as with docker run (a Ctrl-C stops it and exits 0).
      if (lastStatus !== 0 || !appStatus) return lastStatus;
      const stopped = new Promise<undefined>((resolve) => o.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      return (await Promise.race([appStatus, stopped])) ?? 0;
    }

    // Batches are handled one at a time, in order: each sees the context the one before left.
    let queue = Promise.resolve();
    const onBatch = (paths: string[]) => {
      queue = queue.then(() => handleBatch(paths)).catch((error: unknown) => emit({ type: 'build-failed', number: buildNumber, error }));
    };
    const rel = (p: string) => path.relative(o.contextDir, p).split(path.sep).join('/');
    /** Applies the changes held back during a build, and `more`, to the context. */
    const applyPending = async (more: readonly string[]) => {
      const paths = [...new Set([...pending, ...more])];
      pending.clear();
      cutAt = undefined;
      return updateContext(ctx, paths, { selectors: contextReads(plan).map((r) => r.selector) });
    };
    afterBuild = (cancelled) => {
      if (!pending.size) {
        cutAt = undefined;
        return;
      }
      queue = queue.then(async () => {
        if (running || !pending.size) return;
        const update = await applyPending([]);
        // A build stopped at its cut must run again; one that finished saw nothing the changes touch unless a selector moved.
        if (cancelled || update.selectorsChanged.length) running = startBuild('change');
      }).catch((error: unknown) => emit({ type: 'build-failed', number: buildNumber, error }));
    };
    const handleBatch = async (paths: string[]) => {
      const dockerfileChanged = o.dockerfilePath !== undefined && paths.includes(path.resolve(o.dockerfilePath));
      const ignoreChanged = o.ignoreFile !== undefined && paths.includes(path.resolve(o.ignoreFile));
      const inContext = paths.filter((p) => !rel(p).startsWith('..'));
      const special = new Set([o.dockerfilePath, o.ignoreFile].filter((f): f is string => f !== undefined).map((f) => path.resolve(f)));
      const others = inContext.filter((p) => !special.has(p));
      const shown = others.map(rel).sort().slice(0, SHOWN_PATHS);
      const again = !dockerfileChanged && !ignoreChanged && !running && others.length > 0 && others.every((p) => quietPaths.has(p));
      if (again) {
        if ((await applyPending(inContext)).selectorsChanged.length === 0) return;
        emit({ type: 'change', paths: shown, count: others.length, dockerfile: false, ignoreFile: false });
        running = startBuild('change');
        return;
      }
      if (!dockerfileChanged && !ignoreChanged && !contentChanged(ctx, inContext)) {
        quietPaths = new Set(others);
        emit({ type: 'change-skipped', reason: 'unchanged', paths: shown, count: others.length });
        // Nothing to build, but the context learns the new stats (unless a build is reading it now).
        if (!running) await updateContext(ctx, inContext);
        else for (const p of inContext) pending.add(p);
        return;
      }
      if (dockerfileChanged) {
        try {
          ({ typed, plan } = o.loadPlan());
        } catch (error) {
          // A Dockerfile being edited is often broken for a moment: say so and keep the last good app.
          emit({ type: 'build-failed', number: buildNumber, error });
          return;
        }
      }
      emit({ type: 'change', paths: shown, count: others.length, dockerfile: dockerfileChanged, ignoreFile: ignoreChanged });
      if (running && !dockerfileChanged && !ignoreChanged) {
        // Let the running build go on while the steps it is at, and those before them, read nothing that changed.
        for (const p of others) pending.add(p);
        const cut = new Map<string, number>();
        for (const read of contextReads(plan)) {
          if ([...pending].some((p) => mayRead(read, rel(p)))) cut.set(read.stage, Math.min(cut.get(read.stage) ?? Infinity, read.index));
        }
        if ([...cut].some(([stage, index]) => (progress.get(stage) ?? 0) >= index)) running.abort.abort();
        else cutAt = cut;
        return; // afterBuild takes it from here
      }
      const interrupted = await cancelRunning();
      if (ignoreChanged) {
        patterns = o.loadIgnore();
        pending.clear();
        ctx = await hashContext(o.contextDir, { ignorePatterns: patterns, statCacheFile: o.statCacheFile, onProgress });
      } else if (inContext.length || pending.size) {
        const update = await applyPending(inContext);
        if (!dockerfileChanged && !interrupted && update.selectorsChanged.length === 0) {
          quietPaths = new Set(others);
          emit({ type: 'change-skipped', reason: 'unread', paths: shown, count: others.length });
          return;
        }
      }
      running = startBuild('change');
    };
    watcher = watchTree({
      root: o.contextDir,
      dirs: contextDirectories(ctx),
      extraFiles: [o.dockerfilePath, o.ignoreFile].filter((f): f is string => f !== undefined),
      matcher: () => ctx.matcher,
      debounceMs: o.debounceMs,
      onBatch,
      onError: (error) => emit({ type: 'build-failed', number: buildNumber, error }),
    });
    emit({ type: 'watch-ready', directories: watcher.watched() });
    let paused = false;
    const activeWatcher = watcher;
    if (o.controller) {
      o.controller.rebuild = (noCache) => {
        queue = queue.then(async () => {
          await cancelRunning();
          running = startBuild('manual', noCache);
        });
      };
      o.controller.togglePause = () => {
        paused = !paused;
        if (paused) activeWatcher.pause();
        else activeWatcher.resume();
        emit({ type: 'watch-paused', paused });
        return paused;
      };
    }
    await new Promise<void>((resolve) => {
      if (o.signal.aborted) resolve();
      o.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await queue;
    return 0;
  } finally {
    watcher?.close();
    await cancelRunning();
    // The next `strata build` or `strata dev` starts from what this loop knew.
    if (o.watch) persistStatCache(ctx, o.statCacheFile);
    if (app) {
      // Cleared first, as on a restart: the app's own exit is then not reported a second time.
      const last = app;
      app = undefined;
      emit({ type: 'app-exit', code: await last.stop(), stopped: true });
    }
    await appSnapshots?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}
