/**
 * The dev loop's reaction time on a big context: tree A of
 * HASHING-LIMITS.md (100,000 small files) watched by `strata dev --watch`
 * (in process), one small file that a COPY reads edited 100 times. For each
 * edit: from the write to the rebuild starting, less the debounce window.
 * Prints p50 and p95 against the goal (p50 <= 10 ms, p95 <= 30 ms) and the
 * resident memory with the watcher running. STRATA_BENCH_SCALE shrinks the
 * tree; STRATA_BENCH_EDITS sets the number of edits.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { statCachePath, stepInputsPath } from '../lib/cache/index.js';
import { closeHashPool } from '../lib/context/index.js';
import { loadDockerfile, planBuild } from '../lib/dockerfile/index.js';
import { runDev, type DevEvent } from '../lib/watch/index.js';
import { ensureTree, treeSpecs } from './trees.js';

const DEBOUNCE_MS = 50;
const HOT = 'strata-bench-hot';

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function benchWatch(): Promise<string[]> {
  const scale = Number(process.env.STRATA_BENCH_SCALE ?? '1');
  const edits = Number(process.env.STRATA_BENCH_EDITS ?? '100');
  const base = process.env.STRATA_BENCH_DIR ?? path.join(tmpdir(), `strata-bench-trees-${scale}`);
  const spec = treeSpecs(scale)[0]!;
  const tree = ensureTree(base, spec);
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-watch-'));
  const hot = path.join(tree, HOT);
  mkdirSync(hot, { recursive: true });
  writeFileSync(path.join(hot, 'edit.txt'), 'start\n');
  const dockerfile = path.join(work, 'Dockerfile');
  writeFileSync(dockerfile, `FROM scratch\nCOPY ${HOT}/ /hot/\n`);
  const store = path.join(work, 'store');
  const stop = new AbortController();
  const waiting: { type: string; resolve: (e: DevEvent) => void }[] = [];
  const onEvent = (e: DevEvent) => {
    const i = waiting.findIndex((w) => w.type === e.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(e);
  };
  const next = (type: string) => new Promise<DevEvent>((resolve) => waiting.push({ type, resolve }));
  const rssBefore = process.memoryUsage().rss;
  const started = next('watch-ready');
  const firstBuild = next('build-done');
  const loop = runDev({
    store, contextDir: tree, dockerfilePath: dockerfile,
    loadPlan: () => {
      const typed = loadDockerfile(`FROM scratch\nCOPY ${HOT}/ /hot/\n`, { file: 'Dockerfile' });
      return { typed, plan: planBuild(typed) };
    },
    ignoreFile: undefined, loadIgnore: () => [], tags: [], statCacheFile: statCachePath(store, tree), inputsFile: stepInputsPath(store, tree, dockerfile),
    snapshotter: 'auto', secrets: new Map(), jobs: undefined, watch: true, debounceMs: DEBOUNCE_MS, run: undefined, onEvent, signal: stop.signal,
  });
  const out: string[] = [];
  try {
    const t0 = Date.now();
    await Promise.all([started, firstBuild]);
    const readySeconds = (Date.now() - t0) / 1000;
    const latencies: number[] = [];
    for (let i = 0; i < edits; i++) {
      const rebuild = next('rebuild');
      const done = next('build-done');
      const at = process.hrtime.bigint();
      writeFileSync(path.join(hot, 'edit.txt'), `edit ${i}\n`);
      await rebuild;
      latencies.push(Number(process.hrtime.bigint() - at) / 1e6 - DEBOUNCE_MS);
      await done;
    }
    const rss = process.memoryUsage().rss;
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    out.push(`watch: ${spec.files.toLocaleString('en-US')}-file context (${spec.name}), ${edits} edits of a file a COPY reads, debounce ${DEBOUNCE_MS} ms (subtracted)`);
    out.push(`  first build and watcher ready  ${readySeconds.toFixed(2)} s`);
    out.push(`  write -> rebuild start         p50 ${p50.toFixed(1)} ms (goal <= 10)   p95 ${p95.toFixed(1)} ms (goal <= 30)   max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    out.push(`  resident memory, watching      ${(rss / 1024 / 1024).toFixed(0)} MB (${((rss - rssBefore) / 1024 / 1024).toFixed(0)} MB more than before the loop started)`);
  } finally {
    stop.abort();
    await loop.catch(() => 0);
    rmSync(hot, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    await closeHashPool();
  }
  return out;
}
