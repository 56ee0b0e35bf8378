/**
 * Running the built image for the dev loop: its ENTRYPOINT and CMD (or a
 * command given instead) in the sandbox, over the image's layers with a
 * fresh writable layer on top (the container layer, dropped when the app
 * stops), on the host's network so a dev server is reachable, with the
 * image's ENV, WORKDIR and USER. Stopped as a container is: the image's
 * STOPSIGNAL (SIGTERM by default), a grace period, then SIGKILL.
 */
import { constants } from 'node:os';
import type { LayerRef } from '../cache/index.js';
import { resolveUser } from '../build/index.js';
import { DEFAULT_PATH, envFromList } from '../dockerfile/index.js';
import { ExecError } from '../errors/index.js';
import { runInSandbox, SANDBOX_MOUNT_POINTS } from '../exec/index.js';
import type { ImageConfig } from '../image/index.js';
import type { Snapshotter } from '../snapshot/index.js';

export interface RunningApp {
  readonly argv: readonly string[];
  /** The app's exit status, when it ends (on its own or stopped). */
  readonly done: Promise<number>;
  /** Stops it (signal, grace, kill) and resolves with its exit status. */
  stop(): Promise<number>;
}

export interface AppOptions {
  readonly snapshots: Snapshotter;
  readonly layers: readonly LayerRef[];
  readonly config: ImageConfig;
  /** A shell command to run instead of the image's ENTRYPOINT/CMD. */
  readonly command?: string | undefined;
  readonly graceMs: number;
  readonly onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
}


/** The image's STOPSIGNAL as a signal name (SIGTERM when absent or unknown). */
function stopSignalOf(config: ImageConfig): NodeJS.Signals {
  const raw = config.config?.StopSignal?.toUpperCase();
  if (!raw) return 'SIGTERM';
  const named = raw.startsWith('SIG') ? raw : `SIG${raw}`;
  if (named in constants.signals) return named as NodeJS.Signals;
  const byNumber = Object.entries(constants.signals).find(([, n]) => String(n) === raw);
  return (byNumber?.[0] as NodeJS.Signals | undefined) ?? 'SIGTERM';
}

export async function startApp(options: AppOptions): Promise<RunningApp> {
  const c = options.config.config ?? {};
  const argv = options.command ? ['/bin/sh', '-c', options.command] : [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (argv.length === 0) throw new ExecError('the image has no ENTRYPOINT or CMD to run', { hint: 'add CMD to the Dockerfile, or pass --run-cmd "COMMAND"' });
  const env: Record<string, string> = Object.fromEntries(envFromList(c.Env ?? []));
  env.PATH ??= DEFAULT_PATH;
  const ws = await options.snapshots.workspace(options.layers, { mountPoints: SANDBOX_MOUNT_POINTS });
  const stopping = new AbortController();
  let done: Promise<number>;
  try {
    const user = c.User ? resolveUser(ws.root, c.User, { file: 'the image', line: 0 }) : undefined;
    env.HOME ??= user?.home ?? '/root';
    done = runInSandbox({
      rootfs: ws.root, argv, env, cwd: c.WorkingDir || '/', network: 'default', user, onOutput: options.onOutput,
      stop: { signal: stopping.signal, sig: stopSignalOf(options.config), graceMs: options.graceMs },
    }).then((r) => r.exitCode).finally(() => ws.discard());
  } catch (e) {
    await ws.discard();
    throw e;
  }
  return {
    argv,
    done,
    stop() {
      stopping.abort();
      return done;
    },
  };
}
