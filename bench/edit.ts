/**
 * One file edited under a big COPY, as a user rebuilds with the CLI: a
 * context of 200 files of 100 KB that do not compress (images, binaries,
 * minified bundles), `COPY . /app` then `RUN true`, in a throwaway store.
 * After a first build, each run rewrites one file and builds again. The
 * floor, measured in the same run, is what such a rebuild cannot avoid:
 * Node's start (`node -e 0`) plus writing the layer's tar once (GNU tar
 * of the context to a file). Where a Docker engine answers, BuildKit
 * makes the same edits on the same files. This is the rebuild where a
 * layer's gzip used to be most of the time (1.01 s here when layers were
 * gzip blobs); the peer workload's text compresses 80:1 and hides it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitQuiet } from './quiet.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'bin', 'strata.cjs');
const FILES = 200;
const FILE_BYTES = 100 * 1024;
const EDITS = 5;

function seconds(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchEdit(): Promise<string[]> {
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-edit-'));
  try {
    const ctx = path.join(work, 'ctx');
    mkdirSync(path.join(ctx, 'files'), { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY . /app\nRUN true\n');
    for (let i = 0; i < FILES; i++) writeFileSync(path.join(ctx, 'files', `f${i}.bin`), randomBytes(FILE_BYTES));
    const store = path.join(work, 'store');
    const env = { ...process.env, STRATA_STORE: store };
    const strata = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`strata ${args[0]} failed: ${r.stderr.slice(-500)}`);
    };
    const rootfs = path.join(work, 'rootfs');
    execFileSync('bash', [path.join(root, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    strata('image', 'import', rootfs, '--tag', 'busybox:local');
    strata('build', '-q', ctx);
    const edit = () => writeFileSync(path.join(ctx, 'files', 'f0.bin'), randomBytes(1000));
    await waitQuiet();
    const ours = Array.from({ length: EDITS }, () => {
      edit();
      return seconds(() => strata('build', '-q', ctx));
    });
    const tarFile = path.join(work, 'layer.tar');
    const floor = Math.min(...[1, 2, 3].map(() => seconds(() => execFileSync(process.execPath, ['-e', '0'])))) +
      Math.min(...[1, 2, 3].map(() => seconds(() => execFileSync('tar', ['-cf', tarFile, '-C', ctx, '.']))));
    const out = [
      `edit: one file rewritten under a ${(FILES * FILE_BYTES / 2 ** 20).toFixed(0)} MiB COPY of files that do not compress, then RUN true (strata CLI, ${EDITS} edits)`,
      `  strata build     median ${median(ours).toFixed(2)} s   best ${Math.min(...ours).toFixed(2)} s`,
      `  floor            ${floor.toFixed(2)} s (node -e 0, and tar of the context to a file)`,
      `  strata / floor   ${(median(ours) / floor).toFixed(2)}x`,
    ];
    const docker = process.env.DOCKER ?? '/usr/bin/docker';
    if (spawnSync(docker, ['info'], { stdio: 'ignore' }).status === 0) {
      const tag = 'strata-bench-edit:latest';
      const kit = (): number => seconds(() => {
        const r = spawnSync(docker, ['build', '--network=none', '-q', '-t', tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '1' }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`docker build failed: ${r.stderr.slice(-500)}`);
      });
      try {
        kit();
        await waitQuiet();
        const theirs = Array.from({ length: EDITS }, () => {
          edit();
          return kit();
        });
        out.push(`  docker build (BuildKit), same edits: median ${median(theirs).toFixed(2)} s; strata / BuildKit ${(median(ours) / median(theirs)).toFixed(2)}x`);
      } finally {
        spawnSync(docker, ['image', 'rm', '-f', tag], { stdio: 'ignore' });
        spawnSync(docker, ['builder', 'prune', '-af'], { stdio: 'ignore' });
      }
    } else {
      out.push('  docker: no engine answers (../shared/peers/setup.sh starts one); no BuildKit figure in this run');
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
