/** `strata build`: a Dockerfile and a context into an image. */
import path from 'node:path';
import { build, saveUpToDate, trimBuildCache, upToDateRecord, type BuildEvent, type BuildQuestion, type BuildResult } from '../build/index.js';
import { exportCacheLocal, openLocalCache, treesToExport, statCachePath, stepInputsPath, type CacheEntry, type CacheRecord } from '../cache/index.js';
import { closeHashPool, findIgnoreFile, loadIgnoreFile } from '../context/index.js';
import { BuildError, ImageError, UsageError } from '../errors/index.js';
import { exportCacheRegistry, exportImage, findImage, normalizeRef, openRegistryCache, pullImage, pushImage, STDOUT } from '../image/index.js';
import { writeOut, type Reporter } from '../ui/index.js';
import { imagesRead, type Plan, type StageBase } from '../dockerfile/index.js';
import { answerable, buildQuestion, buildReporter, parseBuildRequest, writeIidFile } from './build-request.js';
import { loadPlan } from './inputs.js';
import type { Session } from './session.js';

export const buildUsage = `usage: strata build [-f FILE] [-t NAME]... [--build-arg K=V]... [--no-cache] [--target STAGE]
                    [--progress auto|plain|tty|json] [--output type=oci|docker|local|tar,dest=PATH|-]
                    [--secret id=ID,src=FILE|env=VAR]... [--jobs N] [--network default|none|host] [--explain]
                    [--label K=V]... [--iidfile FILE] [-q] [--platform HOST-PLATFORM]
                    [--pull] [--push] [--insecure-registry HOST[:PORT]]...
                    [--cache-to type=local,dest=DIR|type=registry,ref=REF[,mode=min|max]]...
                    [--cache-from type=local,src=DIR|type=registry,ref=REF|REF]...
                    [--snapshotter auto|overlay|copy] [--store DIR] CONTEXT

Builds the image: every stage the target needs, each filesystem step from
the cache when its key was seen before. -t names the result in the store;
--output also writes it as an OCI layout (a directory, or PATH.tar) or a
docker save archive (dest=- to standard output, e.g. | docker load), or
its files into a directory (type=local, or -o DIR) or one tar of them
(type=tar, or -o - for standard output). --secret makes a value available to RUN
--mount=type=secret,id=ID without it entering the image, the cache or the
output; --jobs bounds the RUN commands running at once (default: cores);
--network is the network of every RUN that sets none (none: loopback only).
--label sets a label on the image (over the Dockerfile's). The image's
digest goes to stdout, and with --iidfile to FILE too; -q prints nothing
else. --platform takes only this machine's platform (no emulation).
An image the store lacks (a base, COPY --from=IMAGE) is pulled (--pull
pulls them all again);
--push pushes each -t name to its registry after the build.
--cache-to exports the build cache (mode=min: the final image's steps;
max: every stage's) to a directory or a registry; --cache-from imports one
lazily (a layer is fetched only when its step hits).
--explain says, for the first step of each stage that missed the cache,
what changed since the last build (files, a build arg, the line, the base).
--snapshotter (default $STRATA_SNAPSHOTTER, else auto)
picks how RUN gets its root filesystem: overlay mounts the stored layers
(root only), copy applies them into a directory; auto is overlay where it
can mount.`;

/** What --cache-to carries: mode=min the steps whose layers are in the final image, mode=max every step built. */
function cacheEntriesFor(plan: Plan, entries: readonly { stage: number; key: string; record: CacheRecord }[], mode: 'min' | 'max'): CacheEntry[] {
  const inImage = new Set<number>();
  for (let at: number | undefined = plan.targetIndex; at !== undefined; ) {
    inImage.add(at);
    const base: StageBase = plan.stages[at]!.base;
    at = typeof base === 'object' ? base.stage : undefined;
  }
  return entries.filter((e) => mode === 'max' || inImage.has(e.stage)).map(({ key, record }) => ({ key, record }));
}

/**
 * The images the plan reads that the store lacks (all of them with
 * --pull, as docker build --pull), pulled before the build. Returns
 * whether any was.
 */
async function pullImages(store: string, plan: Plan, options: { always: boolean; insecure: readonly string[]; report: Reporter }): Promise<boolean> {
  let any = false;
  for (const { ref, what, line, platform } of imagesRead(plan)) {
    let local;
    try {
      local = findImage(store, ref);
    } catch (e) {
      // Not a reference at all (FROM Busybox): said at its line.
      if (e instanceof ImageError) throw new BuildError(`${what} ${ref}: ${e.message}`, { file: plan.file, line }, { hint: e.hint });
      throw e;
    }
    if (local && !options.always) continue;
    try {
      await pullImage(store, ref, normalizeRef(ref), { insecure: options.insecure, platform, onBlob: (p) => options.report({ type: 'pull', ref, ...p }) });
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      throw new BuildError(`${what} ${ref} ${local ? 'could not be pulled again (--pull)' : 'is not in the store and could not be pulled'}: ${e.message}`, { file: plan.file, line }, {
        hint: local
          ? `build without --pull to use the one in the store${e.hint ? `, or: ${e.hint}` : ''}`
          : `import it (strata image import ROOTFS --tag ${ref}) or make its registry reachable${e.hint ? `: ${e.hint}` : ''}`,
      });
    }
    any = true;
  }
  return any;
}

/** Each image name the plan reads and the manifest it names now (undefined when one names nothing). */
function namedManifests(store: string, plan: Plan): [string, string][] | undefined {
  const named = imagesRead(plan).map(({ ref }) => [ref, findImage(store, ref)?.manifest.digest] as const);
  return named.every((n): n is readonly [string, string] => n[1] !== undefined) ? named.map(([ref, digest]) => [ref, digest]) : undefined;
}

/**
 * Keeps what the next build of the same question needs to answer without
 * building (lib/build/up-to-date.ts). Only a speed-up: a store that cannot
 * take it costs the next build its shortcut, never this build its image.
 */
function rememberAnswer(store: string, question: BuildQuestion, plan: Plan, bases: [string, string][] | undefined, result: BuildResult, emitted: readonly BuildEvent[]): void {
  try {
    const record = bases && upToDateRecord(store, question, plan, bases, result, emitted);
    if (record) saveUpToDate(store, question, record);
  } catch {
    // (see above)
  }
}

export async function buildCommand(argv: string[], session: Session): Promise<number> {
  const request = parseBuildRequest(argv);
  const { store, tags, insecure, progress, output } = request;
  // The imported caches' keys are asked for first (a registry's round trips), while the Dockerfile is read and planned.
  const opening = request.cacheFrom.map((c) =>
    c.type === 'local' ? Promise.resolve().then(() => openLocalCache(c.location)) : openRegistryCache(c.location, { insecure }));
  for (const o of opening) o.catch(() => undefined); // (awaited below; a plan error must not leave it unhandled)
  const loaded = loadPlan(session, { context: request.context, file: request.file, target: request.target, buildArgs: request.buildArgs, store });
  const { input, typed } = loaded;
  const cacheFrom = await Promise.all(opening);
  const ignoreFile = findIgnoreFile(input.contextDir, input.path);
  const ignorePatterns = ignoreFile ? loadIgnoreFile(ignoreFile) : [];
  const { report, live } = buildReporter(request, session);
  let plan: Plan;
  try {
    plan = (await pullImages(store, loaded.plan, { always: request.pull, insecure, report })) ? loaded.replan() : loaded.plan;
  } catch (e) {
    live?.close();
    throw e;
  }
  // What the next build asks before it loads the engine: the names read, as they stood when this one began.
  const answers = answerable(request) && input.path !== undefined ? { question: buildQuestion(request, { ...input, path: input.path }, ignorePatterns), bases: namedManifests(store, plan) } : undefined;
  const emitted: BuildEvent[] = [];
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await build({
      store,
      contextDir: input.contextDir,
      typed,
      plan,
      ignorePatterns,
      statCacheFile: statCachePath(store, input.contextDir),
      inputsFile: stepInputsPath(store, input.contextDir, input.path ?? 'stdin'),
      tags,
      noCache: request.noCache,
      snapshotter: request.snapshotter,
      secrets: request.secrets,
      jobs: request.jobs,
      network: request.network,
      labels: request.labels,
      cacheFrom,
      // An export carries every step's layer: then every imported hit's layer is brought in, needed or not.
      importAllHits: request.cacheTo.length > 0,
      onEvent: answers ? (e) => {
        if (e.type === 'build-start' || e.type === 'context' || e.type === 'step-start') emitted.push(e);
        report(e);
      } : report,
      signal: abort.signal,
      created: request.created,
    });
    if (output) {
      await exportImage(store, tags[0] ?? `strata-build:${result.manifest.digest.slice(7, 19)}`, result.manifest, output.dest === STDOUT ? STDOUT : path.resolve(output.dest), output.format, output.compression);
      report({ type: 'output', format: output.format, dest: output.dest });
    }
    for (const c of request.cacheTo) {
      const entries = cacheEntriesFor(plan, result.entries, c.mode);
      const trees = await treesToExport(store, result.trees);
      if (c.type === 'local') await exportCacheLocal(store, c.location, entries, trees);
      else await exportCacheRegistry(store, c.location, entries, trees, { insecure });
      report({ type: 'output', format: `cache (${c.type}, mode=${c.mode}, ${entries.length} steps)`, dest: c.location });
    }
    if (request.push) {
      if (!tags.length) throw new UsageError('--push needs -t REGISTRY/NAME:TAG', { hint: 'strata build --push -t localhost:5000/app:1 .' });
      for (const tag of tags) {
        const digest = await pushImage(store, tag, tag, { insecure, onBlob: (p) => report({ type: 'push', ref: tag, ...p }) });
        report({ type: 'output', format: 'registry', dest: `${tag}@${digest}` });
      }
    }
    await trimBuildCache(store, request.keepStorageBytes, result, report);
    if (answers) rememberAnswer(store, answers.question, plan, answers.bases, result, emitted);
    live?.close(); // the last frame before the digest, or the frame would be redrawn over it
    if (request.iidfile !== undefined) writeIidFile(request.iidfile, result.manifest.digest);
    // (Standard output may carry the image itself.)
    if (progress !== 'json' && output?.dest !== STDOUT) writeOut(result.manifest.digest);
    return 0;
  } finally {
    live?.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await closeHashPool();
  }
}
