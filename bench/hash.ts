/**
 * Context hashing against its floors and its peers, on reproducible trees.
 * In-process rows come from the same code as `strata hash --bench`; the
 * whole-process rows time the CLI the way a user runs it; peers run over
 * the same files where installed. STRATA_BENCH_SCALE shrinks the trees
 * (default 1: the sizes of HASHING-LIMITS.md), STRATA_BENCH_TREES picks
 * them (e.g. "B"), STRATA_BENCH_DIR moves the generated trees.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchmarkHashing, closeHashPool } from '../lib/context/index.js';
import { renderBenchTable } from '../lib/ui/index.js';
import { ensureTree, treeSpecs } from './trees.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'bin', 'strata.js');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
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
    const rows: [string, number][] = [];
    rows.push(['strata hash --no-stat-cache (whole process)', timeShell(`node ${q(bin)} hash --json --no-stat-cache ${q(dir)}`, 3, env)]);
    timeShell(`node ${q(bin)} hash --json ${q(dir)}`, 1, env);
    rows.push(['strata hash, warm stat cache (whole process)', timeShell(`node ${q(bin)} hash --json ${q(dir)}`, 3, env)]);
    rows.push(['node start-up (floor of any CLI)', timeShell('node -e 0')]);
    rows.push(['find -printf size+mtime (stat peer)', timeShell(`find ${q(dir)} -printf '%s %T@\\n' > /dev/null`)]);
    const xargs = (tool: string) => `cd ${q(dir)} && find . -type f -print0 | xargs -0 -P2 -n 256 ${tool} > /dev/null`;
    if (has('xxhsum')) rows.push(['xxhsum -H128, xargs -P2 (fastest peer)', timeShell(xargs('xxhsum -H128'))]);
    else out.push('xxhsum: not installed (apt-get install xxhash) - skipped');
    if (has('b3sum')) rows.push(['b3sum, xargs -P2', timeShell(xargs('b3sum'))]);
    if (has('git')) {
      rows.push(['git hash-object --stdin-paths', timeShell(`cd ${q(dir)} && find . -type f | git hash-object --stdin-paths > /dev/null`)]);
    }
    const width = Math.max(...rows.map(([n]) => n.length));
    const cold = rows[0]![1];
    out.push(`whole-process, ${spec.name} (best of 3):`);
    for (const [name, s] of rows) out.push(`  ${name.padEnd(width)}  ${(s * 1000).toFixed(0).padStart(7)} ms  ${(s / cold).toFixed(2)}x strata cold`);
    out.push('');
  }
  await closeHashPool();
  return out;
}
