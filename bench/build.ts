/**
 * strata build on the peer workload (../shared/peers/workload: a
 * multi-stage Dockerfile whose RUNs sleep 1 s), in a throwaway store: a
 * cold build, a no-change rebuild, a one-file edit and a manifest edit,
 * each with strata's own overhead (wall time minus the time its RUN
 * commands took). With a Docker engine reachable (../shared/peers/setup.sh
 * starts one) the same builds run with BuildKit (`docker build`, plain
 * progress, --network=none as the peers need) on the same files in the
 * same run, and the ratios are printed against the issue's goals; without
 * one, only strata's figures.
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
import { startTarThread, type SnapshotterKind } from '../lib/snapshot/index.js';
import { waitQuiet } from './quiet.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const peers = path.join(process.env.STRATA_SHARED ?? path.join(root, '..', 'shared'), 'peers');
const bin = path.join(root, 'dist', 'bin', 'strata.cjs');

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

const docker = process.env.DOCKER ?? '/usr/bin/docker';

function dockerAnswers(): boolean {
  return existsSync(docker) && spawnSync(docker, ['info'], { stdio: 'ignore' }).status === 0;
}

/**
 * Empties BuildKit's cache and removes the images this benchmark made, by
 * name: an image prune would take busybox:local too whenever the container
 * setup.sh parks on it belongs to an earlier load of it, and every BuildKit
 * build after that fails to find its base.
 */
const BENCH_CONTEXTS = ['exclude-nm', 'include-nm'];
const dockerTag = (variant: string) => `strata-bench-${variant}:latest`;

function resetDocker(): void {
  spawnSync(docker, ['image', 'rm', '-f', ...BENCH_CONTEXTS.map(dockerTag)], { stdio: 'ignore' });
  spawnSync(docker, ['builder', 'prune', '-af'], { stdio: 'ignore' });
}

/**
 * One `docker build` with BuildKit. Its RUN time is the sum of its RUN steps' DONE durations (container
 * start included, as strata's RUN time includes its sandbox's); the steps of an edit rebuild run one after another.
 */
function dockerBuild(ctx: string, tag: string): Timing {
  const start = process.hrtime.bigint();
  const r = spawnSync(docker, ['build', '--network=none', '--progress=plain', '-t', tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '1' }, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`docker build failed: ${r.stderr.slice(-500)}`);
  const runSteps = new Set(r.stderr.match(/^#\d+ \[[^\]]+\] RUN /gm)?.map((line) => line.split(' ')[0]));
  let run = 0;
  for (const m of r.stderr.matchAll(/^(#\d+) DONE ([\d.]+)s$/gm)) if (runSteps.has(m[1]!)) run += Number(m[2]);
  const steps = new Set(r.stderr.match(/^#\d+ \[(?!internal\])[^\]]+\] (?!FROM )/gm)?.map((line) => line.split(' ')[0])).size;
  return { wall, run, cached: r.stderr.match(/^#\d+ CACHED$/gm)?.length ?? 0, steps };
}

const best = (runs: Timing[]): Timing => runs.reduce((a, b) => (b.wall < a.wall ? b : a));

/**
 * Node's own start, the floor of any command written for it. Where
 * NODE_EXTRA_CA_CERTS is set, Node reads and parses those certificates
 * before running any script (about 50 ms here, for a copy of the system's
 * bundle), so the CLI rows are measured both with the environment as it
 * is and without that variable, as on a machine that does not set it.
 */
function nodeStart(env: NodeJS.ProcessEnv = process.env): Timing {
  const start = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { env });
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, run: 0, cached: 0, steps: 0 };
}
const CLI_PLAIN = 'no change, CLI, no NODE_EXTRA_CA_CERTS';

function printRows(out: string[], title: string, rows: [string, Timing][]): void {
  out.push(title);
  for (const [name, t] of rows) {
    out.push(`  ${name.padEnd(26)} wall ${t.wall.toFixed(2).padStart(6)} s   RUN ${t.run.toFixed(2).padStart(5)} s   overhead ${(t.wall - t.run).toFixed(2).padStart(5)} s   ${t.cached}/${t.steps} steps cached`);
  }
}

export async function benchBuild(): Promise<string[]> {
  if (!existsSync(path.join(peers, 'workload', 'Dockerfile'))) return [`build: the peer workload (${peers}/workload) is absent; skipped`];
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-build-'));
  const out: string[] = [];
  try {
    execFileSync('bash', [path.join(peers, 'gen-context.sh'), path.join(work, 'ctx')], { stdio: 'ignore' });
    const rootfs = path.join(work, 'rootfs');
    execFileSync('bash', [path.join(root, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    const variants = process.env.STRATA_BENCH_CONTEXTS?.split(',') ?? BENCH_CONTEXTS;
    const withDocker = dockerAnswers();
    const results = new Map<string, [string, Timing][]>();
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
          // The builds below are one process's, as strata dev --watch makes them: it starts the tar thread at once.
          startTarThread();
          await waitQuiet();
          rows.push(['cold', await timedBuild(store, ctx, snapshotter)]);
          rows.push(['no change', await timedBuild(store, ctx, snapshotter)]);
          appendFileSync(path.join(ctx, 'src/mod0/sub0/file0.ts'), '\n// edited\n');
          rows.push(['one source file edited', await timedBuild(store, ctx, snapshotter)]);
          appendFileSync(path.join(ctx, 'package.json'), '\n');
          rows.push(['package.json edited', await timedBuild(store, ctx, snapshotter)]);
          // The same rebuild as a user types it: a process that starts, builds and exits (the rows above are
          // one process's build() calls, as strata dev makes them). One run first makes the CLI's own stat cache.
          const cli = (env: NodeJS.ProcessEnv = process.env): Timing => {
            const start = process.hrtime.bigint();
            const r = spawnSync(process.execPath, [bin, 'build', '--progress', 'plain', '--snapshotter', snapshotter, ctx], { env: { ...env, STRATA_STORE: store }, encoding: 'utf8' });
            if (r.status !== 0) throw new Error(`strata build failed: ${r.stderr.slice(-500)}`);
            const wall = Number(process.hrtime.bigint() - start) / 1e9;
            return { wall, run: 0, cached: r.stderr.match(/^#\d+ CACHED$/gm)?.length ?? 0, steps: r.stderr.match(/^#\d+ \[/gm)?.length ?? 0 };
          };
          cli();
          await waitQuiet();
          rows.push(['no change, CLI (best of 3)', best([cli(), cli(), cli()])]);
          rows.push(['node -e 0 (best of 3)', best([nodeStart(), nodeStart(), nodeStart()])]);
          if (process.env.NODE_EXTRA_CA_CERTS) {
            const { NODE_EXTRA_CA_CERTS: _, ...plain } = process.env;
            rows.push([CLI_PLAIN, best([cli(plain), cli(plain), cli(plain)])]);
            rows.push(['node -e 0, same', best([nodeStart(plain), nodeStart(plain), nodeStart(plain)])]);
          }
        } catch (e) {
          out.push(`build: context ${variant}, ${snapshotter} snapshotter: ${(e as Error).message}`);
          continue;
        }
        printRows(out, `build: peer workload, context ${variant} (strata, ${snapshotter} snapshotter, independent stages at once)`, rows);
        results.set(`${variant} ${snapshotter}`, rows);
      }
      if (!withDocker) continue;
      // BuildKit on the same files, the same edits, right after strata's runs.
      const tag = dockerTag(variant);
      const rows: [string, Timing][] = [];
      try {
        resetDocker();
        await waitQuiet();
        rows.push(['cold', dockerBuild(ctx, tag)]);
        await waitQuiet();
        rows.push(['no change (best of 3)', best([dockerBuild(ctx, tag), dockerBuild(ctx, tag), dockerBuild(ctx, tag)])]);
        appendFileSync(path.join(ctx, 'src/mod0/sub0/file0.ts'), '\n// edited again\n');
        rows.push(['one source file edited', dockerBuild(ctx, tag)]);
        appendFileSync(path.join(ctx, 'package.json'), '\n');
        rows.push(['package.json edited', dockerBuild(ctx, tag)]);
      } catch (e) {
        out.push(`build: context ${variant}, BuildKit: ${(e as Error).message}`);
        continue;
      } finally {
        resetDocker();
      }
      printRows(out, `build: peer workload, context ${variant} (docker build, BuildKit)`, rows);
      const goal = variant === 'include-nm' ? 0.25 : 0.5;
      const kit = new Map(rows);
      for (const snapshotter of snapshotters) {
        const ours = results.get(`${variant} ${snapshotter}`);
        if (!ours) continue;
        const mine = new Map(ours);
        const ratio = (a: Timing, b: Timing, overhead: boolean) => (overhead ? (a.wall - a.run) / (b.wall - b.run) : a.wall / b.wall).toFixed(2);
        const plain = mine.get(CLI_PLAIN);
        out.push(`  strata (${snapshotter}) / BuildKit: cold wall ${ratio(mine.get('cold')!, kit.get('cold')!, false)}x; ` +
          `no change wall, CLI ${ratio(mine.get('no change, CLI (best of 3)')!, kit.get('no change (best of 3)')!, false)}x` +
          `${plain ? ` (${ratio(plain, kit.get('no change (best of 3)')!, false)}x without NODE_EXTRA_CA_CERTS)` : ''} (goal <= ${goal}x); ` +
          `one-edit overhead ${ratio(mine.get('one source file edited')!, kit.get('one source file edited')!, true)}x (goal <= 0.2x); ` +
          `package.json-edit overhead ${ratio(mine.get('package.json edited')!, kit.get('package.json edited')!, true)}x`);
      }
    }
    if (!withDocker) out.push('docker: no engine answers (../shared/peers/setup.sh starts one); BuildKit figures measured earlier are in ../shared/peers/README.md');
  } finally {
    rmSync(work, { recursive: true, force: true });
    await closeHashPool();
  }
  return out;
}
