/**
 * Running one RUN step for real: bubblewrap puts the process in new mount,
 * pid, ipc and uts namespaces (and a network namespace for --network=none)
 * with the step's root filesystem as /, fresh /proc and /dev, the host's
 * /etc/resolv.conf and /etc/hosts read-only, WORKDIR as cwd and exactly the
 * step's environment. Killing bwrap kills the namespace's every process.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledError, ExecError } from '../errors/index.js';

/** A RUN's network: the host's (default, and host, which is the same here), or none (only loopback). */
export type RunNetwork = 'default' | 'none' | 'host';

/** RUN --network and docker build --network accept these. */
export const RUN_NETWORKS: readonly RunNetwork[] = ['default', 'none', 'host'];

export interface RunSpec {
  readonly rootfs: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Working directory inside the root filesystem (created if missing). */
  readonly cwd: string;
  readonly network: RunNetwork;
  /** Run as this user instead of root (through the static strata-run-as helper). */
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] } | undefined;
  /** Extra mounts (RUN --mount, a heredoc script), in order; targets are container paths. */
  readonly mounts?: readonly SandboxMount[];
  readonly onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Kills the sandbox at once; the run then rejects with CancelledError. */
  readonly signal?: AbortSignal;
  /**
   * Stops it the way a container is stopped: `stop.signal` sends `sig` to
   * the command (bwrap forwards nothing, so it goes to the processes inside
   * directly), and what still runs after `graceMs` is killed. The run then
   * resolves with the command's exit status.
   */
  readonly stop?: { readonly signal: AbortSignal; readonly sig: NodeJS.Signals; readonly graceMs: number };
}

/** The processes below `pid`, children first (from /proc; none where /proc cannot tell). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch {
    children = [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

export type SandboxMount =
  | { readonly kind: 'bind'; readonly source: string; readonly target: string; readonly readonly: boolean }
  | { readonly kind: 'tmpfs'; readonly target: string; readonly size?: number | undefined };

export interface RunResult {
  readonly exitCode: number;
  /** The last lines the command printed, for error messages. */
  readonly tail: readonly string[];
}

const TAIL_LINES = 12;

let bwrapPath: string | undefined;

/**
 * Where bwrap is on the host's PATH (the step's own PATH is the
 * container's): the first executable file of that name, looked up as a
 * shell does, without starting one (`command -v` and `bwrap --version`
 * took 10 ms of every build's first RUN). One that cannot run fails that
 * RUN with its own message.
 */
function findBwrap(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    const candidate = path.resolve(dir || '.', 'bwrap');
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function sandboxAvailable(): string | undefined {
  return findBwrap() ? undefined : 'bubblewrap (bwrap) is not installed';
}

function checkBwrap(): string {
  bwrapPath ??= findBwrap();
  if (!bwrapPath) throw new ExecError('bubblewrap (bwrap) is not installed', { hint: 'install it: apt-get install bubblewrap (scripts/setup-system.sh does)' });
  return bwrapPath;
}

const RUN_AS = '.strata-run-as';
const RUN_AS_HELPER = fileURLToPath(new URL('../../libexec/strata-run-as', import.meta.url));

/**
 * Mount points bwrap creates in the root filesystem where they are
 * missing; they must not end up in a layer. A snapshotter may provide them
 * beforehand (overlay puts them in a lower below the image's layers), so
 * that the step's diff never sees them come and go.
 */
export const SANDBOX_MOUNT_POINTS: readonly { readonly rel: string; readonly dir: boolean }[] = [
  { rel: 'proc', dir: true },
  { rel: 'dev', dir: true },
  { rel: RUN_AS, dir: false },
  { rel: 'etc/resolv.conf', dir: false },
  { rel: 'etc/hosts', dir: false },
];

/**
 * The paths bwrap will create for a mount point at `rel` (those missing,
 * outermost first), or none when it exists, lies in the sandbox's own /dev
 * or /proc, or passes a symlink (bwrap follows it; what it makes there is
 * not ours to guess).
 */
function stubChain(rootfs: string, rel: string, dir: boolean): { chain: string[]; dir: boolean }[] {
  const parts = rel.split('/').filter(Boolean);
  if (parts[0] === 'dev' || parts[0] === 'proc') return [];
  for (let i = 0; i < parts.length; i++) {
    const at = parts.slice(0, i + 1).join('/');
    const st = lstatSync(path.join(rootfs, at), { throwIfNoEntry: false });
    if (!st) return [{ chain: parts.slice(i).map((_, j) => parts.slice(0, i + j + 1).join('/')), dir }];
    if (st.isSymbolicLink()) return [];
    if (!st.isDirectory() && i < parts.length - 1) {
      throw new ExecError(`cannot mount at /${parts.join('/')}: /${at} is a file in the image`, { hint: 'mount somewhere whose parent directories are directories' });
    }
  }
  return [];
}

function cancelled(): CancelledError {
  return new CancelledError('the build was cancelled', { hint: 'it was interrupted (Ctrl-C, SIGTERM, or a newer build replacing it); nothing of this step was kept' });
}

export async function runInSandbox(spec: RunSpec): Promise<RunResult> {
  const bwrap = checkBwrap();
  // An abort that came before the sandbox started would never fire its event again.
  if (spec.signal?.aborted) throw cancelled();
  const stubs = [...SANDBOX_MOUNT_POINTS, ...(spec.mounts ?? []).map((m) => ({ rel: m.target.replace(/^\/+/, ''), dir: m.kind === 'tmpfs' || lstatSync(m.source).isDirectory() }))]
    .flatMap((m) => stubChain(spec.rootfs, m.rel, m.dir));
  // Making and removing a stub moves its directory's times: they are put back, so that the diff sees no change there.
  const stubParents = [...new Set(stubs.map((m) => path.dirname(path.join(spec.rootfs, m.chain[0]!))))].flatMap((dir) => {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    return st?.isDirectory() ? [{ dir, atime: st.atime, mtime: st.mtime }] : [];
  });
  const createdCwd = !existsSync(path.join(spec.rootfs, spec.cwd));
  if (createdCwd) mkdirSync(path.join(spec.rootfs, spec.cwd), { recursive: true });
  const args = [
    '--bind', spec.rootfs, '/',
    '--proc', '/proc',
    '--dev', '/dev',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts',
    '--hostname', 'buildkitsandbox',
    '--die-with-parent',
    '--new-session',
    '--chdir', spec.cwd,
  ];
  if (spec.network === 'none') args.push('--unshare-net');
  // Without root, the command runs as root in a user namespace that maps the invoking user to it, as a
  // rootless builder's does (apt, chmod and the like expect root), and what it writes is the user's own,
  // which the layer records as root's. Only that one id is mapped: another USER cannot be switched to.
  if (process.getuid?.() !== 0) args.push('--unshare-user', '--uid', '0', '--gid', '0');
  if (existsSync(path.join(spec.rootfs, 'etc'))) {
    for (const f of ['/etc/resolv.conf', '/etc/hosts']) if (existsSync(f)) args.push('--ro-bind-try', f, f);
  }
  for (const m of spec.mounts ?? []) {
    if (m.kind === 'bind') args.push(m.readonly ? '--ro-bind' : '--bind', m.source, m.target);
    else args.push(...(m.size ? ['--size', String(m.size)] : []), '--tmpfs', m.target);
  }
  const asUser = spec.user && spec.user.uid !== 0;
  if (asUser) {
    if (!existsSync(RUN_AS_HELPER)) {
      throw new ExecError('RUN as a non-root USER needs the strata-run-as helper, which was not built', {
        hint: 'install a C compiler and libc6-dev, then run npm run build (scripts/build-native.sh)',
      });
    }
    args.push('--ro-bind', RUN_AS_HELPER, `/${RUN_AS}`);
    const groups = spec.user!.groups.length ? spec.user!.groups.join(',') : '-';
    args.push('--', `/${RUN_AS}`, String(spec.user!.uid), String(spec.user!.gid), groups, '--', ...spec.argv);
  } else {
    args.push('--', ...spec.argv);
  }

  const tail: string[] = [];
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      // The environment goes to bwrap itself, which hands it on: never on a command line another process could read.
      // In a process group of its own: killed while it is still setting up, bwrap leaves the process it cloned
      // for the sandbox waiting forever for a word from its parent (not yet its child's parent-death signal);
      // killing the group takes that one too.
      const child = spawn(bwrap, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...spec.env }, detached: true });
      const killAll = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const onAbort = killAll;
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      if (spec.signal?.aborted) onAbort();
      let killTimer: NodeJS.Timeout | undefined;
      const onStop = () => {
        // bwrap -> its init in the new pid namespace -> the command: the command and what it started get the signal.
        for (const pid of descendants(child.pid ?? -1).slice(1)) {
          try {
            process.kill(pid, spec.stop!.sig);
          } catch {
            // gone already
          }
        }
        killTimer = setTimeout(killAll, spec.stop!.graceMs);
      };
      spec.stop?.signal.addEventListener('abort', onStop, { once: true });
      if (spec.stop?.signal.aborted) onStop();
      for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
        let pending = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          pending += chunk;
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) {
            tail.push(line);
            if (tail.length > TAIL_LINES) tail.shift();
            spec.onOutput?.(name, line);
          }
        });
        stream.on('end', () => {
          if (pending) {
            tail.push(pending);
            if (tail.length > TAIL_LINES) tail.shift();
            spec.onOutput?.(name, pending);
          }
        });
      }
      child.on('error', (e) => reject(new ExecError(`cannot start the sandbox: ${e.message}`, { cause: e, hint: 'is bubblewrap installed and usable here?' })));
      child.on('close', (code, signal) => {
        spec.signal?.removeEventListener('abort', onAbort);
        spec.stop?.signal.removeEventListener('abort', onStop);
        if (killTimer) clearTimeout(killTimer);
        if (spec.signal?.aborted) reject(cancelled());
        else resolve(code ?? (signal ? 128 + 9 : 1));
      });
    });
    return { exitCode, tail };
  } finally {
    // Leave no trace of the sandbox in the root filesystem: what bwrap made for a mount, if still empty, goes.
    for (const stub of stubs) {
      for (let i = stub.chain.length - 1; i >= 0; i--) {
        const p = path.join(spec.rootfs, stub.chain[i]!);
        const st = lstatSync(p, { throwIfNoEntry: false });
        if (st?.isDirectory() && readdirSync(p).length === 0) rmdirSync(p);
        else if (i === stub.chain.length - 1 && !stub.dir && st?.isFile() && st.size === 0) rmSync(p);
        else break;
      }
    }
    for (const { dir, atime, mtime } of stubParents) {
      try {
        utimesSync(dir, atime, mtime);
      } catch {
        // removed by the step itself
      }
    }
  }
}
