/**
 * The strata command as the CLI suites run it: the built bin, without
 * colour, on one store; and the busybox base image they import first.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './conformance.js';

export const strataBin = path.join(repoRoot, 'dist', 'bin', 'strata.cjs');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Set over this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** The working directory; the repository's root unless given. */
  readonly cwd?: string;
  /** What strata reads on its standard input. */
  readonly input?: string;
}

/** Runs the built strata with `args`: its exit code and output. */
export function runStrata(args: readonly string[], options: CliOptions = {}): CliRun {
  const r = spawnSync(process.execPath, [strataBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** strata on `store`, with `base` under each run's own options. */
export function strataOn(store: string, base: CliOptions = {}) {
  const env = { ...process.env, NO_COLOR: '1', STRATA_STORE: store, ...base.env };
  /** Runs strata with `args` (`options.env` over the store's environment): its exit code and output. */
  const run = (args: readonly string[], options: CliOptions = {}): CliRun => runStrata(args, { ...base, ...options, env: { ...env, ...options.env } });
  /** The same, failing the test unless it exits 0. */
  const ok = (args: readonly string[], options: CliOptions = {}): CliRun => {
    const r = run(args, options);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  /** Makes busybox's root filesystem under `dir` and imports it as busybox:local. */
  const importBusybox = (dir: string): void => {
    const rootfs = path.join(dir, 'rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    ok(['image', 'import', rootfs, '--tag', 'busybox:local']);
  };
  return { env, run, ok, importBusybox };
}
