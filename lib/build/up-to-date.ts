/**
 * A build asked again with nothing changed. When the Dockerfile, the
 * options that decide the image, the base images, the context, strata
 * itself and the store's cache records for every step are all as they were
 * at the last build, that build would take each step from the cache and
 * name the very same image: make's "up to date", for Docker's cache. The
 * CLI asks this before it loads the build engine (lib/cli/quick.ts), and
 * then says what the build would say: every step CACHED, the image named.
 *
 * What is compared, and why it is enough:
 * - the question (BuildQuestion): the Dockerfile's bytes, the ignore
 *   patterns, the resolved build args, target, labels, network,
 *   snapshotter and SOURCE_DATE_EPOCH, and strata's own build;
 * - the context: its stat cache file is still the one the build left
 *   (statCacheId) and every entry lstats as it lists it (checkContext);
 * - each base image name (FROM, COPY --from, RUN --mount from=) still
 *   names the manifest it did;
 * - each step's cache record still names the layer it did (a prune or a
 *   --no-cache build since makes this false), and the image's blobs and
 *   each -t name are still there.
 * A Dockerfile that fetches (ADD of a URL or a git repository) is never
 * recorded: its sources can change without any of the above changing.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJSONOf, hasBlob, readCacheRecord, statCachePath, upToDatePath, writeFileAtomic, type Descriptor } from '../cache/index.js';
import { checkContext, type ContextCheck } from '../context/index.js';
import type { Plan } from '../dockerfile/index.js';
import { listImages, normalizeRef, readManifest, type Manifest } from '../image/index.js';
import type { BuildEvent, EventSink } from './events.js';
import { isRemoteSource } from './remote.js';
import type { BuildResult } from './build.js';

/** Everything besides the context and the store that decides what a build makes. */
export interface BuildQuestion {
  /** Absolute paths: a record answers for one Dockerfile in one context. */
  readonly dockerfile: string;
  readonly contextDir: string;
  readonly dockerfileBytes: Buffer;
  readonly ignorePatterns: readonly string[];
  /** After `--build-arg NAME` took its value from the environment. */
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly target: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly network: string;
  readonly snapshotter: string;
  readonly created: string | undefined;
}

type StartEvent = Extract<BuildEvent, { type: 'build-start' }>;
type StepStart = Extract<BuildEvent, { type: 'step-start' }>;

export interface UpToDateRecord {
  /** questionText of the question it answers. */
  readonly question: string;
  /** The stat cache that described the context as the build read it: its file, relative to the store, and its id (statCacheId). */
  readonly statCacheFile: string;
  readonly contextCache: string;
  readonly context: { readonly files: number; readonly bytes: number };
  /** Each image name the build read, and the manifest it named. */
  readonly bases: readonly (readonly [string, string])[];
  readonly manifest: Descriptor;
  /** The image's config and layers. */
  readonly blobs: readonly string[];
  /** Every filesystem step's cache key, and the layer its record named (null: none). */
  readonly keys: readonly (readonly [string, string | null])[];
  readonly start: Omit<StartEvent, 'type' | 'file'>;
  readonly steps: readonly Omit<StepStart, 'type' | 'time'>[];
}

/**
 * strata's own build: the bundle the CLI runs and the modules tsc wrote.
 * A record made by another build of strata answers nothing (its keys or
 * its image may be made differently).
 */
function engineIdentity(): string {
  const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return ['lib/strata/main.cjs', '.tsbuildinfo'].map((f) => {
    const st = statSync(path.join(dist, f), { throwIfNoEntry: false, bigint: true });
    return st ? `${st.size}:${st.mtimeNs}` : '-';
  }).join('/');
}

/** The question as one string, compared whole: a Dockerfile is a few kilobytes, and hashing it would load node:crypto. */
export function questionText(q: BuildQuestion): string {
  const { dockerfileBytes, ...rest } = q;
  return canonicalJSONOf({ ...rest, dockerfileBytes: dockerfileBytes.toString('base64'), engine: engineIdentity() });
}

function blobsOf(manifest: Manifest): string[] {
  return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
}

function fetchesSources(plan: Plan): boolean {
  return plan.stages.some((stage) => stage.needed && stage.steps.some((step) => step.instruction === 'ADD' && step.args.slice(0, -1).some(isRemoteSource)));
}

/**
 * The record of a build that just succeeded, from its result and the
 * events it emitted; undefined when it cannot answer a later build (it
 * fetches, it hashed no context of its own, its context had warnings).
 */
export function upToDateRecord(
  store: string, question: BuildQuestion, plan: Plan, bases: readonly (readonly [string, string])[], result: BuildResult, events: readonly BuildEvent[],
): UpToDateRecord | undefined {
  const start = events.find((e): e is StartEvent => e.type === 'build-start');
  const context = events.find((e): e is Extract<BuildEvent, { type: 'context' }> => e.type === 'context');
  if (!start || !context || context.warnings.length || !result.contextCacheId || fetchesSources(plan)) return undefined;
  const { type: _s, file: _f, ...startFields } = start;
  return {
    question: questionText(question),
    statCacheFile: path.relative(store, statCachePath(store, question.contextDir)),
    contextCache: result.contextCacheId,
    context: { files: context.files, bytes: context.bytes },
    bases,
    manifest: result.manifest,
    blobs: blobsOf(readManifest(store, result.manifest)),
    keys: result.entries.map((e) => [e.key, e.record.layer?.digest ?? null] as const),
    start: startFields,
    steps: events.filter((e): e is StepStart => e.type === 'step-start').map(({ type: _t, time: _time, ...step }) => step),
  };
}

/** Keeps the record for the next build of the same Dockerfile and context, unless the same one is there already (a build from the cache writes nothing). */
export function saveUpToDate(store: string, question: BuildQuestion, record: UpToDateRecord): void {
  const file = upToDatePath(store, question.contextDir, question.dockerfile);
  const text = JSON.stringify(record);
  let old: string | undefined;
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    old = undefined;
  }
  if (old !== text) writeFileAtomic(file, text);
}

function readRecord(file: string): UpToDateRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as UpToDateRecord;
  } catch {
    return undefined;
  }
}

/**
 * The record of the last build, if it answers this question now (see the
 * top of this file for all that is checked); else, when it got as far as
 * the context, what that check found, for the build to start from. Never
 * throws: any doubt is a build.
 */
export function upToDate(store: string, question: BuildQuestion, tags: readonly string[]): { record?: UpToDateRecord; contextCheck?: ContextCheck } {
  try {
    const record = readRecord(upToDatePath(store, question.contextDir, question.dockerfile));
    if (!record || record.question !== questionText(question)) return {};
    const images = new Map(listImages(store).map((i) => [i.name, i.manifest.digest]));
    const named = (ref: string) => images.get(normalizeRef(ref));
    if (!record.bases.every(([ref, digest]) => named(ref) === digest)) return {};
    if (!tags.every((tag) => named(tag) === record.manifest.digest)) return {};
    if (!record.keys.every(([key, layer]) => {
      const found = readCacheRecord(store, key);
      return found !== undefined && (found.layer?.digest ?? null) === layer;
    })) return {};
    if (![record.manifest.digest, ...record.blobs].every((digest) => hasBlob(store, digest))) return {};
    const contextCheck = checkContext(question.contextDir, path.join(store, record.statCacheFile), record.contextCache);
    return contextCheck?.changed.length === 0 ? { record } : { contextCheck };
  } catch {
    return {};
  }
}

/** What the build would have emitted: every step started and CACHED, then the image. */
export function replayUpToDate(record: UpToDateRecord, options: { file: string; tags: readonly string[]; startedAt: number; onEvent: EventSink }): void {
  const { onEvent } = options;
  onEvent({ type: 'build-start', file: options.file, ...record.start });
  onEvent({ type: 'context', ...record.context, cacheHits: record.context.files, seconds: (Date.now() - options.startedAt) / 1000, warnings: [] });
  for (const step of record.steps) {
    const time = Date.now();
    onEvent({ type: 'step-start', ...step, time });
    onEvent({ type: 'step-cached', id: step.id, time });
    onEvent({ type: 'step-done', id: step.id, seconds: 0, execSeconds: 0, execStartedAt: 0, cached: true, time });
  }
  onEvent({ type: 'image', digest: record.manifest.digest, config: '', tags: options.tags, seconds: (Date.now() - options.startedAt) / 1000 });
}
