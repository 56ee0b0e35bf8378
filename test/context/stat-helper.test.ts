/**
 * The strata-stat helper (native/stat.c) checks a big stat cache on every
 * core, and strata-stat.node (native/stat-addon.c) makes the same lstats
 * inside Node: both must find exactly the rows that checking them one by
 * one in Node finds, whatever happened to them, and a warm hash that uses
 * the helper must equal one that does not.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lutimesSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { closeHashPool, hashContext } from '../../lib/context/index.js';
import { loadStatCache } from '../../lib/context/stat-cache.js';
import { statHelperAvailable, verifyInProcess, verifyWithHelper, verifyWithHelperSync } from '../../lib/context/stat-helper.js';
import { verifyRange } from '../../lib/context/walk-core.js';
import { repoRoot } from '../helpers/conformance.js';
import { PAST, removeDir, tempDir } from './fixtures.js';

describe('the stat helper', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) removeDir(d);
    await closeHashPool();
  });

  it('finds the rows that changed exactly as lstat in Node does, over thousands of rows and on both threads', async () => {
    assert.ok(statHelperAvailable(), 'dist/libexec/strata-stat is missing: npm run build compiles it (it needs a C compiler: apt-get install gcc libc6-dev)');
    const root = tempDir();
    dirs.push(root);
    const statCacheFile = path.join(tempDir(), 'ctx.statcache');
    dirs.push(path.dirname(statCacheFile));
    // 5,000 files in 50 directories, a symlink, a name with a newline and one that is not UTF-8.
    for (let d = 0; d < 50; d++) {
      mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(path.join(root, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    symlinkSync('d1/f1.txt', path.join(root, 'link'));
    writeFileSync(path.join(root, 'new\nline'), 'x');
    const notUtf8 = Buffer.concat([Buffer.from(root + '/'), Buffer.from([0x66, 0xff, 0x67])]);
    writeFileSync(notUtf8, 'latin');
    // Old enough to be trusted; then the stat cache is written.
    const names = ['link', 'new\nline', ...Array.from({ length: 50 }, (_, d) => [`d${d}`, ...Array.from({ length: 100 }, (_, f) => `d${d}/f${f}.txt`)]).flat()];
    for (const n of names) if (n !== 'link') utimesSync(path.join(root, n), PAST, PAST);
    lutimesSync(path.join(root, 'link'), PAST, PAST);
    utimesSync(notUtf8, PAST, PAST);
    utimesSync(root, PAST, PAST);
    const cold = await hashContext(root, { statCacheFile });
    const cache = () => loadStatCache(statCacheFile).cache!;
    assert.ok(existsSync(path.join(repoRoot, 'dist', 'libexec', 'strata-stat.node')), 'dist/libexec/strata-stat.node is missing: npm run build compiles it (with the node-api-headers package)');
    assert.deepEqual(await verifyWithHelper(root, cache()), [...verifyRange(root, cache(), 0, cache().count)]);
    assert.deepEqual(await verifyWithHelper(root, cache()), [], 'nothing changed');
    assert.deepEqual(verifyWithHelperSync(root, cache()), []);
    assert.deepEqual(verifyInProcess(root, cache()), []);

    // Every kind of change: content and size, mode, a touch, a deletion, a file turned directory, a symlink
    // retargeted, a rename, a file written just now (racily clean), the root's own listing.
    writeFileSync(path.join(root, 'd0/f0.txt'), 'longer content\n');
    utimesSync(path.join(root, 'd0/f0.txt'), PAST, PAST);
    chmodSync(path.join(root, 'd1/f2.txt'), 0o600);
    utimesSync(path.join(root, 'd2/f3.txt'), new Date('2024-02-02T00:00:00Z'), new Date('2024-02-02T00:00:00Z'));
    rmSync(path.join(root, 'd3/f4.txt'));
    rmSync(path.join(root, 'd4/f5.txt'));
    mkdirSync(path.join(root, 'd4/f5.txt'));
    unlinkSync(path.join(root, 'link'));
    symlinkSync('d2/f2.txt', path.join(root, 'link'));
    renameSync(path.join(root, 'd5/f6.txt'), path.join(root, 'd5/f6-renamed.txt'));
    writeFileSync(path.join(root, 'd6/f7.txt'), '6/7\n');
    const byHelper = await verifyWithHelper(root, cache());
    const byNode = [...verifyRange(root, cache(), 0, cache().count)];
    assert.deepEqual(byHelper, byNode);
    assert.deepEqual(verifyWithHelperSync(root, cache()), byNode);
    assert.deepEqual(verifyInProcess(root, cache()), byNode);
    assert.ok(byNode.length >= 9, `rows found: ${byNode.length}`);

    // A warm hash (which uses the helper for a cache this big) sees what a cold one sees.
    const warm = await hashContext(root, { statCacheFile });
    const fresh = await hashContext(root, {});
    assert.equal(warm.index.get('')!.digest.toString('hex'), fresh.index.get('')!.digest.toString('hex'));
    assert.notEqual(warm.index.get('')!.digest.toString('hex'), cold.index.get('')!.digest.toString('hex'));
  });

  it('gives up (the caller then checks the rows itself) on a root it cannot enter', async () => {
    const root = tempDir();
    dirs.push(root);
    const statCacheFile = path.join(root, '..', `${path.basename(root)}.statcache`);
    for (let f = 0; f < 10; f++) writeFileSync(path.join(root, `f${f}`), String(f));
    await hashContext(root, { statCacheFile });
    const cache = loadStatCache(statCacheFile).cache!;
    rmSync(statCacheFile);
    assert.equal(await verifyWithHelper(path.join(root, 'missing'), cache), undefined);
    assert.equal(verifyWithHelperSync(path.join(root, 'missing'), cache), undefined);
    assert.equal(verifyInProcess(path.join(root, 'missing'), cache), undefined);
  });
});
