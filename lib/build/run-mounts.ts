/**
 * RUN --mount, as BuildKit gives them to a step:
 * - bind: files of the context (after .dockerignore) or of a stage or
 *   image, read-only unless rw (then a private copy whose writes are
 *   dropped); their content digest is in the key.
 * - cache: a directory kept in the store across builds; never in a layer
 *   or a key (its id and target are); sharing=locked takes a lock,
 *   private takes it or works in a fresh directory.
 * - tmpfs: an empty tmpfs.
 * - secret: a value given with `strata build --secret`, as a file (0400,
 *   /run/secrets/ID by default) or an environment variable; it never
 *   enters a key, a layer or strata's output (logs are redacted).
 */
import { chmodSync, chownSync, copyFileSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheMountDir, withCacheMountLock } from '../cache/index.js';
import { selectSources, type HashedContext, type Selection } from '../context/index.js';
import type { Mount } from '../dockerfile/index.js';
import { BuildError, ContextError, StoreError } from '../errors/index.js';
import type { SandboxMount } from '../exec/index.js';

export interface MountSources {
  readonly store: string;
  readonly scratch: string;
  /** The build context, once hashed: waited for only by a mount of it. */
  readonly context: Promise<HashedContext>;
  readonly where: { readonly file: string; readonly line: number };
  readonly secrets: ReadonlyMap<string, Buffer>;
  /** The hashed files of the stage or image a mount names with from=. */
  readonly filesOf: (from: string) => Promise<HashedContext>;
  /** Where a hashed source's files are on disk (mounted on first use). */
  readonly rootOf: (files: HashedContext) => Promise<string>;
  /** A mount target as the container sees it (relative ones under WORKDIR). */
  readonly resolveTarget: (target: string) => string;
}

export interface OpenMounts {
  readonly mounts: SandboxMount[];
  /** Secrets given as environment variables. */
  readonly env: Record<string, string>;
  /** Every secret value in use, to redact from output. */
  readonly secretValues: string[];
  release(): Promise<void>;
}

export interface RunMounts {
  /** What of the mounts enters the step's key: specs and bind contents, never a cache's content or a secret. */
  readonly key: readonly unknown[];
  /** Sets the mounts up for one execution. */
  open(): Promise<OpenMounts>;
}

type Opener = (out: OpenMounts) => Promise<void>;

/** A hold on a cache mount's lock, released by calling the returned function. */
async function holdLock(store: string, id: string, wait: boolean): Promise<(() => void) | undefined> {
  let release!: () => void;
  let acquired!: () => void;
  const held = new Promise<void>((resolve) => (acquired = resolve));
  const done = withCacheMountLock(store, id, () => {
    acquired();
    return new Promise<void>((resolve) => (release = resolve));
  }, wait ? undefined : 0);
  try {
    await Promise.race([held, done]);
  } catch (e) {
    if (!wait && e instanceof StoreError) return undefined;
    throw e;
  }
  return () => {
    release();
    void done.catch(() => undefined);
  };
}

/** Lays the selected files out under `dir` (hard links where they can be, for read-only use; else copies). */
function layOut(root: string, selection: Selection, dir: string, link: boolean): void {
  for (const { src, dest } of selection.placed) {
    const from = path.join(root, src);
    const to = path.join(dir, dest);
    const st = lstatSync(from);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true });
      chmodSync(to, st.mode & 0o7777);
    } else {
      mkdirSync(path.dirname(to), { recursive: true });
      copyOrLink(from, to, link);
    }
  }
}

export async function prepareRunMounts(specs: readonly Mount[], src: MountSources): Promise<RunMounts> {
  const key: unknown[] = [];
  const openers: Opener[] = [];
  const fail = (message: string, hint: string) => new BuildError(message, src.where, { hint });
  /** What a mount shows of `ctx`: the path `source` (default its root), as COPY would select it. */
  const selectFrom = (ctx: HashedContext, sourcePath: string | undefined, type: string) => {
    const source = (sourcePath ?? '/').replace(/^\/+/, '') || '.';
    try {
      return { ctx, source, selection: selectSources(ctx, { sources: [source], exclude: [] }) };
    } catch (e) {
      if (e instanceof ContextError) throw fail(`--mount=type=${type}: ${e.message}`, e.hint ?? 'check source= (a path in the context, or in the stage named by from=)');
      throw e;
    }
  };
  for (const m of specs) {
    switch (m.type) {
      case 'bind': {
        const target = src.resolveTarget(m.target!);
        const { ctx, source, selection } = selectFrom(await (m.from ? src.filesOf(m.from) : src.context), m.source, 'bind');
        key.push({ type: 'bind', target, from: m.from ? 'content' : undefined, digest: selection.digest, rw: !m.readOnly });
        const isDir = ctx.index.get(source === '.' ? '' : source.replace(/\/+$/, ''))?.kind === 'dir';
        openers.push(async (out) => {
          // The files as the build sees them (ignored ones left out), never the context itself: a rw mount writes into a copy.
          const farm = mkdtempSync(path.join(src.scratch, 'bind-'));
          chmodSync(farm, 0o755);
          let root = farm;
          const filesRoot = await src.rootOf(ctx);
          if (isDir) layOut(filesRoot, selection, farm, m.readOnly);
          else copyOrLink(path.join(filesRoot, selection.placed[0]!.src), (root = path.join(farm, 'file')), m.readOnly);
          out.mounts.push({ kind: 'bind', source: root, target, readonly: m.readOnly });
        });
        break;
      }
      case 'cache': {
        const target = src.resolveTarget(m.target!);
        const id = m.id || target;
        // from= (and source=) seed a cache the first time it is made, as BuildKit does; after that it keeps what RUNs left.
        const seed = m.from ? selectFrom(await src.filesOf(m.from), m.source, 'cache') : undefined;
        key.push({ type: 'cache', target, id, sharing: m.sharing, mode: m.mode, uid: m.uid, gid: m.gid, ro: m.readOnly, seed: seed?.selection.digest });
        openers.push(async (out) => {
          const seedRoot = seed && (await src.rootOf(seed.ctx));
          let dir = cacheMountDir(src.store, id, m, seed && ((data) => layOut(seedRoot!, seed.selection, data, false)));
          if (m.sharing !== 'shared') {
            const release = await holdLock(src.store, id, m.sharing === 'locked');
            if (release) {
              const prev = out.release;
              (out as { release: () => Promise<void> }).release = async () => {
                release();
                await prev();
              };
            } else {
              // private and in use: this step gets a cache of its own, dropped afterwards.
              dir = mkdtempSync(path.join(src.scratch, 'cache-'));
              chmodSync(dir, m.mode ?? 0o755);
              chownIfRoot(dir, m.uid, m.gid);
            }
          }
          out.mounts.push({ kind: 'bind', source: dir, target, readonly: m.readOnly });
        });
        break;
      }
      case 'tmpfs': {
        const target = src.resolveTarget(m.target!);
        key.push({ type: 'tmpfs', target, size: m.sizeBytes });
        openers.push(async (out) => {
          out.mounts.push({ kind: 'tmpfs', target, size: m.sizeBytes });
        });
        break;
      }
      case 'secret': {
        const id = m.id || path.posix.basename(m.target ?? '');
        const asFile = m.target !== undefined || m.env === undefined;
        const target = asFile ? src.resolveTarget(m.target ?? `/run/secrets/${id}`) : undefined;
        key.push({ type: 'secret', id, target, env: m.env });
        const value = src.secrets.get(id);
        if (value === undefined) {
          if (m.required) throw fail(`secret ${id} is required but was not given`, `pass it: strata build --secret id=${id},src=FILE (or env=VARIABLE)`);
          break; // an optional secret that is absent is simply not there, as in BuildKit
        }
        openers.push(async (out) => {
          out.secretValues.push(value.toString('utf8'));
          if (m.env) out.env[m.env] = value.toString('utf8');
          if (!target) return;
          const file = path.join(mkdtempSync(path.join(src.scratch, 'secret-')), 'value');
          writeFileSync(file, value, { mode: 0o600 });
          chownIfRoot(file, m.uid, m.gid);
          chmodSync(file, m.mode ?? 0o400);
          out.mounts.push({ kind: 'bind', source: file, target, readonly: true });
        });
        break;
      }
      case 'ssh':
        throw fail('--mount=type=ssh is not supported', 'strata does not forward an SSH agent; fetch private sources with a secret mount instead');
    }
  }
  return {
    key,
    async open() {
      const out: OpenMounts = { mounts: [], env: {}, secretValues: [], release: async () => undefined };
      try {
        for (const opener of openers) await opener(out);
      } catch (e) {
        await out.release();
        throw e;
      }
      return out;
    },
  };
}

function chownIfRoot(p: string, uid: number | undefined, gid: number | undefined): void {
  if (process.getuid?.() === 0) chownSync(p, uid ?? 0, gid ?? 0);
}

function copyOrLink(from: string, to: string, link: boolean): void {
  if (lstatSync(from).isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
    return;
  }
  try {
    if (!link) throw new Error('copy');
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
    chmodSync(to, lstatSync(from).mode & 0o7777);
  }
}
