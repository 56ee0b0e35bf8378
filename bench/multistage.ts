/**
 * Independent stages at once: four stages each doing about 1 s of RUN work
 * (sleep, so the cores are not the limit) and a final stage copying from
 * all of them, built with --jobs 4 in a throwaway store. Prints the wall
 * time beside the longest and the sum of the stage times, the concurrency
 * efficiency (sum / (jobs x wall)) and the goal: wall <= 1.2 x the longest
 * stage. A stage's time runs from its first step's start to its last
 * step's end, as the engine's events report them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildEvent } from '../lib/build/index.js';
import { closeHashPool } from '../lib/context/index.js';
import { loadDockerfile, planBuild } from '../lib/dockerfile/index.js';
import { importImage } from '../lib/image/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const JOBS = 4;
const STAGES = ['alpha', 'beta', 'gamma', 'delta'];

const DOCKERFILE = [
  ...STAGES.flatMap((name) => [`FROM busybox:local AS ${name}`, `RUN sleep 0.5 && echo ${name} > /${name}.txt`, `RUN sleep 0.5 && echo done >> /${name}.txt`]),
  'FROM busybox:local',
  ...STAGES.map((name) => `COPY --from=${name} /${name}.txt /out/`),
  '',
].join('\n');

export async function benchMultistage(): Promise<string[]> {
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-multi-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    execFileSync('bash', [path.join(root, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    const store = path.join(work, 'store');
    await importImage(store, rootfs, 'busybox:local');
    const ctx = path.join(work, 'ctx');
    execFileSync('mkdir', ['-p', ctx]);
    writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    const typed = loadDockerfile(DOCKERFILE, { file: 'Dockerfile' });
    const events: BuildEvent[] = [];
    const start = Date.now();
    await build({ store, contextDir: ctx, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: true, jobs: JOBS, onEvent: (e) => events.push(e) });
    const wall = (Date.now() - start) / 1000;
    const stageOf = new Map<number, string>();
    const spans = new Map<string, [number, number]>();
    for (const e of events) {
      if (e.type === 'step-start') {
        stageOf.set(e.id, e.stage);
        const span = spans.get(e.stage);
        spans.set(e.stage, [Math.min(span?.[0] ?? e.time, e.time), span?.[1] ?? e.time]);
      }
      if (e.type === 'step-done') {
        const stage = stageOf.get(e.id)!;
        const span = spans.get(stage)!;
        span[1] = Math.max(span[1], e.time);
      }
    }
    const times = STAGES.map((s) => { const span = spans.get(s)!; return (span[1] - span[0]) / 1000; });
    const longest = Math.max(...times);
    const sum = times.reduce((a, b) => a + b, 0);
    return [
      `multistage: ${STAGES.length} independent stages of ~1 s RUN each + a final stage copying from all, --jobs ${JOBS} (strata)`,
      `  wall ${wall.toFixed(2)} s   longest stage ${longest.toFixed(2)} s   sum of stages ${sum.toFixed(2)} s`,
      `  wall / longest stage ${(wall / longest).toFixed(2)}x (goal <= 1.2x)   concurrency efficiency ${(sum / (JOBS * wall) * 100).toFixed(0)}%`,
      spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0
        ? 'docker: an engine answers, but side-by-side BuildKit runs are not wired into this benchmark yet'
        : 'docker: no engine here (../shared/peers/setup.sh starts one); no BuildKit figure in this run',
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
    await closeHashPool();
  }
}
