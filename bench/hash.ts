/**
 * Context hashing against its floors and its peers, on reproducible trees.
 * In-process rows come from the same code as `strata hash --bench`; the
 * whole-process rows time the CLI the way a user runs it; peers run over
 * the same files where installed. STRATA_BENCH_SCALE shrinks the trees
 * (default 1: the sizes of HASHING-LIMITS.md), STRATA_BENCH_TREES picks
 * them (e.g. "B"), STRATA_BENCH_DIR moves the generated trees.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchmarkHashing, closeHashPool } from '../lib/context/index.js';
import { renderBenchTable } from '../lib/ui/index.js';
import { ensureGitDir, ensureTree, treeSpecs } from './trees.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'bin', 'strata.cjs');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The fastest of `runs` runs of a spawned command (`before` runs untimed before each). */
function bestOf(runs: number, run: () => SpawnSyncReturns<string>, before?: () => void): { seconds: number; stdout: string } {
  let best = { seconds: Infinity, stdout: '' };
  for (let i = 0; i < runs; i++) {
    before?.();
    const start = process.hrtime.bigint();
    const r = run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.status !== 0) throw new Error(`strata hash failed: ${r.stderr.slice(0, 300)}`);
    if (seconds < best.seconds) best = { seconds, stdout: r.stdout };
  }
  return best;
}

/** The first regular file below dir, by name (for the one-file-changed run). */
function firstFile(dir: string): string {
  for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (d.isFile()) return path.join(dir, d.name);
    if (d.isDirectory()) {
      const inner = firstFile(path.join(dir, d.name));
      if (inner) return inner;
    }
  }
  return '';
}

/** Best wall time of `runs` runs of a shell command, in seconds. */
function timeShell(command: string, runs = 3, env: NodeJS.ProcessEnv = process.env): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', command], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr.toString().slice(0, 300)}`);
    best = Math.min(best, s);
  }
  return best;
}

export async function benchHash(): Promise<string[]> {
  const scale = Number(process.env.STRATA_BENCH_SCALE ?? '1');
  const pick = (process.env.STRATA_BENCH_TREES ?? 'ABC').toUpperCase();
  const base = process.env.STRATA_BENCH_DIR ?? path.join(tmpdir(), `strata-bench-trees-${scale}`);
  const out: string[] = [];
  for (const spec of treeSpecs(scale)) {
    if (!pick.includes(spec.name[0]!)) continue;
    const dir = ensureTree(base, spec);
    const report = await benchmarkHashing(dir);
    out.push(renderBenchTable(report, { color: false }), '');

    const store = path.join(base, `store-${spec.name}`);
    rmSync(store, { recursive: true, force: true });
    const env = { ...process.env, STRATA_STORE: store };
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const rows: { name: string; seconds: number; rss?: number }[] = [];
    const strata = (name: string, args: string, before?: () => void) => {
      const run = bestOf(3, () => spawnSync('sh', ['-c', `node ${q(bin)} hash --json ${args} ${q(dir)}`], { env, encoding: 'utf8' }), before);
      rows.push({ name, seconds: run.seconds, rss: (JSON.parse(run.stdout) as { peakRssBytes: number }).peakRssBytes });
    };
    strata('strata hash --no-stat-cache (whole process)', '--no-stat-cache');
    spawnSync('sh', ['-c', `node ${q(bin)} hash --json ${q(dir)}`], { env });
    strata('strata hash, warm stat cache (whole process)', '');
    // One file rewritten with the same bytes: its stat moves, so it is read again and the cache rewritten.
    const edited = firstFile(dir);
    strata('strata hash, warm, one file changed', '', () => writeFileSync(edited, readFileSync(edited)));
    rows.push({ name: 'node start-up (floor of any CLI)', seconds: timeShell('node -e 0') });
    rows.push({ name: 'find -printf size+mtime (stat peer)', seconds: timeShell(`find ${q(dir)} -printf '%s %T@\\n' > /dev/null`) });
    const gitDir = spec.name.startsWith('C') || !has('git') ? undefined : ensureGitDir(base, spec);
    if (gitDir) rows.push({ name: 'git status (the tree committed)', seconds: timeShell(`git --git-dir=${q(gitDir)} --work-tree=${q(dir)} status --porcelain > /dev/null`) });
    const xargs = (tool: string) => `cd ${q(dir)} && find . -type f -print0 | xargs -0 -P2 -n 256 ${tool} > /dev/null 2>&1`;
    if (has('xxhsum')) rows.push({ name: 'xxhsum -H128, xargs -P2 (fastest peer)', seconds: timeShell(xargs('xxhsum -H128')) });
    else out.push('xxhsum: not installed (apt-get install xxhash) - skipped');
    if (has('b3sum')) rows.push({ name: 'b3sum, xargs -P2', seconds: timeShell(xargs('b3sum')) });
    if (has('git')) {
      rows.push({ name: 'git hash-object --stdin-paths', seconds: timeShell(`cd ${q(dir)} && find . -type f | git hash-object --stdin-paths > /dev/null`) });
    }
    const width = Math.max(...rows.map((r) => r.name.length));
    const ratio = (name: string, peer: string) => {
      const a = rows.find((r) => r.name.startsWith(name));
      const b = rows.find((r) => r.name.startsWith(peer));
      return a && b ? `${(a.seconds / b.seconds).toFixed(2)}x` : 'n/a';
    };
    out.push(`whole-process, ${spec.name} (best of 3):`);
    for (const r of rows) out.push(`  ${r.name.padEnd(width)}  ${(r.seconds * 1000).toFixed(0).padStart(7)} ms${r.rss ? `  peak RSS ${(r.rss / 2 ** 20).toFixed(0)} MiB` : ''}`);
    out.push(`  goals: cold / xxhsum ${ratio('strata hash --no-stat-cache', 'xxhsum')} (<= 1), warm / git status ${ratio('strata hash, warm stat', 'git status')} (<= 1), warm / find ${ratio('strata hash, warm stat', 'find')} (<= 1.5)`);
    out.push('');
  }
  await closeHashPool();
  return out;
}
