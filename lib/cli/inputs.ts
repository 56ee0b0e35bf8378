/** Finding and reading what the user named on the command line. */
import { readFileSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { formatPlatform, hostPlatform, loadDockerfile, parseByteSize, planBuild, type BaseImageFacts, type Plan, type TypedDockerfile } from '../dockerfile/index.js';
import { ImageError, InputError, UsageError } from '../errors/index.js';
import { findImage, readConfig, readManifest } from '../image/index.js';
import type { Session } from './session.js';

export interface DockerfileInput {
  readonly bytes: Buffer;
  /** How the file is named in messages: relative to the cwd, or "-" for stdin. */
  readonly displayName: string;
  /** Absolute path, or undefined for stdin. */
  readonly path: string | undefined;
  readonly contextDir: string;
}

function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch (e) {
    throw new InputError('cannot read the Dockerfile from standard input', '-', { cause: e, hint: 'pipe a Dockerfile in: -f - CONTEXT < Dockerfile' });
  }
}

export function readDockerfileInput(contextArg: string | undefined, fileArg: string | undefined): DockerfileInput {
  if (contextArg === '-') {
    throw new InputError('a build context from standard input (docker build -) is not read', '-', {
      hint: 'name the context directory, with the Dockerfile from standard input if you like: -f - DIR < Dockerfile (a context tar: unpack it first)',
    });
  }
  const contextDir = path.resolve(contextArg ?? '.');
  let isDir = false;
  try {
    isDir = statSync(contextDir).isDirectory();
  } catch {
    throw new InputError('build context does not exist', contextArg ?? '.', { hint: 'name the folder that holds your sources (the build context), e.g. . for this one' });
  }
  if (!isDir) throw new InputError('build context is not a directory', contextArg ?? '.', { hint: 'name a folder; use -f to name the Dockerfile' });

  if (fileArg === '-') return { bytes: readStdin(), displayName: '-', path: undefined, contextDir };
  const file = fileArg ? path.resolve(fileArg) : path.join(contextDir, 'Dockerfile');
  // Relative to where the user is, unless that climbs out of it: then as an absolute path.
  const relative = path.relative(process.cwd(), file);
  const displayName = relative && !relative.startsWith('..') ? relative : file;
  let bytes: Buffer;
  try {
    if (statSync(file).isDirectory()) throw new InputError('is a directory, not a Dockerfile', displayName, { hint: 'pass -f PATH/TO/Dockerfile' });
    bytes = readFileSync(file);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'no such Dockerfile' : `cannot read the Dockerfile (${code ?? String(e)})`, displayName, {
      cause: e,
      hint: fileArg ? 'check the -f path' : 'run in a folder with a Dockerfile, or pass -f PATH',
    });
  }
  return { bytes, displayName, path: file, contextDir };
}

/** `--build-arg K=V` (or `K` alone, taking the value from the environment, as Docker does). */
/** BuildKit's default for its cache: a tenth of the disk, or 2 GB where the disk's size cannot be told. */
function tenthOfDisk(store: string): number {
  for (let dir = path.resolve(store); ; dir = path.dirname(dir)) {
    try {
      const disk = statfsSync(dir);
      return Math.floor((disk.blocks * disk.bsize) / 10);
    } catch {
      if (dir === path.dirname(dir)) return 2 * 1024 ** 3;
    }
  }
}

/**
 * How far the build cache may grow beyond the images before a build that
 * made layers trims it (trimBuildCache): `flag` (strata dev
 * --keep-storage), else STRATA_KEEP_STORAGE, else a tenth of the store's disk.
 */
export function keepStorage(store: string, flag: string | undefined): number {
  const [given, from] = flag !== undefined ? [flag, '--keep-storage'] : [process.env.STRATA_KEEP_STORAGE, 'STRATA_KEEP_STORAGE'];
  return given === undefined || given === '' ? tenthOfDisk(store) : byteSizeOption(from, given);
}

/** A size given as `from` (a flag or a variable), in bytes; a usage error if it is none. */
export function byteSizeOption(from: string, given: string): number {
  const bytes = parseByteSize(given);
  if (bytes === undefined) throw new UsageError(`invalid ${from} "${given}"`, { hint: 'give a size such as 10GB or 512MB (units of 1024)' });
  return bytes;
}

export function parseBuildArgs(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (name === '') throw new InputError('a build argument needs a name before "="', `--build-arg ${item}`, { hint: 'write --build-arg NAME=VALUE' });
    if (eq >= 0) out[name] = item.slice(eq + 1);
    else if (process.env[name] !== undefined) out[name] = process.env[name]!;
  }
  return out;
}

/** --label NAME=VALUE, or NAME for an empty value, as docker build takes them. */
export function parseLabels(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (name === '') throw new UsageError(`invalid --label "${item}"`, { hint: 'write --label NAME=VALUE' });
    out[name] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

/**
 * --platform: strata builds for the machine it runs on (no emulation), so
 * it takes that platform, as CI scripts pass it, and refuses any other.
 */
export function checkPlatform(value: string | undefined): void {
  if (value === undefined) return;
  const host = formatPlatform(hostPlatform());
  if (value.trim().toLowerCase() === host) return;
  throw new UsageError(`strata builds for this machine's platform (${host}), not ${value}`, { hint: `leave --platform out, or build on a ${value} machine` });
}

/**
 * SOURCE_DATE_EPOCH (seconds since 1970), from --build-arg or the
 * environment as buildx passes it, as the ISO time images are dated with;
 * undefined when it is not set.
 */
export function sourceDateEpoch(buildArgs: Readonly<Record<string, string>> = {}): string | undefined {
  const fromArg = buildArgs.SOURCE_DATE_EPOCH !== undefined;
  const value = fromArg ? buildArgs.SOURCE_DATE_EPOCH! : process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  const seconds = /^\d{1,12}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds > 253402300799) {
    throw new InputError(`"${value}" is not a time in seconds since 1970`, fromArg ? '--build-arg SOURCE_DATE_EPOCH' : 'SOURCE_DATE_EPOCH', { hint: 'give whole seconds, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)' });
  }
  return new Date(seconds * 1000).toISOString();
}

/** A flag value of comma-separated `key=value` fields (`type=oci,dest=out.tar`); a bare key has the value ''. */
export function parseFields(spec: string): Map<string, string> {
  return new Map(spec.split(',').map((f) => {
    const eq = f.indexOf('=');
    return (eq < 0 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)]) as [string, string];
  }));
}

/** `--secret id=ID,src=FILE` or `id=ID,env=VAR` (docker's spelling, `type=`, `source=` and a bare `id=` reading $ID too). */
export function parseSecrets(specs: readonly string[]): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>();
  for (const spec of specs) {
    const fields = parseFields(spec);
    const id = fields.get('id');
    if (!id) throw new UsageError(`--secret ${spec} has no id=`, { hint: 'write --secret id=NAME,src=FILE or --secret id=NAME,env=VARIABLE' });
    const file = fields.get('src') ?? fields.get('source');
    const type = fields.get('type') ?? (file !== undefined ? 'file' : 'env');
    if (type === 'file') {
      if (!file) throw new UsageError(`--secret ${spec} has no src=`, { hint: 'write --secret id=NAME,src=FILE' });
      try {
        secrets.set(id, readFileSync(file));
      } catch (e) {
        throw new UsageError(`cannot read the secret file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { hint: 'check the path given in --secret src=' });
      }
    } else if (type === 'env') {
      const variable = fields.get('env') ?? file ?? id;
      const value = process.env[variable];
      if (value === undefined) throw new UsageError(`--secret ${id}: the environment variable ${variable} is not set`, { hint: `export ${variable}=... before the build, or give src=FILE` });
      secrets.set(id, Buffer.from(value));
    } else {
      throw new UsageError(`--secret ${spec}: unknown type "${type}"`, { hint: 'use type=file or type=env' });
    }
  }
  return secrets;
}

export function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`invalid ${flag} "${value}"`, { hint: `use one of: ${allowed.join(', ')}` });
}

/** A base image's ENV and ONBUILD triggers, if the image is in the store (a missing one is the build's error to report, at its FROM). */
export function baseImageFacts(store: string, image: string): BaseImageFacts | undefined {
  let found;
  try {
    found = findImage(store, image);
  } catch (e) {
    if (e instanceof ImageError) return undefined; // not a reference at all: the build says so at its FROM
    throw e;
  }
  if (!found) return undefined;
  const config = readConfig(store, readManifest(store, found.manifest)).config;
  return { env: config?.Env ?? [], onBuild: config?.OnBuild ?? [] };
}

/** Reads, parses and plans the Dockerfile a command names; keeps its lines for error excerpts. */
export function loadPlan(
  session: Session,
  args: { context: string | undefined; file: string | undefined; target?: string | undefined; buildArgs: readonly string[] | undefined; store?: string },
): { input: DockerfileInput; typed: TypedDockerfile; plan: Plan; replan: () => Plan } {
  const input = readDockerfileInput(args.context, args.file);
  session.sourceLines = input.bytes.toString('utf8').split(/\r?\n/);
  const typed = loadDockerfile(input.bytes, { file: input.displayName });
  const store = args.store;
  // Planned again once missing base images are pulled: their ENV and ONBUILD triggers are known only then.
  const replan = () => planBuild(typed, { target: args.target, buildArgs: parseBuildArgs(args.buildArgs), baseImage: store ? (image) => baseImageFacts(store, image) : undefined });
  return { input, typed, plan: replan(), replan };
}
