/** `strata image ...` and `strata history` as a user runs them. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { strataBin as bin, strataOn } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-image-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');

const { run: strata } = strataOn(store);

describe('strata image', () => {
  const rootfs = path.join(scratch, 'rootfs');
  before(() => execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]));

  it('imports, lists, shows history, saves and removes', async () => {
    const imported = strata(['image', 'import', rootfs, '--tag', 'busybox:local']);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^imported busybox:local \(rootfs-dir\) sha256:[0-9a-f]{64}$/m);
    const ls = JSON.parse(strata(['image', 'ls', '--format', 'json']).stdout) as { name: string; layers: number }[];
    assert.deepEqual(ls.map((i) => [i.name, i.layers]), [['busybox:local', 1]]);
    assert.match(strata(['image', 'ls']).stdout, /^NAME\s+IMAGE ID\s+CREATED\s+SIZE\s+LAYERS\nbusybox:local\s+[0-9a-f]{12}/);
    assert.match(strata(['history', 'busybox:local']).stdout, /strata image import rootfs/);
    const out = path.join(scratch, 'busybox.tar');
    assert.equal(strata(['image', 'save', 'busybox:local', '-o', out, '--format', 'docker']).code, 0);
    assert.equal(spawnSync('skopeo', ['inspect', `docker-archive:${out}`]).status, 0);
    // --compression gzip: the layer as a registry would get it.
    const layout = path.join(scratch, 'busybox-gz');
    assert.equal(strata(['image', 'save', 'busybox:local', '-o', layout, '--compression', 'gzip']).code, 0);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:busybox:local`], { encoding: 'utf8' })) as { layers: { mediaType: string }[] };
    assert.deepEqual(raw.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip']);
    // -o -: the archive on standard output, byte for byte the file, with nothing after it.
    const piped = spawnSync(process.execPath, [bin, 'image', 'save', 'busybox:local', '-o', '-', '--format', 'docker'], { env: { ...process.env, STRATA_STORE: store }, maxBuffer: 64 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.ok(piped.stdout.equals(readFileSync(out)));
    // A reader that stops early (| head): exit 1 and one plain line, no stack.
    const early = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'image', 'save', 'busybox:local', '-o', '-'], { env: { ...process.env, STRATA_STORE: store } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(early.code, 1);
    assert.match(early.stderr, /^error: -: cannot write the image there: what reads standard output closed it\n/);
    assert.equal(strata(['image', 'rm', 'busybox:local']).code, 0);
    assert.match(strata(['image', 'ls']).stdout, /no images in the store/);
  });

  it('explains bad input with exit status 1 (2 for usage)', () => {
    const missing = strata(['history', 'ghost:1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: ghost:1: image ghost:1 is not in the store\nhint: import it first/);
    assert.equal(strata(['image', 'import', rootfs]).code, 2);
    assert.equal(strata(['image', 'frob']).code, 2);
    assert.match(strata(['image', 'save', 'ghost:1', '-o', path.join(scratch, 'nodir', 'x.tar')]).stderr, /not in the store/);
    assert.equal(strata(['image', 'rm', 'ghost:1']).code, 1);
  });
});
