/** strata cache prune --build: the build cache goes, the images named in the store stay whole. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pruneBuildCache } from '../../lib/build/index.js';
import { blobPath } from '../../lib/cache/index.js';
import { readManifest, requireImage } from '../../lib/image/index.js';
import { strataBin, strataOn } from '../helpers/cli.js';

const bin = strataBin;
const scratch = mkdtempSync(path.join(tmpdir(), 'strata-prune-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const { ok: strata, importBusybox } = strataOn(store);

function context(name: string, dockerfile: string): string {
  const dir = path.join(scratch, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  writeFileSync(path.join(dir, 'f.txt'), name);
  return dir;
}

const blobsOf = (ref: string) => {
  const image = requireImage(store, ref);
  const manifest = readManifest(store, image.manifest);
  return [image.manifest.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
};
const entriesIn = (root: string, dir: string) => (existsSync(path.join(root, dir)) ? readdirSync(path.join(root, dir)) : []);
const entries = (dir: string) => entriesIn(store, dir);

describe('strata cache prune --build', () => {
  before(() => importBusybox(scratch));

  it('removes the records, the blobs and layer directories no image names, and what COPY keeps; the images stay whole', async () => {
    const kept = context('kept', 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\n');
    const dropped = context('dropped', 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\n');
    strata(['build', '-t', 'kept:1', kept]);
    const droppedDigest = strata(['build', dropped]).stdout.trim();
    const droppedLayers = readManifest(store, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: droppedDigest, size: 0 }).layers.map((l) => l.digest);
    assert.ok(entries('cache/keys').length > 0 && entries('cache/copies').length > 0);

    // As a build that is running now would see it: what was just made stays.
    const fresh = await pruneBuildCache(store);
    assert.deepEqual([fresh.blobs.removed, fresh.snapshots.removed], [0, 0]);
    assert.ok(droppedLayers.every((d) => existsSync(blobPath(store, d))));

    const pruned = await pruneBuildCache(store, { graceMs: 0 });
    assert.equal(entries('cache/keys').length, 0);
    assert.equal(entries('cache/copies').length, 0);
    assert.ok(pruned.blobs.removed >= 2, `the unnamed image's own layers went: ${JSON.stringify(pruned)}`);
    for (const d of droppedLayers.slice(1)) assert.ok(!existsSync(blobPath(store, d)), d);
    for (const d of [...blobsOf('kept:1'), ...blobsOf('busybox:local')]) assert.ok(existsSync(blobPath(store, d)), d);
    execFileSync('skopeo', ['inspect', `oci:${store}:kept:1`], { stdio: 'pipe' });

    // The next build runs its steps again and makes the same files.
    const again = spawnSync(process.execPath, [bin, 'build', '--progress', 'plain', '-t', 'kept:2', kept], { encoding: 'utf8', env: { ...process.env, STRATA_STORE: store } });
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /CACHED/);
    const out = path.join(scratch, 'files');
    strata(['image', 'save', 'kept:2', '-o', path.join(scratch, 'kept.tar')]);
    strata(['build', '-q', '-o', out, kept]);
    assert.ok(existsSync(path.join(out, 'copied')));
  });

  it('keeps the layer directories a build used within the grace period, however old they are', async () => {
    const dir = context('used', 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\n');
    strata(['build', dir]);
    const snapshots = path.join(store, 'snapshots');
    const layerDirs = () => readdirSync(snapshots).filter((n) => /^[0-9a-f]{24}$/.test(n));
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of readdirSync(snapshots)) utimesSync(path.join(snapshots, name), hourAgo, hourAgo);
    // A step on top of those layers: the build looks them up (and mounts them) again.
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\nRUN true > /more\n');
    strata(['build', dir]);
    const before = layerDirs();
    const pruned = await pruneBuildCache(store);
    assert.equal(pruned.snapshots.removed, 0, `all were made or used just now: ${before.join(' ')}`);
    assert.deepEqual(layerDirs(), before);
  });

  it('--keep-storage removes the oldest records only until the cache holds at most that much beyond the images', () => {
    const own = path.join(scratch, 'store-keep');
    const cli = strataOn(own);
    mkdirSync(path.join(scratch, 'keep'));
    cli.importBusybox(path.join(scratch, 'keep'));
    const records = () => entriesIn(own, 'cache/keys');
    const age = (hours: number) => {
      const then = new Date(Date.now() - hours * 3600_000);
      // What the build just made: its records, and its blobs and layer directories (past the grace period).
      for (const dir of ['cache/keys', 'blobs/sha256', 'snapshots']) {
        for (const name of entriesIn(own, dir)) if (statSync(path.join(own, dir, name)).mtimeMs > Date.now() - 60_000) utimesSync(path.join(own, dir, name), then, then);
      }
    };
    // Three builds, each a 1 MiB layer no image names, made three, two and one hours ago.
    const built: string[][] = [];
    for (const [i, hours] of [[1, 3], [2, 2], [3, 1]] as const) {
      const dir = context(`keep-${i}`, `FROM busybox:local\nRUN head -c 1048576 /dev/urandom > /x${i}\n`);
      const before = new Set(records());
      cli.ok(['build', dir]);
      built.push(records().filter((r) => !before.has(r)));
      age(hours);
    }
    const du = () => JSON.parse(cli.ok(['cache', 'du', '--format', 'json']).stdout) as { images: { count: number; bytes: number }; buildCache: { records: number; bytes: number } };
    const before = du();
    assert.equal(before.images.count, 1, 'busybox:local');
    assert.ok(before.buildCache.records === 3 && before.buildCache.bytes > 3 * 1024 * 1024, JSON.stringify(before));
    const r = cli.ok(['cache', 'prune', '--build', '--keep-storage', '1.5MiB']);
    assert.match(r.stdout, /^removed 2 cache records, [2-9] blobs? \(2\.\d MiB\), .*; the cache holds 1\.0 MiB of layers beyond the images'$/m);
    // The two oldest went, the newest stayed (and its step is still CACHED).
    assert.deepEqual(records(), built[2]);
    const after = du();
    assert.ok(after.buildCache.records === 1 && after.buildCache.bytes < 1.5 * 1024 * 1024, JSON.stringify(after));
    assert.match(cli.ok(['cache', 'du']).stdout, /^TYPE\s+COUNT\s+SIZE\nimages\s+1\s+[\d.]+ MiB\nbuild cache\s+1 record\s+1\.0 MiB beyond the images\ncache mounts\s+0\s+0 B/);
    const again = cli.ok(['build', '--progress', 'plain', path.join(scratch, 'keep-3')]);
    assert.match(again.stderr, /^#1 CACHED$/m);
    const bad = cli.run(['cache', 'prune', '--build', '--keep-storage', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid --keep-storage "lots"\nhint: give a size such as 10GB/);
  });

  it('says what it removed, and refuses --older-than that is no duration', () => {
    assert.match(strata(['cache', 'prune', '--build', '--older-than', '24h']).stdout, /^removed \d+ cache records?, \d+ blobs? \(.*\), \d+ layer director(y|ies) \(.*\), what \d+ COPY instructions? kept \(.*\)$/m);
    const bad = spawnSync(process.execPath, [bin, 'cache', 'prune', '--build', '--older-than', 'yesterday'], { encoding: 'utf8', env: { ...process.env, STRATA_STORE: store } });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid --older-than "yesterday"\nhint: give a duration such as 24h/);
  });
});
