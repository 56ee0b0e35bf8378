/**
 * checkContext: the no-change check `strata build` makes before it
 * loads the engine. It must say "unchanged" only when a hash would find
 * exactly the context the stat cache describes, for small caches and big
 * ones (strata-stat.node lstats them in the process, on every core above
 * 2,048 entries).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { checkContext, closeHashPool, hashContext } from '../../lib/context/index.js';
import { repoRoot } from '../helpers/conformance.js';
import { ageTree, makeTree, PAST, removeDir, tempDir } from './fixtures.js';

/** Whether the check finds nothing moved (false, too, when the file is not the cache named). */
const contextUnchanged = (root: string, statCacheFile: string, id: string) => checkContext(root, statCacheFile, id)?.changed.length === 0;

describe('checkContext', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) removeDir(d);
    await closeHashPool();
  });

  /** A context of `files` files, aged so that its stat cache trusts them, hashed once; its cache file and that cache's id. */
  async function hashedContext(files: number): Promise<{ root: string; statCacheFile: string; id: string }> {
    const root = tempDir();
    const cacheDir = tempDir();
    dirs.push(root, cacheDir);
    const tree: Record<string, string> = {};
    for (let i = 0; i < files; i++) tree[`d${i % 20}/f${i}.txt`] = `file ${i}\n`;
    makeTree(root, tree);
    ageTree(root, Object.keys(tree));
    for (let d = 0; d < Math.min(files, 20); d++) utimesSync(path.join(root, `d${d}`), PAST, PAST);
    utimesSync(root, PAST, PAST);
    const statCacheFile = path.join(cacheDir, 'ctx.statcache');
    const ctx = await hashContext(root, { statCacheFile });
    assert.ok(ctx.statCacheId, 'hashContext names the stat cache it left');
    return { root, statCacheFile, id: ctx.statCacheId };
  }

  for (const [what, files] of [['a small context (its lstats on one thread)', 40], ['a big one (split over every core)', 3000]] as const) {
    it(`finds every kind of change in ${what}, and none where there is none`, async () => {
      assert.ok(existsSync(path.join(repoRoot, 'dist', 'libexec', 'strata-stat.node')), 'dist/libexec/strata-stat.node is missing: npm run build compiles it');
      const { root, statCacheFile, id } = await hashedContext(files);
      assert.equal(contextUnchanged(root, statCacheFile, id), true);
      // A second hash of the same files leaves the same cache, and says so.
      assert.equal((await hashContext(root, { statCacheFile })).statCacheId, id);

      const changes: [string, (root: string) => void][] = [
        ['content of the same size, the old mtime put back', (r) => {
          writeFileSync(path.join(r, 'd1/f1.txt'), 'FILE 1\n');
          utimesSync(path.join(r, 'd1/f1.txt'), PAST, PAST);
        }],
        ['a touch', (r) => utimesSync(path.join(r, 'd2/f2.txt'), new Date(), new Date())],
        ['a chmod', (r) => chmodSync(path.join(r, 'd3/f3.txt'), 0o600)],
        ['a new file', (r) => writeFileSync(path.join(r, 'd4/new.txt'), 'new')],
        ['a new empty directory', (r) => mkdirSync(path.join(r, 'd5/empty'))],
        ['a file removed', (r) => rmSync(path.join(r, 'd6/f6.txt'))],
        ['a file renamed', (r) => renameSync(path.join(r, 'd7/f7.txt'), path.join(r, 'd7/g7.txt'))],
      ];
      // Each in a context of its own, so that one change cannot hide another.
      for (const [change, make] of changes) {
        const c = await hashedContext(files);
        make(c.root);
        assert.equal(contextUnchanged(c.root, c.statCacheFile, c.id), false, change);
      }

      // Another cache, or none: not the cache the answer was made with.
      const other = await hashedContext(files);
      assert.equal(contextUnchanged(root, other.statCacheFile, id), false, 'another context\'s cache');
      writeFileSync(statCacheFile, readFileSync(statCacheFile).subarray(0, 200));
      assert.equal(contextUnchanged(root, statCacheFile, id), false, 'a cache cut short');
      rmSync(statCacheFile);
      assert.equal(contextUnchanged(root, statCacheFile, id), false, 'no cache');
    });
  }

  it('does not trust a file written just before its cache was (racily clean) until a hash has looked again', async () => {
    const root = tempDir();
    const cacheDir = tempDir();
    dirs.push(root, cacheDir);
    makeTree(root, { 'a.txt': 'a' });
    const statCacheFile = path.join(cacheDir, 'ctx.statcache');
    const first = await hashContext(root, { statCacheFile });
    assert.equal(contextUnchanged(root, statCacheFile, first.statCacheId!), false);
    // Dated well before any cache to come (the file, and the directory it was written in), they are trusted by the next one.
    ageTree(root, ['a.txt']);
    utimesSync(root, PAST, PAST);
    const second = await hashContext(root, { statCacheFile });
    assert.notEqual(second.statCacheId, first.statCacheId);
    assert.equal(contextUnchanged(root, statCacheFile, second.statCacheId!), true);
  });
});
