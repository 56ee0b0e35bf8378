/**
 * Reproducible benchmark trees, as HASHING-LIMITS.md describes them:
 * A "node_modules-like" (100,000 small JS-like files), B "source repo"
 * (5,000 files, 1-50 KB), C "big assets" (20 x 50 MiB). Seeded, with every
 * mtime pinned, generated once into a cache folder and reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { prng } from '../test/helpers/prng.js';

export interface TreeSpec {
  readonly name: string;
  readonly files: number;
  readonly dirs: number;
  readonly size: (rand: () => number) => number;
  readonly text: boolean;
}


function lognormal(rand: () => number, median: number, sigma: number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.round(median * Math.exp(sigma * z));
}

export function treeSpecs(scale: number): TreeSpec[] {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return [
    { name: 'A-node_modules', files: n(100_000), dirs: n(20_000), text: true, size: (r) => (r() < 0.001 ? 64 * 1024 + Math.floor(r() * 2 * 1024 * 1024) : Math.min(lognormal(r, 2048, 1.07), 60_000)) },
    { name: 'B-source', files: n(5_000), dirs: n(400), text: true, size: (r) => Math.round(Math.exp(Math.log(1024) + r() * (Math.log(50 * 1024) - Math.log(1024)))) },
    { name: 'C-assets', files: Math.max(2, Math.round(20 * Math.min(1, scale * 4))), dirs: 1, text: false, size: () => 50 * 1024 * 1024 },
  ];
}

const WORDS = ['function', 'return', 'const', 'module', 'exports', 'require', 'if', 'else', 'value', 'this', 'null', 'undefined', '=>', '{', '}', '(', ')', ';'];

function content(rand: () => number, size: number, text: boolean): Buffer {
  const buf = Buffer.allocUnsafe(size);
  if (!text) {
    for (let i = 0; i < size; i += 4) buf.writeUInt32LE((rand() * 0x100000000) >>> 0, Math.min(i, size - 4 < 0 ? 0 : size - 4));
    return buf;
  }
  let at = 0;
  while (at < size) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]! + (rand() < 0.1 ? '\n' : ' ');
    at += buf.write(w, at, Math.min(w.length, size - at), 'latin1');
  }
  return buf;
}

/** Creates the tree under `base` unless a finished one is there; returns its path. */
export function ensureTree(base: string, spec: TreeSpec, seed = 20240601): string {
  const root = path.join(base, spec.name);
  const done = path.join(base, `${spec.name}.done`);
  if (existsSync(done)) return root;
  rmSync(root, { recursive: true, force: true });
  const rand = prng(seed + spec.files);
  const dirs: string[] = [''];
  for (let i = 1; i < spec.dirs; i++) {
    const parent = dirs[Math.floor(rand() * dirs.length)]!;
    dirs.push(parent ? `${parent}/d${i}` : `d${i}`);
  }
  for (const d of dirs) mkdirSync(path.join(root, d), { recursive: true });
  const pinned = new Date('2024-01-01T00:00:00Z');
  for (let i = 0; i < spec.files; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const file = path.join(root, dir, `f${i}.${spec.text ? 'js' : 'bin'}`);
    writeFileSync(file, content(rand, Math.max(0, spec.size(rand)), spec.text));
    utimesSync(file, pinned, pinned);
  }
  writeFileSync(done, new Date().toISOString());
  return root;
}

/**
 * The tree as a committed git work tree, for `git status` as a peer: the
 * git directory sits beside the tree (never inside it, where it would be
 * hashed too). Made once (git add takes ~25 s on tree A) and reused.
 */
export function ensureGitDir(base: string, spec: TreeSpec): string | undefined {
  const gitDir = path.join(base, `${spec.name}.git`);
  const done = `${gitDir}.done`;
  if (existsSync(done)) return gitDir;
  rmSync(gitDir, { recursive: true, force: true });
  const git = (...args: string[]) => spawnSync('git', ['--git-dir', gitDir, '--work-tree', path.join(base, spec.name), ...args], { stdio: 'ignore' }).status === 0;
  const ok = spawnSync('git', ['init', '-q', '--bare', gitDir], { stdio: 'ignore' }).status === 0 &&
    git('add', '-A') && git('-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-qm', 'tree');
  if (!ok) return undefined;
  writeFileSync(done, new Date().toISOString());
  return gitDir;
}
