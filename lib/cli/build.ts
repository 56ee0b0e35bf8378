/** `strata build`: a Dockerfile and a context into an image. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, trimBuildCache } from '../build/index.js';
import { exportCacheLocal, openLocalCache, resolveStoreDir, treesToExport, statCachePath, stepInputsPath, type CacheEntry, type CacheRecord } from '../cache/index.js';
import { closeHashPool, findIgnoreFile, loadIgnoreFile } from '../context/index.js';
import { BuildError, ImageError, InputError, UsageError } from '../errors/index.js';
import { exportCacheRegistry, exportImage, findImage, normalizeRef, openRegistryCache, pullImage, pushImage, STDOUT, type SaveCompression, type SaveFormat } from '../image/index.js';
import { RUN_NETWORKS } from '../exec/index.js';
import { SNAPSHOTTER_CHOICES } from '../snapshot/index.js';
import { jsonReporter, plainReporter, ttyReporter, writeErr, writeOut, type Reporter } from '../ui/index.js';
import type { Plan, StageBase } from '../dockerfile/index.js';
import { BUILD_OPTIONS } from './early.js';
import { checkPlatform, keepStorage, loadPlan, oneOf, parseBuildArgs, parseFields, parseLabels, parseSecrets, sourceDateEpoch } from './inputs.js';
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

const OUTPUT_HINT = 'use --output type=oci,dest=DIR|FILE.tar|-, type=docker,dest=FILE.tar|- (either with compression=gzip), type=local,dest=DIR (also -o DIR) or type=tar,dest=FILE|- (also -o -)';

/**
 * --output `type=oci|docker|local|tar,dest=PATH` (`-`: standard output),
 * with `compression=gzip|uncompressed` for oci and docker, or a bare DIR
 * (type=local) or - (type=tar), as buildx takes them.
 */
function parseOutput(spec: string | undefined): { format: SaveFormat; dest: string; compression: SaveCompression } | undefined {
  if (!spec) return undefined;
  if (!spec.includes('=')) return { format: spec === STDOUT ? 'tar' : 'local', dest: spec, compression: 'uncompressed' };
  const fields = parseFields(spec);
  const type = fields.get('type') ?? 'oci';
  const dest = fields.get('dest');
  const compression = fields.get('compression') ?? 'uncompressed';
  if (type !== 'oci' && type !== 'docker' && type !== 'local' && type !== 'tar') throw new UsageError(`unsupported --output type "${type}"`, { hint: OUTPUT_HINT });
  if (!dest) throw new UsageError('--output needs dest=PATH', { hint: OUTPUT_HINT });
  if (compression !== 'gzip' && compression !== 'uncompressed') throw new UsageError(`unsupported --output compression "${compression}"`, { hint: 'write compression=gzip, or leave it out for the layers as the store keeps them' });
  return { format: type, dest, compression };
}

interface CacheSpec {
  readonly type: 'local' | 'registry';
  /** The directory (local) or the reference (registry). */
  readonly location: string;
  readonly mode: 'min' | 'max';
}

/** `type=local,dest=DIR|src=DIR` or `type=registry,ref=REF`, with `mode=min|max` for --cache-to; a bare REF is type=registry, as buildx takes it. */
function parseCacheSpec(flag: string, spec: string): CacheSpec {
  if (!spec.includes('=')) return { type: 'registry', location: spec, mode: 'min' };
  const fields = parseFields(spec);
  const type = fields.get('type') ?? 'local';
  const location = type === 'registry' ? fields.get('ref') : fields.get(flag === '--cache-to' ? 'dest' : 'src');
  const mode = fields.get('mode') ?? 'min';
  if ((type !== 'local' && type !== 'registry') || !location || (mode !== 'min' && mode !== 'max')) {
    throw new UsageError(`invalid ${flag} ${spec}`, { hint: flag === '--cache-to' ? 'write --cache-to type=local,dest=DIR[,mode=min|max] or type=registry,ref=REGISTRY/NAME:TAG[,mode=...]' : 'write --cache-from type=local,src=DIR or type=registry,ref=REGISTRY/NAME:TAG' });
  }
  return { type, location, mode };
}

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

/** An image the build reads, where it is first named: a stage's base, or COPY --from / RUN --mount from= an image. */
interface ImageUse {
  readonly ref: string;
  readonly what: string;
  readonly line: number;
  readonly platform: string | undefined;
}

function imagesUsed(plan: Plan): ImageUse[] {
  const uses = new Map<string, ImageUse>();
  const use = (u: ImageUse) => {
    if (!uses.has(u.ref)) uses.set(u.ref, u);
  };
  for (const stage of plan.stages) {
    if (!stage.needed) continue;
    if (typeof stage.base === 'string' && stage.base !== 'scratch') use({ ref: stage.base, what: 'base image', line: stage.line, platform: stage.platform });
    for (const step of stage.steps) {
      const what = step.instruction === 'RUN' ? 'RUN --mount image' : `${step.instruction} --from image`;
      for (const ref of step.imageRefs) use({ ref, what, line: step.line, platform: stage.platform });
    }
  }
  return [...uses.values()];
}

/**
 * The images the plan reads that the store lacks (all of them with
 * --pull, as docker build --pull), pulled before the build. Returns
 * whether any was.
 */
async function pullImages(store: string, plan: Plan, options: { always: boolean; insecure: readonly string[]; report: Reporter }): Promise<boolean> {
  let any = false;
  for (const { ref, what, line, platform } of imagesUsed(plan)) {
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

/** --iidfile: the image's digest alone, as docker build writes its image ID. */
function writeIidFile(file: string, digest: string): void {
  try {
    writeFileSync(file, digest);
  } catch (e) {
    throw new InputError(`cannot write the image digest there: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `--iidfile ${file}`, {
      hint: 'the image is built and in the store; name a file in a writable directory',
    });
  }
}

export async function buildCommand(argv: string[], session: Session): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: BUILD_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('build needs exactly one CONTEXT', { hint: 'strata build -t app .' });
  const quiet = values.quiet === true;
  if (quiet && values.progress !== undefined) throw new UsageError('-q and --progress do not go together', { hint: '-q shows no progress at all; leave one out' });
  const progress = oneOf('--progress', values.progress, ['auto', 'plain', 'tty', 'json'] as const, 'auto');
  checkPlatform(values.platform);
  const labels = parseLabels(values.label);
  const output = parseOutput(values.output);
  if (output?.dest === STDOUT && progress === 'json') throw new UsageError('--output dest=- and --progress json both write to standard output', { hint: 'leave one of them out, or write the output to a file' });
  const secrets = parseSecrets(values.secret ?? []);
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new UsageError(`invalid --jobs "${values.jobs}"`, { hint: 'give a whole number of at least 1, e.g. --jobs 4' });
  const network = oneOf('--network', values.network, RUN_NETWORKS, 'default');
  const snapshotter = oneOf('--snapshotter', values.snapshotter ?? process.env.STRATA_SNAPSHOTTER, SNAPSHOTTER_CHOICES, 'auto');
  const tags = (values.tag ?? []).map(normalizeRef);
  const store = resolveStoreDir(values.store);
  const keepStorageBytes = keepStorage(store, undefined);
  const insecure = values['insecure-registry'] ?? [];
  const cacheTo = (values['cache-to'] ?? []).map((spec) => parseCacheSpec('--cache-to', spec));
  // The imported caches' keys are asked for first (a registry's round trips), while the Dockerfile is read and planned.
  const opening = (values['cache-from'] ?? []).map((spec) => parseCacheSpec('--cache-from', spec)).map((c) =>
    c.type === 'local' ? Promise.resolve().then(() => openLocalCache(c.location)) : openRegistryCache(c.location, { insecure }));
  for (const o of opening) o.catch(() => undefined); // (awaited below; a plan error must not leave it unhandled)
  const loaded = loadPlan(session, { context: positionals[0], file: values.file, target: values.target, buildArgs: values['build-arg'], store });
  const { input, typed } = loaded;
  const cacheFrom = await Promise.all(opening);
  const ignoreFile = findIgnoreFile(input.contextDir, input.path);
  const tty = !quiet && (progress === 'tty' || (progress === 'auto' && process.stderr.isTTY && process.env.TERM !== 'dumb'));
  const explain = values.explain === true;
  const live = tty ? ttyReporter(process.stderr, session.err, Date.now, { explain }) : undefined;
  const report: Reporter = quiet ? () => undefined : progress === 'json' ? jsonReporter(writeOut) : live ? live.report : plainReporter(writeErr, { explain });
  let plan: Plan;
  try {
    plan = (await pullImages(store, loaded.plan, { always: values.pull === true, insecure, report })) ? loaded.replan() : loaded.plan;
  } catch (e) {
    live?.close();
    throw e;
  }
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
      ignorePatterns: ignoreFile ? loadIgnoreFile(ignoreFile) : [],
      statCacheFile: statCachePath(store, input.contextDir),
      inputsFile: stepInputsPath(store, input.contextDir, input.path ?? 'stdin'),
      tags,
      noCache: values['no-cache'] === true,
      snapshotter,
      secrets,
      jobs,
      network,
      labels,
      cacheFrom,
      // An export carries every step's layer: then every imported hit's layer is brought in, needed or not.
      importAllHits: cacheTo.length > 0,
      onEvent: report,
      signal: abort.signal,
      created: sourceDateEpoch(parseBuildArgs(values['build-arg'])),
    });
    if (output) {
      await exportImage(store, tags[0] ?? `strata-build:${result.manifest.digest.slice(7, 19)}`, result.manifest, output.dest === STDOUT ? STDOUT : path.resolve(output.dest), output.format, output.compression);
      report({ type: 'output', format: output.format, dest: output.dest });
    }
    for (const c of cacheTo) {
      const entries = cacheEntriesFor(plan, result.entries, c.mode);
      const trees = await treesToExport(store, result.trees);
      if (c.type === 'local') await exportCacheLocal(store, c.location, entries, trees);
      else await exportCacheRegistry(store, c.location, entries, trees, { insecure });
      report({ type: 'output', format: `cache (${c.type}, mode=${c.mode}, ${entries.length} steps)`, dest: c.location });
    }
    if (values.push) {
      if (!tags.length) throw new UsageError('--push needs -t REGISTRY/NAME:TAG', { hint: 'strata build --push -t localhost:5000/app:1 .' });
      for (const tag of tags) {
        const digest = await pushImage(store, tag, tag, { insecure, onBlob: (p) => report({ type: 'push', ref: tag, ...p }) });
        report({ type: 'output', format: 'registry', dest: `${tag}@${digest}` });
      }
    }
    await trimBuildCache(store, keepStorageBytes, result, report);
    live?.close(); // the last frame before the digest, or the frame would be redrawn over it
    if (values.iidfile !== undefined) writeIidFile(values.iidfile, result.manifest.digest);
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
