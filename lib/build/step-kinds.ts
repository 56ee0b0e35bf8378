/**
 * The kinds of filesystem step (WORKDIR, RUN, COPY/ADD, ADD of a URL):
 * for each, its cache key, what went into the key (for explanations) and
 * how to carry it out on a miss, in a workspace the builder gives it. The
 * builder (build.ts) owns scheduling, the cache and the image; this module
 * owns what one step does.
 */
import { chmodSync, mkdtempSync, readdirSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { cacheKey, copyTarPath, readCopyRecord, writeCopyRecord, type CopyRecord, type LayerRef } from '../cache/index.js';
import { fileDigest, hashContext, selectSources, type HashedContext } from '../context/index.js';
import type { Plan, PlannedStep } from '../dockerfile/index.js';
import { BuildError, ContextError, SnapshotError } from '../errors/index.js';
import { runInSandbox, SANDBOX_MOUNT_POINTS, type RunNetwork, type SandboxMount } from '../exec/index.js';
import { applyLayer, isTarArchive, type LayerReuse, type Snapshotter, type Workspace, type WorkspaceOptions } from '../snapshot/index.js';
import { resolveInContainer, shellOf, type StageConfig } from './config.js';
import { copyInto, ensureDirs, INHERIT, isDirectoryIn, makeDirIn, type CopyPlan, type Reuse } from './copy.js';
import type { EventSink } from './events.js';
import type { StepInputs } from './explain.js';
import { download, GIT_SOURCE, parseChecksum, REMOTE_SOURCE, remoteFileName } from './remote.js';
import { runCommand, SCRIPT_DIR } from './run-command.js';
import { prepareRunMounts } from './run-mounts.js';
import { resolveOwner, resolveUser } from './users.js';

const WILDCARD = /[*?[]/;

/** Instructions that change only the image config: no layer, no key, no progress line (as in BuildKit). */
export const METADATA = new Set(['ENV', 'LABEL', 'ARG', 'USER', 'EXPOSE', 'VOLUME', 'CMD', 'ENTRYPOINT', 'STOPSIGNAL', 'SHELL', 'MAINTAINER', 'ONBUILD', 'HEALTHCHECK']);

/** How progress events name a stage. */
export const stageLabel = (plan: Plan, index: number): string => plan.stages[index]!.name ?? `stage-${index}`;

export interface StageState {
  key: string;
  /** When the newest layer so far was made (the base image's creation at first). */
  created: string;
  layers: LayerRef[];
  config: StageConfig;
}

/** A filesystem step: its key, what went into it, and how to carry it out on a miss. */
export interface FilesystemStep {
  readonly key: string;
  readonly inputs: StepInputs;
  /** Carries the step out; `followed`: a filesystem step of its stage comes after it. */
  readonly execute: (position: { readonly followed: boolean }) => Promise<LayerRef | null>;
  readonly after?: () => void;
}

/** The paths a step wrote (see Workspace.commit), and whether they are a delta over the workspace's base. */
export type Written = readonly string[] | { readonly written: readonly string[]; readonly overBase: true };
export const isPathList = (w: Written): w is readonly string[] => Array.isArray(w);

/** What a step needs from the build it is part of. */
export interface StepEnv {
  readonly store: string;
  /** The build's own temp directory. */
  readonly scratch: string;
  readonly snapshots: Snapshotter;
  /** The build's cancellation. */
  readonly signal: AbortSignal;
  readonly onEvent: EventSink;
  readonly secrets: ReadonlyMap<string, Buffer>;
  /** At most --jobs RUN commands at once, across stages. */
  readonly runSlots: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The hashed files of a stage or image (COPY --from, mounts' from=). */
  readonly hashedSource: (from: string) => Promise<HashedContext>;
  readonly rootOf: (files: HashedContext) => Promise<string>;
  /** A workspace on the stage's layers: its changes are the step's layer, or nothing if `act` throws. */
  readonly inWorkspace: (state: StageState, options: WorkspaceOptions, act: (ws: Workspace) => Promise<Written | void>) => Promise<LayerRef | null>;
  /** The network of a RUN without --network. */
  readonly network: RunNetwork;
}

/**
 * BuildKit's default limit on what a step's output shows
 * (BUILDKIT_STEP_LOG_MAX_SIZE); STRATA_STEP_LOG_MAX_SIZE sets strata's, in
 * bytes, -1 for none.
 */
const STEP_LOG_MAX_BYTES = 2 * 1024 * 1024;

/** A limit as BuildKit's message words it: 2MiB, 512KiB, 1000B. */
function limitText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}MiB`;
  return bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes}B`;
}

/** Passes a RUN's output lines on until the limit, then says, as BuildKit does, that the rest is not shown. */
function clippedLog(emit: (stream: 'stdout' | 'stderr', line: string) => void): (stream: 'stdout' | 'stderr', line: string) => void {
  const setting = Number(process.env.STRATA_STEP_LOG_MAX_SIZE);
  const limit = Number.isInteger(setting) && (setting > 0 || setting === -1) ? setting : STEP_LOG_MAX_BYTES;
  let bytes = 0;
  return (stream, line) => {
    if (limit === -1) return emit(stream, line);
    if (bytes > limit) return;
    bytes += Buffer.byteLength(line) + 1;
    emit(stream, bytes > limit ? `[output clipped, log limit ${limitText(limit)} reached]` : line);
  };
}

/** The step as buildx shows it: the instruction as written, flags included, continuations joined. */
export function displayText(step: PlannedStep): string {
  return `${step.instruction} ${step.original.replace(/^\S+\s*/, '').replace(/\s+/g, ' ')}`.trim();
}

/** Masks every secret value in a line of output. */
function redactor(secrets: readonly string[]): (line: string) => string {
  const values = secrets.filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  if (!values.length) return (line) => line;
  return (line) => values.reduce((out, v) => out.split(v).join('****'), line);
}

/**
 * COPY (and ADD of local files) into a workspace. The copy knows what it
 * wrote: that is the layer, with no scan of the whole root filesystem.
 * Where the snapshotter keeps layers as directories, the last run of the
 * same COPY is shared: when the new version has every path of the last
 * (files may change, be added, directories may be added) it is kept as a
 * delta over it, holding only what differs, so a one-file edit under
 * `COPY . .` writes one file and its parent directories, not thousands;
 * otherwise each file written identically (content, mode, owner, mtime)
 * is hard-linked from the last run's snapshot instead of copied again.
 * Either way, unchanged tar entries come from the last run's kept tar.
 */
async function copyStep(env: StepEnv, state: StageState, c: {
  srcCtx: HashedContext; selection: ReturnType<typeof selectSources>; sources: readonly string[]; dest: string; destIsFile: (root: string) => boolean;
  chown: string | undefined; chmod: number | undefined; from: string | undefined; where: { file: string; line: number }; followed: boolean;
}): Promise<LayerRef | null> {
  const identity = cacheKey({ op: 'COPY-identity', sources: c.sources, dest: c.dest, from: c.from, chown: c.chown, chmod: c.chmod });
  const previous = readCopyRecord(env.store, identity);
  // Where the last run's files are (more than one directory when it was itself kept as a delta).
  const previousDirs = previous ? env.snapshots.layerDirs(previous.layer) : undefined;
  const signatures: Record<string, string> = {};
  const dirs: Record<string, string> = {};
  const others: string[] = [];
  // A source that was not hashed (no entry) leaves it open whether a directory took a file's place: no delta then.
  let everyKindKnown = true;
  // Files shared with the last run are byte for byte what it wrote: their tar entries are taken from its kept tar too.
  const linked = new Set<string>();
  const keptTar = previous?.tar && previousDirs ? previous.tar : undefined;
  const reuseLayer: LayerReuse = {
    base: previous?.dirs && previousDirs ? previous.layer : undefined,
    splice: () => (keptTar && linked.size ? { tar: keptTar.file, index: keptTar.index, rels: linked } : undefined),
    keep: copyTarPath(env.store, identity),
    // Told once the layer's tar is written (which may be after the steps after this one have started).
    kept: (index, diffId) => {
      const tar = { file: copyTarPath(env.store, identity), diffId, index };
      // Only where the snapshotter keeps the layer's files in directories is there anything to share next time.
      if (env.snapshots.layerDirs(diffId) && Object.keys(signatures).length) {
        writeCopyRecord(env.store, identity, { layer: diffId, files: signatures, tar, ...(everyKindKnown ? { dirs, others } : {}) });
      }
    },
  };
  // A step after this one needs only the layer's files: a big layer's tar may be written while it runs.
  const tarLater = c.followed ? { bytes: c.selection.fileEntries.reduce((n, e) => n + e.size, 0) } : undefined;
  return env.inWorkspace(state, { reportsWrites: true, reuse: reuseLayer, tarLater }, async (ws) => {
    const owner = resolveOwner(ws.root, c.chown, c.where);
    const destIsFile = c.destIsFile(ws.root);
    const linkable = ws.writeRoot !== ws.root;
    const base = ws.base;
    const inherited: CopyPlan['placed'][number][] = [];
    /** The last run's copy of a file, to hard-link. */
    let inDeltas: Map<string, string> | undefined;
    const linkFrom = (destRel: string): Reuse | undefined => {
      if (!previousDirs) return undefined;
      const whole = previousDirs[previousDirs.length - 1]!;
      if (previousDirs.length === 1) return { link: `${whole}/${destRel}` };
      inDeltas ??= filesOfDeltas(previousDirs.slice(0, -1));
      return { link: inDeltas.get(destRel) ?? `${whole}/${destRel}` };
    };
    // The layer's files are what the context engine hashed: their signature comes from its entries, not from a second lstat.
    const reuse = (destRel: string, item: CopyPlan['placed'][number]): Reuse | undefined => {
      const entry = item.entry;
      if (!linkable) return undefined;
      if (!entry) {
        everyKindKnown = false;
        return undefined;
      }
      if (entry.kind === 'dir') {
        const signature = `${c.chmod ?? entry.mode}:${owner.uid}:${owner.gid}`;
        dirs[destRel] = signature;
        if (!base || previous!.dirs![destRel] !== signature) return undefined;
        inherited.push(item);
        return INHERIT;
      }
      if (entry.kind !== 'file') {
        others.push(destRel);
        return undefined;
      }
      const signature = `${entry.digest.toString('hex')}:${c.chmod ?? entry.mode}:${owner.uid}:${owner.gid}:${entry.stat.mtimeNs / 1_000_000n}`;
      signatures[destRel] = signature;
      if (previous?.files[destRel] !== signature) return undefined;
      if (!base) return linkFrom(destRel);
      linked.add(destRel);
      inherited.push(item);
      return INHERIT;
    };
    const beforeCopy = (src: string, st: Stats) => {
      const entry = c.srcCtx.index.get(src);
      if (entry?.kind !== 'file') return;
      // What is copied must be what was hashed, or the layer would not be what its key says.
      const restated = st.size !== Number(entry.stat.size) || Math.floor(st.mtimeMs) !== Number(entry.stat.mtimeNs / 1_000_000n);
      // A file rewritten with the same bytes (an editor, a tool) is fine: only different content is refused.
      if (!c.from && restated && !fileDigest(path.join(c.srcCtx.root, src))?.equals(entry.digest)) {
        throw new BuildError(`${src} changed while the build was copying it`, c.where, { hint: 'build again (strata dev --watch does so by itself when the edits stop)' });
      }
    };
    const plan: CopyPlan = {
      srcRoot: await env.rootOf(c.srcCtx), placed: destIsFile ? [{ ...c.selection.placed[0]!, dest: '' }] : c.selection.placed, dest: c.dest, destIsFile,
      owner, chmod: c.chmod, where: c.where, writeRoot: ws.writeRoot, reuse, beforeCopy, linked: (rel) => linked.add(rel),
    };
    const written = copyInto(ws.root, plan);
    // Written first, the destination's own directories (not entries of the source) are directories too.
    for (const rel of written.slice(0, written.length - plan.placed.length)) dirs[rel] = '';
    if (!inherited.length) return written;
    if (everyKindKnown && keepsEveryPath(previous!, written, dirs)) return { written, overBase: true };
    // Something of the last run is gone, or a directory took another entry's place: a delta cannot say so
    // (it holds no whiteouts), so the layer is written whole, its unchanged files linked from the last run.
    copyInto(ws.root, { ...plan, placed: inherited, reuse: (destRel) => (signatures[destRel] ? linkFrom(destRel) : undefined) });
    return written;
  });
}

/**
 * Where the files of a chain's deltas are (path -> the topmost delta's
 * copy). Deltas hold a few files each: listing them is cheap, and every
 * other file of the chain is in the whole snapshot beneath them, so no
 * file needs an lstat per snapshot to be found.
 */
function filesOfDeltas(deltas: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const delta of deltas) {
    const walk = (rel: string) => {
      for (const d of readdirSync(rel ? `${delta}/${rel}` : delta, { withFileTypes: true })) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) walk(p);
        else if (!found.has(p)) found.set(p, `${delta}/${p}`);
      }
    };
    walk('');
  }
  return found;
}

/** Whether a new version of a COPY's layer (`written`, its directories `dirs`) has every path of the last one, none of them turned into a directory. */
function keepsEveryPath(last: CopyRecord, written: readonly string[], dirs: Readonly<Record<string, string>>): boolean {
  const now = new Set(written);
  for (const rel of Object.keys(last.files)) if (!now.has(rel) || rel in dirs) return false;
  for (const rel of last.others ?? []) if (!now.has(rel) || rel in dirs) return false;
  for (const rel of Object.keys(last.dirs ?? {})) if (!now.has(rel)) return false;
  return true;
}

/** ADD of an http(s) URL: downloaded, never unpacked; keyed by --checksum, or else by the content downloaded. */
async function remoteAdd(env: StepEnv, step: PlannedStep, state: StageState, sources: readonly string[], where: { file: string; line: number }): Promise<FilesystemStep> {
  if (sources.length !== 1) throw new BuildError('ADD of a URL takes that URL as its only source', where, { hint: 'write one ADD per URL' });
  const url = sources[0]!;
  const checksum = typeof step.flags.checksum === 'string' ? parseChecksum(step.flags.checksum, where) : undefined;
  const name = remoteFileName(url);
  const rawDest = step.args[step.args.length - 1]!;
  const dest = resolveInContainer(state.config, rawDest);
  const chmod = typeof step.flags.chmod === 'string' ? parseInt(step.flags.chmod, 8) : undefined;
  const chown = typeof step.flags.chown === 'string' ? step.flags.chown : undefined;
  // Without a checksum the content is the key: it must be downloaded to know whether the step is a hit.
  const fetched = checksum ? undefined : await download(url, env.scratch, where, env.signal);
  const content = checksum ? `${checksum.algorithm}:${checksum.hex}` : fetched!.digest;
  return {
    key: cacheKey({ parent: step.flags.link === true ? 'link' : state.key, op: 'ADD-url', name, content, dest, destDir: rawDest.endsWith('/'), chown, chmod }),
    inputs: { text: displayText(step), line: step.line, parent: step.flags.link === true ? 'link' : state.key, other: content },
    execute: () => env.inWorkspace(state, { reportsWrites: true }, async (ws) => {
      const got = fetched ?? await download(url, env.scratch, where, env.signal, checksum);
      chmodSync(got.file, 0o600); // Docker's mode for a downloaded file
      if (got.modified) utimesSync(got.file, got.modified, got.modified);
      const destIsFile = !rawDest.endsWith('/') && !isDirectoryIn(ws.root, dest, where);
      return copyInto(ws.root, { srcRoot: path.dirname(got.file), placed: [{ src: path.basename(got.file), dest: name }], dest, destIsFile, owner: resolveOwner(ws.root, chown, where), chmod, where, writeRoot: ws.writeRoot });
    }),
  };
}

/** The key of a filesystem step and how to carry it out on a miss. */
export async function filesystemStep(env: StepEnv, step: PlannedStep, state: StageState, ctx: Promise<HashedContext>, where: { file: string; line: number }, id: number, execTime: { seconds: number; startedAt: number }): Promise<FilesystemStep> {
  const c = state.config;
  const base = { text: displayText(step), line: step.line, parent: step.flags.link === true ? 'link' : state.key };
  switch (step.instr.kind) {
    case 'WORKDIR': {
      const dir = resolveInContainer(c, step.args[0] ?? '/');
      return {
        key: cacheKey({ parent: state.key, op: 'WORKDIR', path: dir }),
        inputs: { ...base, settings: { WORKDIR: dir } },
        after: () => { c.workdir = dir; },
        execute: () => env.inWorkspace(state, { reportsWrites: true }, async (ws) => ensureDirs(ws.root, dir, where, ws.writeRoot)),
      };
    }
    case 'RUN': {
      if (step.flags.security === 'insecure') throw new BuildError('RUN --security=insecure is not supported', where, { hint: 'strata runs every step in the sandbox' });
      const user = c.user;
      const { argv, scripts } = runCommand(step, shellOf(c));
      const environment: Record<string, string> = { ...step.argsInScope, ...Object.fromEntries(c.env), ...step.proxy };
      const keyEnv = { ...step.argsInScope, ...Object.fromEntries(c.env) };
      const workdir = c.workdir || '/';
      const network = typeof step.flags.network === 'string' ? (step.flags.network as RunNetwork) : env.network;
      const runMounts = await prepareRunMounts(step.mounts, {
        store: env.store, scratch: env.scratch, context: ctx, where, secrets: env.secrets, filesOf: env.hashedSource, rootOf: env.rootOf, resolveTarget: (t) => resolveInContainer(c, t),
      });
      return {
        key: cacheKey({ parent: state.key, op: 'RUN', argv, scripts: scripts.length ? scripts : undefined, env: keyEnv, user, workdir, network, mounts: runMounts.key.length ? runMounts.key : undefined }),
        inputs: {
          ...base, args: step.argsInScope, env: Object.fromEntries(c.env), settings: { USER: user ?? '', WORKDIR: workdir, network, SHELL: JSON.stringify(shellOf(c)) },
          other: cacheKey({ scripts, mounts: runMounts.key }),
        },
        execute: ({ followed }) => env.inWorkspace(state, { mountPoints: SANDBOX_MOUNT_POINTS, tarLater: followed ? {} : undefined }, async (ws) => {
          const runUser = user ? resolveUser(ws.root, user, where) : undefined;
          if (runUser && runUser.uid !== 0 && process.getuid?.() !== 0) {
            // The sandbox's user namespace maps only the invoking user, as root (runInSandbox).
            throw new BuildError(`RUN as USER ${user} needs strata to run as root`, where, {
              hint: 'without root, a RUN can only run as root in its user namespace: build as root, or move USER after the RUN steps',
            });
          }
          const opened = await runMounts.open();
          const redact = redactor(opened.secretValues);
          try {
            const runEnv = { ...environment, HOME: environment.HOME ?? runUser?.home ?? '/root', ...opened.env };
            const mounts: SandboxMount[] = scripts.map((script) => {
              const file = path.join(mkdtempSync(path.join(env.scratch, 'script-')), script.name);
              writeFileSync(file, script.content, { mode: 0o755 });
              return { kind: 'bind', source: file, target: `${SCRIPT_DIR}/${script.name}`, readonly: true };
            });
            const result = await env.runSlots(async () => {
              const execStart = Date.now();
              const r = await runInSandbox({
                rootfs: ws.root, argv, env: runEnv, cwd: workdir, network, signal: env.signal, user: runUser, mounts: [...mounts, ...opened.mounts],
                onOutput: clippedLog((stream, line) => env.onEvent({ type: 'step-log', id, stream, line: redact(line), time: Date.now() })),
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
      if (step.instr.kind === 'ADD' && sources.some((s) => REMOTE_SOURCE.test(s))) return remoteAdd(env, step, state, sources, where);
      const inline = step.heredocs.length > 0;
      let srcCtx: HashedContext;
      if (inline) {
        // Each heredoc is a file named by its delimiter (BuildKit's rule), written here and copied like a context file.
        if (sources.length !== step.heredocs.length || from) {
          throw new BuildError(`${step.instruction} of heredocs cannot mix them with other sources`, where, { hint: `split it: one ${step.instruction} for the heredocs, another for the files` });
        }
        const dir = mkdtempSync(path.join(env.scratch, 'heredoc-'));
        for (const doc of step.heredocs) {
          const file = path.join(dir, doc.name);
          if (path.dirname(file) !== dir) throw new BuildError(`the heredoc name ${JSON.stringify(doc.name)} cannot be a file name`, where, { hint: 'name it with letters, digits, _ . or -' });
          writeFileSync(file, doc.content, { mode: 0o644 });
          utimesSync(file, 0, 0);
        }
        srcCtx = await hashContext(dir, { inline: true });
        sources = step.heredocs.map((doc) => doc.name);
      } else {
        srcCtx = from ? await env.hashedSource(from) : await ctx;
      }
      let selection;
      try {
        selection = selectSources(srcCtx, {
          sources, exclude: Array.isArray(step.flags.exclude) ? step.flags.exclude : [], parents: step.flags.parents === true, from: from === undefined ? undefined : `--from=${from}`,
        });
      } catch (e) {
        if (e instanceof ContextError) throw new BuildError(`${step.instruction} failed: ${e.message}`, where, { hint: e.hint });
        throw e;
      }
      const rawDest = step.args[step.args.length - 1]!;
      const dest = resolveInContainer(c, rawDest);
      // (The source's own kind first: a directory source is never single, and its file list is then never walked.)
      const single = sources.length === 1 && !WILDCARD.test(sources[0]!) && selection.named[0]?.kind !== 'dir' && selection.placed.length === 1 && selection.placed[0]!.entry.kind !== 'dir';
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
        // Read only to explain a miss or to record a changed step: a cached COPY of 30,000 files never lists them.
        get inputs() {
          // (A loop, not Object.fromEntries over a mapped array: for 2,000 files that took 5-19 ms where this takes 1-4.)
          const files: Record<string, string> = {};
          for (const e of selection.fileEntries) files[e.path] = `${e.digest.toString('hex')}:${e.mode.toString(8)}`;
          return { ...base, files, other: selection.digest };
        },
        // ADD unpacks a local tar archive into the destination directory (safely: nothing may escape it).
        execute: ({ followed }) => archive
          ? env.inWorkspace(state, {}, async (ws) => {
            await applyLayer(path.join(ws.writeRoot, makeDirIn(ws.root, dest, where, ws.writeRoot)), archive);
          })
          : copyStep(env, state, { srcCtx, selection, sources, dest, destIsFile: (root) => single && !rawDest.endsWith('/') && !isDirectoryIn(root, dest, where), chown, chmod, from, where, followed }),
      };
    }
    default:
      throw new BuildError(`${step.instruction} is not supported by strata build yet`, where, { hint: 'see the README for what builds today' });
  }
}
