/** A build and a prune of one store never run at once: each waits for the other, and neither is blocked by a killed one. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pruneBuildCache } from '../../lib/build/index.js';
import { blobPath, withoutBuilds } from '../../lib/cache/index.js';
import { StoreError } from '../../lib/errors/index.js';
import { readManifest, requireImage } from '../../lib/image/index.js';
import { strataBin, strataOn } from '../helpers/cli.js';

const bin = strataBin;
const scratch = mkdtempSync(path.join(tmpdir(), 'strata-activity-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const { env, run, ok: strata, importBusybox } = strataOn(store);

/** A build in the background; resolves with its exit code and stderr. */
function buildInBackground(args: string[]): { done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [bin, 'build', '--progress', 'plain', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr }))) };
}

const marks = () => (existsSync(path.join(store, 'builds')) ? readdirSync(path.join(store, 'builds')) : []);

async function until(what: string, test: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 60_000; !test(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
  }
}

/** An hour ago, everywhere in the store: nothing is protected by being fresh. */
function ageStore(dir = store): void {
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) ageStore(full);
    utimesSync(full, hourAgo, hourAgo);
  }
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('builds and prunes of one store', () => {
  before(() => importBusybox(scratch));

  it('a prune waits for the build running now, whose image names old cached layers, and the image stays whole', async () => {
    const ctx = path.join(scratch, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'f.txt'), 'hello');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\n');
    strata(['build', ctx]); // untagged: only the cache records name its layers
    ageStore();
    // The same steps, from the cache, then one that takes a moment: the prune comes in during it.
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY f.txt /\nRUN cat /f.txt > /copied\nRUN sleep 2\n');
    const building = buildInBackground(['-t', 'app:1', ctx]);
    await until('the build has started', () => marks().length > 0);
    const prune = strata(['cache', 'prune', '--build']);
    assert.match(prune.stderr, /^waiting for the build running on this store to finish \(process \d+\)$/m);
    const built = await building.done;
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /#\d+ CACHED/);
    assert.deepEqual(marks(), []);
    const image = requireImage(store, 'app:1');
    const manifest = readManifest(store, image.manifest);
    for (const layer of manifest.layers) assert.ok(existsSync(blobPath(store, layer.digest)), `layer ${layer.digest} of app:1 is in the store`);
    execFileSync('skopeo', ['inspect', `oci:${store}:app:1`], { stdio: 'pipe' });
  });

  it('a build started during a prune waits for it, then runs', async () => {
    const ctx = path.join(scratch, 'ctx2');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nRUN echo two > /two\n');
    let exited = false;
    let building: ReturnType<typeof buildInBackground> | undefined;
    await withoutBuilds(store, async () => {
      building = buildInBackground(['-t', 'two:1', ctx]);
      void building.done.then(() => (exited = true));
      await sleep(1500);
      assert.equal(exited, false, 'the build waits for the prune');
    }, { waitMs: 0 });
    const done = await building!.done;
    assert.equal(done.code, 0, done.stderr);
    assert.ok(requireImage(store, 'two:1'));
  });

  it('marks left by a killed build or prune block nothing', async () => {
    const dead = deadPid();
    mkdirSync(path.join(store, 'builds'), { recursive: true });
    writeFileSync(path.join(store, 'builds', `${dead}-1`), '');
    await pruneBuildCache(store);
    assert.deepEqual(marks(), []);
    writeFileSync(path.join(store, 'prune.lock'), String(dead));
    const ctx = path.join(scratch, 'ctx3');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nRUN echo three > /three\n');
    strata(['build', ctx]);
  });

  it('a prune that cannot wait long enough says which build runs, and removes nothing', async () => {
    const ctx = path.join(scratch, 'ctx4');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nRUN echo four > /four\n');
    strata(['build', ctx]);
    const records = readdirSync(path.join(store, 'cache', 'keys')).length;
    assert.ok(records > 0);
    // This test process stands for a build that is running.
    writeFileSync(path.join(store, 'builds', `${process.pid}-1`), '');
    try {
      await assert.rejects(pruneBuildCache(store, { graceMs: 0, waitForBuilds: { waitMs: 200 } }), (e: unknown) => {
        assert.ok(e instanceof StoreError);
        assert.equal(e.message, `a build is running on the store (process ${process.pid})`);
        assert.match(e.hint ?? '', /prune when it has finished/);
        return true;
      });
    } finally {
      rmSync(path.join(store, 'builds', `${process.pid}-1`));
    }
    assert.equal(readdirSync(path.join(store, 'cache', 'keys')).length, records);
    assert.ok(!existsSync(path.join(store, 'prune.lock')), 'the prune lock is released');
  });

  it('a prune of a store that does not exist yet removes nothing and makes no store', () => {
    const none = path.join(scratch, 'no-store-yet');
    for (const what of ['--build', '--mounts', '--copies']) {
      const r = run(['cache', 'prune', what], { env: { STRATA_STORE: none } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^removed (0|what 0) /);
    }
    assert.ok(!existsSync(none));
  });

  it('a store on a read-only filesystem: build and prune each say so, exit 1, and change nothing', (t) => {
    if (process.getuid?.() !== 0) assert.fail('this test mounts a read-only view of the store, which needs root (CI runs as root)');
    const ctx = path.join(scratch, 'ctx5');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nRUN echo five > /five\n');
    const view = path.join(scratch, 'read-only-store');
    mkdirSync(view);
    execFileSync('mount', ['--bind', store, view]);
    t.after(() => execFileSync('umount', [view]));
    execFileSync('mount', ['-o', 'remount,ro,bind', view]);
    const listing = () => execFileSync('find', [store, '-printf', '%P %s %T@\\n'], { encoding: 'utf8' });
    const before = listing();
    for (const args of [['build', ctx], ['cache', 'prune', '--build']]) {
      const r = run(args, { env: { STRATA_STORE: view } });
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^error: ${view}: cannot write to the store \\(its filesystem is read-only\\)\\nhint: .*(--store|STRATA_STORE)`, 'm'));
    }
    assert.equal(listing(), before);
  });
});
