/**
 * Property test: after any sequence of edits, an incremental update from the
 * changed paths gives exactly what a full rehash from scratch gives.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { closeHashPool, contextDirectories, hashContext, selectSources, updateContext, type HashedContext } from '../../lib/context/index.js';
import { makeTree, PAST, removeDir, tempDir } from './fixtures.js';
import { prng } from '../helpers/prng.js';

after(closeHashPool);

/** Everything a digest depends on, per path. */
function snapshot(ctx: HashedContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of ctx.index.values()) out[e.path] = `${e.kind} ${e.mode.toString(8)} ${e.digest.toString('hex')}`;
  return out;
}

function allPaths(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, rel))) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    const st = statSync(path.join(root, p), { throwIfNoEntry: false });
    if (st?.isDirectory() && !isLink(root, p)) out.push(...allPaths(root, p));
  }
  return out;
}

function isLink(root: string, p: string): boolean {
  try {
    return readdirSync(path.join(root, path.dirname(p)), { withFileTypes: true }).find((d) => d.name === path.basename(p))?.isSymbolicLink() ?? false;
  } catch {
    return false;
  }
}

type Edit = (root: string, pick: <T>(xs: T[]) => T, rand: () => number) => string[];

const NAMES = ['a', 'b', 'c.txt', 'd.tmp', 'e', 'ignored'];

const EDITS: Record<string, Edit> = {
  create(root, pick) {
    const dirs = ['', ...allPaths(root).filter((p) => statSync(path.join(root, p), { throwIfNoEntry: false })?.isDirectory() && !isLink(root, p))];
    const p = path.posix.join(pick(dirs), pick(NAMES) + pick(['', '1', '2']));
    if (existsSync(path.join(root, p))) return [];
    writeFileSync(path.join(root, p), `new ${p} ${Math.random()}`);
    return [p];
  },
  modify(root, pick, rand) {
    const files = allPaths(root).filter((p) => !isLink(root, p) && statSync(path.join(root, p)).isFile());
    if (!files.length) return [];
    const p = pick(files);
    // Same size half of the time: only the content (and ctime) differ.
    writeFileSync(path.join(root, p), rand() < 0.5 ? 'X'.repeat(statSync(path.join(root, p)).size) : `changed ${rand()}`);
    return [p];
  },
  chmod(root, pick) {
    const paths = allPaths(root).filter((p) => !isLink(root, p));
    if (!paths.length) return [];
    const p = pick(paths);
    const dir = statSync(path.join(root, p)).isDirectory();
    chmodSync(path.join(root, p), dir ? pick([0o755, 0o700, 0o775]) : pick([0o644, 0o600, 0o755, 0o4755]));
    return [p];
  },
  remove(root, pick) {
    const paths = allPaths(root);
    if (!paths.length) return [];
    const p = pick(paths);
    rmSync(path.join(root, p), { recursive: true, force: true });
    return [p];
  },
  rename(root, pick) {
    const paths = allPaths(root);
    if (!paths.length) return [];
    const from = pick(paths);
    const into = pick(['', ...paths.filter((p) => p !== from && !p.startsWith(from + '/'))]);
    const to = path.posix.join(into === '' ? '' : path.posix.dirname(into), pick(NAMES) + 'r');
    if (existsSync(path.join(root, to)) || to.startsWith(from + '/')) return [];
    try {
      renameSync(path.join(root, from), path.join(root, to));
    } catch {
      return [];
    }
    return [from, to];
  },
  mkdir(root, pick) {
    const p = pick(NAMES) + 'dir';
    const nested = `${p}/${pick(NAMES)}`;
    if (existsSync(path.join(root, p))) return [];
    mkdirSync(path.join(root, nested), { recursive: true });
    writeFileSync(path.join(root, nested, 'f'), 'in a new dir');
    return [p];
  },
  symlink(root, pick) {
    const p = pick(NAMES) + 'link';
    if (existsSync(path.join(root, p)) || isLink(root, p)) return [];
    symlinkSync(pick(['a', 'nowhere', '../outside', 'sub/b']), path.join(root, p));
    return [p];
  },
};

/**
 * Moves the mtimes of what an edit touched (and the directories above it)
 * into the past, as if the edit happened long ago: the stat cache then
 * trusts every untouched entry and must catch the touched ones by ctime,
 * size, inode or listing. (Without this everything is racily clean and
 * simply re-read, which proves less.)
 */
function ageAround(root: string, paths: string[]): void {
  const age = (p: string) => {
    const full = path.join(root, p);
    const st = lstatSync(full, { throwIfNoEntry: false });
    if (!st || st.isSymbolicLink()) return;
    utimesSync(full, PAST, PAST);
    if (st.isDirectory()) for (const name of readdirSync(full)) age(p ? `${p}/${name}` : name);
  };
  for (const p of paths) {
    age(p);
    for (let up = path.posix.dirname(p); ; up = path.posix.dirname(up)) {
      const dir = up === '.' ? '' : up;
      if (existsSync(path.join(root, dir))) utimesSync(path.join(root, dir), PAST, PAST);
      if (dir === '') break;
    }
  }
}

describe('incremental updates', () => {
  const ignorePatterns = ['ignored*', '**/*.tmp'];
  const roots: string[] = [];
  after(() => roots.forEach(removeDir));

  it('equal a full rehash after every step of random edit sequences', async () => {
    const names = Object.keys(EDITS);
    let warmHits = 0;
    let warmFiles = 0;
    for (let seq = 0; seq < 30; seq++) {
      const rand = prng(1000 + seq);
      const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const root = tempDir('strata-prop-');
      roots.push(root);
      makeTree(root, { a: 'a', 'sub/b': 'bb', 'sub/deep/c.txt': 'ccc', 'other/e': 'e', 'ignored/x': 'x' });
      const statCacheFile = `${root}.statcache`;
      roots.push(statCacheFile);
      const ctx = await hashContext(root, { ignorePatterns });
      await hashContext(root, { ignorePatterns, statCacheFile });
      const log: string[] = [];
      for (let step = 0; step < 12; step++) {
        const name = pick(names);
        const changed = EDITS[name]!(root, pick, rand);
        log.push(`${name} ${changed.join(' -> ')}`);
        ageAround(root, changed);
        await updateContext(ctx, changed, { ignorePatterns });
        const fresh = await hashContext(root, { ignorePatterns, inline: true });
        assert.deepEqual(snapshot(ctx), snapshot(fresh), `sequence ${seq}, after:\n${log.join('\n')}`);
        // The warm path: the tree restored from the stat cache and checked by lstat, in the workers half the time.
        const warm = await hashContext(root, { ignorePatterns, statCacheFile, inlineBudget: step % 2 ? 0 : undefined });
        assert.deepEqual(snapshot(warm), snapshot(fresh), `warm, sequence ${seq}, after:\n${log.join('\n')}`);
        warmHits += warm.stats.cacheHits;
        warmFiles += warm.stats.files;
        assert.equal(ctx.tree.digest.toString('hex'), fresh.tree.digest.toString('hex'));
        const counts = (c: HashedContext) => ({ files: c.stats.files, dirs: c.stats.dirs, symlinks: c.stats.symlinks, bytes: c.stats.bytes });
        assert.deepEqual(counts(ctx), counts(fresh), `counts, sequence ${seq}, after:\n${log.join('\n')}`);
        assert.deepEqual(counts(warm), counts(fresh), `warm counts, sequence ${seq}, after:\n${log.join('\n')}`);
        // The directories the dev loop watches, read off the columns where nothing was read below them.
        const dirsOf = (c: HashedContext) => [...c.index.values()].filter((e) => e.kind === 'dir').map((e) => e.path).sort();
        assert.deepEqual(contextDirectories(warm).sort(), dirsOf(fresh));
        assert.deepEqual(contextDirectories(ctx).sort(), dirsOf(fresh));
      }
    }
    // Most files are untouched at each step: the warm path must have trusted them, not re-read them.
    assert.ok(warmHits > warmFiles / 2, `warm runs reused ${warmHits} of ${warmFiles} files`);
  });

  it('re-reads only the changed file and reports what changed', async () => {
    const root = tempDir('strata-inc-');
    roots.push(root);
    makeTree(root, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`src/f${i}.js`, `// ${i}`])));
    makeTree(root, { 'package.json': '{}' });
    const ctx = await hashContext(root);
    const hashedBefore = ctx.stats.hashedFiles;
    const pkgBefore = selectSources(ctx, { sources: ['package.json'] }).digest;
    const srcBefore = selectSources(ctx, { sources: ['src'] }).digest;
    writeFileSync(path.join(root, 'src/f7.js'), '// edited');
    const selectors = [{ sources: ['package.json'] }, { sources: ['src/*.js'] }, { sources: ['src/f1.js'] }, { sources: ['.'] }];
    const result = await updateContext(ctx, [path.join(root, 'src/f7.js')], { selectors });
    assert.deepEqual(result.selectorsChanged, [1, 3]);
    assert.equal(ctx.stats.hashedFiles - hashedBefore, 1);
    assert.deepEqual(result.changed, ['src', 'src/f7.js']);
    assert.notEqual(result.before, result.after);
    assert.equal(selectSources(ctx, { sources: ['package.json'] }).digest, pkgBefore);
    assert.notEqual(selectSources(ctx, { sources: ['src'] }).digest, srcBefore);
  });

  it('changes nothing when a file is rewritten with the same bytes', async () => {
    const root = tempDir('strata-same-');
    roots.push(root);
    makeTree(root, { 'a.txt': 'same' });
    const ctx = await hashContext(root);
    writeFileSync(path.join(root, 'a.txt'), 'same');
    const result = await updateContext(ctx, ['a.txt']);
    assert.deepEqual(result.changed, []);
    assert.equal(result.before, result.after);
  });

  it('ignores changes to excluded paths without reading them', async () => {
    const root = tempDir('strata-ign-');
    roots.push(root);
    makeTree(root, { 'a.txt': 'a', 'node_modules/x.js': 'x' });
    const ctx = await hashContext(root, { ignorePatterns: ['node_modules'] });
    const hashed = ctx.stats.hashedFiles;
    writeFileSync(path.join(root, 'node_modules/x.js'), 'y');
    const result = await updateContext(ctx, ['node_modules/x.js', 'node_modules']);
    assert.deepEqual(result.changed, []);
    assert.equal(ctx.stats.hashedFiles, hashed);
  });
});
