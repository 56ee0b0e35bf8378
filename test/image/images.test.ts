/** Images in and out of the store, checked with the real tools (skopeo, umoci). */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { blobPath } from '../../lib/cache/index.js';
import { ImageError, StoreError } from '../../lib/errors/index.js';
import { exportImage, importImage, listImages, readConfig, readManifest, requireImage, saveImage, untagImage } from '../../lib/image/index.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-image-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function need(tool: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    assert.fail(`${tool} is not installed: run scripts/setup-system.sh (it installs busybox-static, skopeo and umoci)`);
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** umoci unpack of an OCI layout into a bundle; returns the rootfs path. */
function unpack(layout: string, ref: string): string {
  const bundle = mkdtempSync(path.join(scratch, 'bundle-'));
  rmSync(bundle, { recursive: true });
  const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
  execFileSync('umoci', ['unpack', ...rootless, '--image', `${layout}:${ref}`, bundle], { stdio: 'pipe' });
  return path.join(bundle, 'rootfs');
}

describe('images in the store', () => {
  let store: string;
  let rootfs: string;

  before(() => {
    for (const tool of ['skopeo', 'umoci', 'busybox']) need(tool);
    store = path.join(scratch, 'store');
    rootfs = path.join(scratch, 'busybox-rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
  });

  it('imports a busybox root filesystem that skopeo reads straight from the store', async () => {
    const imported = await importImage(store, rootfs, 'busybox:local');
    assert.equal(imported.source, 'rootfs-dir');
    const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${store}:busybox:local`], { encoding: 'utf8' })) as { Digest: string; Os: string; Layers: string[] };
    assert.equal(info.Digest, imported.manifest.digest);
    assert.equal(info.Os, 'linux');
    assert.equal(info.Layers.length, 1);
    assert.deepEqual(listImages(store).map((i) => i.name), ['busybox:local']);
  });

  it('writes digests that match: manifest and blobs by sha256, diff_ids of the uncompressed layers', () => {
    const image = requireImage(store, 'busybox:local');
    assert.equal(sha256(readFileSync(blobPath(store, image.manifest.digest))), image.manifest.digest);
    const manifest = readManifest(store, image.manifest);
    const config = readConfig(store, manifest);
    assert.equal(sha256(readFileSync(blobPath(store, manifest.config.digest))), manifest.config.digest);
    manifest.layers.forEach((layer, i) => {
      const blob = readFileSync(blobPath(store, layer.digest));
      assert.equal(sha256(blob), layer.digest);
      assert.equal(blob.length, layer.size);
      // A layer strata wrote is the tar itself; one it took in gzip-compressed decompresses to it.
      assert.equal(sha256(layer.mediaType === 'application/vnd.oci.image.layer.v1.tar' ? blob : gunzipSync(blob)), config.rootfs.diff_ids[i]);
    });
  });

  it('unpacks with umoci to exactly the files, modes, owners and contents of the root filesystem', () => {
    const root = unpack(store, 'busybox:local');
    const busybox = lstatSync(path.join(root, 'bin/busybox'));
    assert.ok(busybox.isFile());
    assert.equal(busybox.mode & 0o7777, 0o755);
    assert.equal(readlinkSync(path.join(root, 'bin/sh')), '/bin/busybox');
    assert.equal(lstatSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(lstatSync(path.join(root, 'root')).mode & 0o7777, 0o700);
    assert.equal(readFileSync(path.join(root, 'etc/passwd'), 'utf8'), readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'));
    assert.ok(readFileSync(path.join(root, 'bin/busybox')).equals(readFileSync(path.join(rootfs, 'bin/busybox'))));
    if (process.getuid?.() === 0) assert.equal(busybox.uid, 0);
  });

  it('keeps hard links, setuid bits, empty directories and fifos', async () => {
    const src = path.join(scratch, 'special');
    mkdirSync(path.join(src, 'empty'), { recursive: true });
    writeFileSync(path.join(src, 'tool'), '#!/bin/sh\n');
    chmodSync(path.join(src, 'tool'), 0o4755);
    linkSync(path.join(src, 'tool'), path.join(src, 'tool-link'));
    symlinkSync('tool', path.join(src, 'alias'));
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    await importImage(store, src, 'special:1');
    const layout = path.join(scratch, 'special-layout');
    await saveImage(store, 'special:1', layout, 'oci');
    const root = unpack(layout, 'special:1');
    assert.equal(lstatSync(path.join(root, 'tool')).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(path.join(root, 'tool')).ino, lstatSync(path.join(root, 'tool-link')).ino);
    assert.equal(readlinkSync(path.join(root, 'alias')), 'tool');
    assert.ok(lstatSync(path.join(root, 'empty')).isDirectory());
    assert.ok(lstatSync(path.join(root, 'pipe')).isFIFO());
  });

  it('saves an OCI layout (dir and tar) and a docker archive that skopeo reads and strata re-imports identically', async () => {
    const original = requireImage(store, 'busybox:local').manifest.digest;
    const dir = path.join(scratch, 'out-layout');
    const ociTar = path.join(scratch, 'out-oci.tar');
    const dockerTar = path.join(scratch, 'out-docker.tar');
    await saveImage(store, 'busybox:local', dir, 'oci');
    await saveImage(store, 'busybox:local', ociTar, 'oci');
    await saveImage(store, 'busybox:local', dockerTar, 'docker');
    execFileSync('skopeo', ['copy', `oci:${dir}:busybox:local`, `dir:${path.join(scratch, 'copied')}`], { stdio: 'pipe' });
    assert.ok(existsSync(path.join(scratch, 'copied', 'manifest.json')));
    const fromOciTar = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${ociTar}`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(fromOciTar.Digest, original);
    const fromDocker = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${dockerTar}`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.equal(fromDocker.Layers.length, 1);
    // podman load takes the docker archive as docker load does (its own storage in a temp dir, vfs: no mounts).
    if (spawnSync('sh', ['-c', 'command -v podman']).status !== 0) assert.fail('podman is not installed (the docker-archive test loads with it): run scripts/setup-system.sh');
    const podman = ['--root', path.join(scratch, 'podman-root'), '--runroot', path.join(scratch, 'podman-run'), '--storage-driver', 'vfs'];
    const loaded = spawnSync('podman', [...podman, 'load', '-i', dockerTar], { encoding: 'utf8' });
    assert.equal(loaded.status, 0, loaded.stderr);
    assert.match(loaded.stdout + loaded.stderr, /Loaded image: .*busybox:local/);
    const listed = spawnSync('podman', [...podman, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}'], { encoding: 'utf8' });
    assert.match(listed.stdout, /busybox:local/);
    const other = path.join(scratch, 'store2');
    for (const [src, name] of [[dir, 'a:1'], [ociTar, 'b:1'], [dockerTar, 'c:1']] as const) {
      const again = await importImage(other, src, name);
      assert.equal(again.manifest.digest, original, `${src} re-imported`);
    }
    const tarRootfs = path.join(scratch, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '-cf', tarRootfs, '.']);
    assert.equal((await importImage(other, tarRootfs, 'from-tar:1')).source, 'rootfs-tar');
  });

  it('writes an image\'s files into a directory, layers applied in order, and never over the machine\'s /', async () => {
    const files = path.join(scratch, 'out-files');
    await saveImage(store, 'busybox:local', files, 'local');
    assert.ok(lstatSync(path.join(files, 'bin', 'busybox')).isFile());
    // (An empty store: even if the check were gone, the missing manifest would stop it before any write.)
    const empty = path.join(scratch, 'empty-store');
    const nothing = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 };
    await assert.rejects(exportImage(empty, 'x:1', nothing, '/tmp/..', 'local'), (e: ImageError) => /would be written over this machine's \//.test(e.message));
  });

  it('refuses a layout whose blob does not match its digest, and names nothing', async () => {
    const dir = path.join(scratch, 'tampered');
    await saveImage(store, 'busybox:local', dir, 'oci');
    const manifest = readManifest(store, requireImage(store, 'busybox:local').manifest);
    const layerFile = path.join(dir, 'blobs', 'sha256', manifest.layers[0]!.digest.split(':')[1]!);
    const bytes = readFileSync(layerFile);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(layerFile, bytes);
    const fresh = path.join(scratch, 'store3');
    await assert.rejects(importImage(fresh, dir, 'tampered:1'), (e: StoreError) => /does not match its digest/.test(e.message));
    assert.deepEqual(listImages(fresh), []);
  });

  it('finds a damaged config blob in the store when reading it', async () => {
    const s = path.join(scratch, 'store4');
    await importImage(s, rootfs, 'x:1');
    const manifest = readManifest(s, requireImage(s, 'x:1').manifest);
    writeFileSync(blobPath(s, manifest.config.digest), '{"garbage":true}');
    assert.throws(() => readConfig(s, manifest), (e: ImageError) => /damaged/.test(e.message));
  });

  it('removes a name, and refuses bad names and missing images with hints', async () => {
    assert.equal(await untagImage(store, 'special:1'), true);
    assert.equal(await untagImage(store, 'special:1'), false);
    assert.throws(() => requireImage(store, 'nothere'), (e: ImageError) => /nothere:latest is not in the store/.test(e.message) && /strata image import/.test(e.hint ?? ''));
    await assert.rejects(importImage(store, rootfs, 'Bad/Name'), /invalid image name/);
    await assert.rejects(importImage(store, path.join(scratch, 'missing'), 'a:1'), /no such file or directory/);
  });
});
