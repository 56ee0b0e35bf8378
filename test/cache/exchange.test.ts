/**
 * --cache-to and --cache-from through a directory (what a CI system's own
 * cache carries): an empty store that imports a build's cache rebuilds it
 * with every step CACHED and no RUN run, to the identical image; mode=min
 * carries only the final image's steps; a damaged layer in the cache is
 * refused and its step built instead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { strataOn } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-cache-x-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let rootfs: string;

const strata = (args: string[], store: string) => strataOn(store).run(args);

/** A store with only the base image in it (the same image each time, as a registry would give every CI machine). */
function freshStore(name: string): string {
  const seed = path.join(scratch, 'seed');
  if (!existsSync(seed)) assert.equal(strata(['image', 'import', rootfs, '--tag', 'busybox:local'], seed).code, 0);
  const store = path.join(scratch, name);
  cpSync(seed, store, { recursive: true });
  return store;
}

/** `#N CACHED` / `#N DONE` per step text, from plain progress. */
function outcomes(stderr: string): Record<string, string> {
  const texts = new Map<string, string>();
  const out: Record<string, string> = {};
  for (const line of stderr.split('\n')) {
    const start = /^#(\d+) \[[^\]]+\] (.*)$/.exec(line);
    if (start) texts.set(start[1]!, start[2]!);
    const end = /^#(\d+) (CACHED|DONE)/.exec(line);
    if (end) out[texts.get(end[1]!)!] = end[2]!;
  }
  return out;
}

const DOCKERFILE = 'FROM busybox:local AS builder\nRUN echo compiled > /artifact\nFROM busybox:local\nCOPY --from=builder /artifact /app/artifact\nCOPY app.txt /app/\nRUN cat /app/artifact /app/app.txt > /app/all\n';

describe('cache export and import (type=local)', () => {
  let ctx: string;
  before(() => {
    rootfs = path.join(scratch, 'rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    ctx = mkdtempSync(path.join(scratch, 'ctx-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    writeFileSync(path.join(ctx, 'app.txt'), 'app\n');
  });

  it('an empty store importing a mode=max cache rebuilds everything CACHED, to the identical image', () => {
    const cacheDir = path.join(scratch, 'cache-max');
    const first = strata(['build', '--progress', 'plain', '--cache-to', `type=local,dest=${cacheDir},mode=max`, ctx], freshStore('a'));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /exported cache \(local, mode=max, 4 steps\)/);
    // The builder stage's tree is small: it travels inline in the cache config, so the import needs no blob for it.
    const blob = (digest: string) => path.join(cacheDir, 'blobs', 'sha256', digest.slice(7));
    const top = (JSON.parse(readFileSync(path.join(cacheDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!;
    const config = JSON.parse(readFileSync(blob((JSON.parse(readFileSync(blob(top.digest), 'utf8')) as { config: { digest: string } }).config.digest), 'utf8')) as { trees: { digest: string; inline?: string }[] };
    assert.ok(config.trees.length > 0 && config.trees.every((t) => t.inline !== undefined), 'small trees are inline');
    // The layers travel gzip-compressed (the store keeps the ones it made as plain tars).
    const layers = (JSON.parse(readFileSync(blob(top.digest), 'utf8')) as { layers: { mediaType: string; digest: string }[] }).layers.filter((l) => l.mediaType.includes('image.layer'));
    assert.ok(layers.length > 0 && layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip' && gunzipSync(readFileSync(blob(l.digest))).length > 0));
    for (const tree of config.trees) rmSync(blob(tree.digest));
    const second = strata(['build', '--progress', 'plain', '--cache-from', `type=local,src=${cacheDir}`, ctx], freshStore('b'));
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(Object.values(outcomes(second.stderr)), ['CACHED', 'CACHED', 'CACHED', 'CACHED']);
    assert.equal(second.stdout.trim(), first.stdout.trim(), 'the same image, byte for byte');
    // Lazily: the builder stage's layer is not needed (its tree came with the cache), so it was never fetched.
    assert.equal(strata(['build', '--progress', 'plain', '--target', 'builder', '-t', 'builder:x', ctx], path.join(scratch, 'a')).code, 0);
    // (The store keeps the layer as its plain tar, its digest its diffID; the cache carries its gzip twin.)
    const builderLayer = (JSON.parse(execFileSync('skopeo', ['inspect', `oci:${path.join(scratch, 'a')}:builder:x`], { encoding: 'utf8' })) as { Layers: string[] }).Layers.at(-1)!;
    const cached = (JSON.parse(readFileSync(blob((JSON.parse(readFileSync(blob(top.digest), 'utf8')) as { config: { digest: string } }).config.digest), 'utf8')) as { records: { record: { layer: { digest: string; diffId: string } | null } }[] })
      .records.find((e) => e.record.layer?.diffId === builderLayer)!.record.layer!;
    assert.ok(existsSync(blob(cached.digest)), 'the cache has the layer');
    for (const digest of [cached.digest, builderLayer]) assert.equal(existsSync(path.join(scratch, 'b', 'blobs', 'sha256', digest.slice(7))), false, 'the importing store did not fetch it');
  });

  it('mode=min carries the final image\'s steps: the builder runs again, and its identical output keeps the rest CACHED', () => {
    const cacheDir = path.join(scratch, 'cache-min');
    const first = strata(['build', '--progress', 'plain', '--cache-to', `type=local,dest=${cacheDir}`, ctx], freshStore('c'));
    assert.equal(first.code, 0, first.stderr);
    const second = strata(['build', '--progress', 'plain', '--cache-from', `type=local,src=${cacheDir}`, ctx], freshStore('d'));
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(outcomes(second.stderr), {
      'RUN echo compiled > /artifact': 'DONE',
      'COPY --from=builder /artifact /app/artifact': 'CACHED',
      'COPY app.txt /app/': 'CACHED',
      'RUN cat /app/artifact /app/app.txt > /app/all': 'CACHED',
    });
  });

  it('refuses a damaged layer in the cache and builds that step instead', () => {
    const cacheDir = path.join(scratch, 'cache-damaged');
    assert.equal(strata(['build', '--cache-to', `type=local,dest=${cacheDir},mode=max`, ctx], freshStore('e')).code, 0);
    // Truncate every layer blob of the cache (the gzip ones), leaving the records intact.
    const blobs = path.join(cacheDir, 'blobs', 'sha256');
    for (const name of readdirSync(blobs)) {
      const data = readFileSync(path.join(blobs, name));
      if (data[0] === 0x1f && data[1] === 0x8b) truncateSync(path.join(blobs, name), Math.floor(data.length / 2));
    }
    const r = strata(['build', '--progress', 'plain', '--cache-from', `type=local,src=${cacheDir}`, ctx], freshStore('f'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING: the imported cache .* failed: .*; building the step instead/);
    // The build ran again without the refused layers, and built their steps.
    assert.deepEqual(Object.values(outcomes(r.stderr.slice(r.stderr.lastIndexOf('#0 building')))), ['DONE', 'DONE', 'DONE', 'DONE']);
    const missing = strata(['build', '--cache-from', `type=local,src=${path.join(scratch, 'nowhere')}`, ctx], freshStore('g'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no cache at .*nowhere \(no index.json\)/);
  });
});
