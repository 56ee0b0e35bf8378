/**
 * The strata command as the CLI suites run it: the built bin on one store,
 * without colour; and the busybox base image they import first.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './conformance.js';

export const strataBin = path.join(repoRoot, 'dist', 'bin', 'strata.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function strataOn(store: string) {
  const env = { ...process.env, NO_COLOR: '1', STRATA_STORE: store };
  /** Runs strata with `args` (and `extraEnv` over its environment): its exit code and output. */
  const run = (args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): CliRun => {
    const r = spawnSync(process.execPath, [strataBin, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** The same, failing the test unless it exits 0. */
  const ok = (args: readonly string[]): CliRun => {
    const r = run(args);
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
