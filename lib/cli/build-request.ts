/**
 * `strata build`'s command line, read and checked in one place: by the
 * build, and by the answer given without it when nothing changed
 * (quick.ts), which must refuse exactly what the build refuses.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BuildQuestion } from '../build/index.js';
import { resolveStoreDir } from '../cache/index.js';
import { InputError, UsageError } from '../errors/index.js';
import { RUN_NETWORKS, type RunNetwork } from '../exec/index.js';
import { normalizeRef, STDOUT, type SaveCompression, type SaveFormat } from '../image/index.js';
import { SNAPSHOTTER_CHOICES, type SnapshotterChoice } from '../snapshot/index.js';
import { jsonReporter, plainReporter, ttyReporter, writeErr, writeOut, type Reporter, type TtyReporter } from '../ui/index.js';
import { BUILD_OPTIONS } from './early.js';
import { checkPlatform, keepStorage, oneOf, parseBuildArgs, parseFields, parseLabels, parseSecrets, sourceDateEpoch, type DockerfileInput } from './inputs.js';
import type { Session } from './session.js';

const OUTPUT_HINT = 'use --output type=oci,dest=DIR|FILE.tar|-, type=docker,dest=FILE.tar|- (either with compression=gzip), type=local,dest=DIR (also -o DIR) or type=tar,dest=FILE|- (also -o -)';

/**
 * --output `type=oci|docker|local|tar,dest=PATH` (`-`: standard output),
 * with `compression=gzip|uncompressed` for oci and docker, or a bare DIR
 * (type=local) or - (type=tar), as buildx takes them.
 */
function parseOutput(spec: string | undefined): BuildRequest['output'] {
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

export interface CacheSpec {
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

export interface BuildRequest {
  readonly context: string;
  readonly file: string | undefined;
  readonly target: string | undefined;
  /** As given: `NAME=VALUE`, or `NAME` for the environment's value. */
  readonly buildArgs: readonly string[] | undefined;
  readonly tags: readonly string[];
  readonly quiet: boolean;
  readonly progress: 'auto' | 'plain' | 'tty' | 'json';
  readonly explain: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly output: { readonly format: SaveFormat; readonly dest: string; readonly compression: SaveCompression } | undefined;
  readonly secrets: Map<string, Buffer>;
  readonly jobs: number | undefined;
  readonly network: RunNetwork;
  readonly snapshotter: SnapshotterChoice;
  readonly store: string;
  readonly keepStorageBytes: number;
  readonly insecure: readonly string[];
  readonly cacheTo: readonly CacheSpec[];
  readonly cacheFrom: readonly CacheSpec[];
  readonly noCache: boolean;
  readonly pull: boolean;
  readonly push: boolean;
  readonly iidfile: string | undefined;
  /** SOURCE_DATE_EPOCH as an ISO time, if set. */
  readonly created: string | undefined;
}

export function parseBuildRequest(argv: readonly string[]): BuildRequest {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: BUILD_OPTIONS });
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
  return {
    context: positionals[0]!,
    file: values.file,
    target: values.target,
    buildArgs: values['build-arg'],
    tags,
    quiet,
    progress,
    explain: values.explain === true,
    labels,
    output,
    secrets,
    jobs,
    network,
    snapshotter,
    store,
    keepStorageBytes: keepStorage(store, undefined),
    insecure: values['insecure-registry'] ?? [],
    cacheTo: (values['cache-to'] ?? []).map((spec) => parseCacheSpec('--cache-to', spec)),
    cacheFrom: (values['cache-from'] ?? []).map((spec) => parseCacheSpec('--cache-from', spec)),
    noCache: values['no-cache'] === true,
    pull: values.pull === true,
    push: values.push === true,
    iidfile: values.iidfile,
    created: sourceDateEpoch(parseBuildArgs(values['build-arg'])),
  };
}

/**
 * Whether a build like this one may be answered by the last one
 * (lib/build/up-to-date.ts): it names its image in the store and nothing
 * more, reads no other cache, and is not told to pull or rebuild.
 */
export function answerable(request: BuildRequest): boolean {
  return !request.noCache && !request.pull && !request.push && !request.output && !request.cacheTo.length && !request.cacheFrom.length && request.file !== '-';
}

/** What decides this build's image besides the context and the store. */
export function buildQuestion(request: BuildRequest, input: DockerfileInput & { path: string }, ignorePatterns: readonly string[]): BuildQuestion {
  return {
    dockerfile: input.path,
    contextDir: input.contextDir,
    dockerfileBytes: input.bytes,
    ignorePatterns,
    buildArgs: parseBuildArgs(request.buildArgs),
    target: request.target,
    labels: request.labels,
    network: request.network,
    snapshotter: request.snapshotter,
    created: request.created,
  };
}

/** Where the build's progress goes: nowhere (-q), JSON lines on stdout, the terminal's live view, or plain lines. */
export function buildReporter(request: BuildRequest, session: Session): { report: Reporter; live: TtyReporter | undefined } {
  const { quiet, progress } = request;
  const tty = !quiet && (progress === 'tty' || (progress === 'auto' && process.stderr.isTTY && process.env.TERM !== 'dumb'));
  const live = tty ? ttyReporter(process.stderr, session.err, Date.now, { explain: request.explain }) : undefined;
  const report: Reporter = quiet ? () => undefined : progress === 'json' ? jsonReporter(writeOut) : live ? live.report : plainReporter(writeErr, { explain: request.explain });
  return { report, live };
}

/** --iidfile: the image's digest alone, as docker build writes its image ID. */
export function writeIidFile(file: string, digest: string): void {
  try {
    writeFileSync(file, digest);
  } catch (e) {
    throw new InputError(`cannot write the image digest there: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `--iidfile ${file}`, {
      hint: 'the image is built and in the store; name a file in a writable directory',
    });
  }
}
