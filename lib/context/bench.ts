/**
 * `strata hash --bench`: every way strata hashes a context, and the floors
 * they are measured against, in one process and one run, so the ratios
 * mean something on any machine.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashContext, updateContext } from './context.js';
import { hashThreads, readFilesOnPool } from './pool.js';
import { walkEntries } from './tree.js';

export interface BenchRow {
  readonly name: string;
  readonly seconds: number;
  readonly files: number;
  readonly bytes: number;
  /** Name of the row this one is compared with, if any. */
  readonly floor: string | undefined;
}

export interface BenchReport {
  readonly root: string;
  readonly threads: number;
  readonly files: number;
  readonly bytes: number;
  readonly rows: readonly BenchRow[];
  readonly peakRssBytes: number;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The least any hasher must do to notice a change: list every directory and lstat every entry. */
function statWalk(root: string, ignores: (rel: string) => boolean): number {
  let count = 0;
  const visit = (rel: string): void => {
    for (const d of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${d.name}` : d.name;
      if (ignores(child)) continue;
      lstatSync(path.join(root, child));
      count++;
      if (d.isDirectory()) visit(child);
    }
  };
  visit('');
  return count;
}

/** Runs `fn` `runs` times and keeps the fastest (the least disturbed by the rest of the machine). */
async function best<T>(runs: number, fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  let out: { seconds: number; value: T } | undefined;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const value = await fn();
    const s = seconds(start);
    if (!out || s < out.seconds) out = { seconds: s, value };
  }
  return out!;
}

export async function benchmarkHashing(root: string, options: { ignorePatterns?: readonly string[]; runs?: number } = {}): Promise<BenchReport> {
  const runs = options.runs ?? 3;
  const ignorePatterns = options.ignorePatterns ?? [];
  const scratch = mkdtempSync(path.join(tmpdir(), 'strata-bench-'));
  const statCacheFile = path.join(scratch, 'stat.cache');
  try {
    const first = await hashContext(root, { ignorePatterns });
    const files = [...walkEntries(first.tree)].filter((e) => e.kind === 'file').map((e) => ({ path: e.path, size: e.size }));
    const { files: nFiles, bytes } = first.stats;
    const rows: BenchRow[] = [];
    const row = (name: string, s: number, floor?: string, nf = nFiles, nb = bytes) => rows.push({ name, seconds: s, files: nf, bytes: nb, floor });

    const stat = await best(runs, () => statWalk(first.root, first.matcher.ignores));
    row('stat floor: walk + lstat, 1 thread', stat.seconds);
    const read = await best(runs, () => readFilesOnPool(first.root, files));
    row(`read floor: read every byte, ${hashThreads()} threads`, read.seconds);
    const cold = await best(runs, () => hashContext(root, { ignorePatterns }));
    row('cold hash (no stat cache)', cold.seconds, 'read floor');
    const single = await best(runs, () => hashContext(root, { ignorePatterns, inline: true }));
    row('cold hash, 1 thread', single.seconds, 'read floor');
    await hashContext(root, { ignorePatterns, statCacheFile });
    const warm = await best(runs, () => hashContext(root, { ignorePatterns, statCacheFile }));
    row(`warm hash (stat cache, ${warm.value.stats.cacheHits} hits)`, warm.seconds, 'stat floor');
    const target = files.reduce((a, b) => (b.size > 0 && (a.size === 0 || b.size < a.size) ? b : a), files[0] ?? { path: '', size: 0 });
    if (target.path) {
      const ctx = await hashContext(root, { ignorePatterns });
      const incremental = await best(runs, async () => {
        // Forget the file's stat so the update must read it again, without touching the user's files.
        ctx.index.get(target.path)!.stat.mtimeNs = 0n;
        return updateContext(ctx, [target.path], { ignorePatterns });
      });
      row('one-file incremental update', incremental.seconds, undefined, 1, target.size);
    }
    return { root: first.root, threads: hashThreads(), files: nFiles, bytes, rows, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
