/**
 * Pull, push and login against a real registry: Debian's docker-registry
 * (the CNCF distribution registry) on loopback, on a free port, storage in
 * a temp dir; once open and once with htpasswd basic auth. skopeo seeds it
 * with the busybox base image.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/conformance.js';

const bin = path.join(repoRoot, 'dist', 'bin', 'strata.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'strata-registry-'));
const registries: ChildProcess[] = [];
after(() => {
  for (const r of registries) r.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});
const authFile = path.join(scratch, 'auth.json');

function strata(args: string[], store: string, input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8', input, env: { ...process.env, NO_COLOR: '1', STRATA_STORE: store, STRATA_AUTH_FILE: authFile, DOCKER_CONFIG: path.join(scratch, 'no-docker') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a registry and resolves with its host:port once /v2/ answers. */
async function startRegistry(name: string, htpasswd?: string): Promise<string> {
  const port = await freePort();
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const auth = htpasswd ? `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${htpasswd}\n` : '';
  writeFileSync(path.join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
  registries.push(child);
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) return `127.0.0.1:${port}`;
    await delay(100);
  }
  assert.fail(`the registry ${name} did not start`);
}

describe('registries', () => {
  let open: string;
  let locked: string;
  let seedStore: string;

  before(async () => {
    for (const tool of ['docker-registry', 'skopeo', 'htpasswd']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is not installed (the registry tests need it): run scripts/setup-system.sh`);
    }
    seedStore = path.join(scratch, 'seed-store');
    const rootfs = path.join(scratch, 'rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    assert.equal(strata(['image', 'import', rootfs, '--tag', 'busybox:local'], seedStore).code, 0);
    const htpasswd = path.join(scratch, 'htpasswd');
    writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', 'ci', 's3cret'], { encoding: 'utf8' }));
    [open, locked] = await Promise.all([startRegistry('open'), startRegistry('locked', htpasswd)]);
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${seedStore}:busybox:local`, `docker://${open}/base/busybox:1`], { stdio: 'pipe' });
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'ci:s3cret', `oci:${seedStore}:busybox:local`, `docker://${locked}/base/busybox:1`], { stdio: 'pipe' });
  });

  it('pulls an image into an empty store, verified, named as written', () => {
    const store = path.join(scratch, 'pull-store');
    const r = strata(['image', 'pull', `${open}/base/busybox:1`], store);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`pulled ${open.replace(/\./g, '\\.')}/base/busybox:1 sha256:`));
    const listed = JSON.parse(strata(['image', 'ls', '--format', 'json'], store).stdout) as { name: string; layers: number }[];
    assert.deepEqual(listed.map((i) => [i.name, i.layers]), [[`${open}/base/busybox:1`, 1]]);
    // The same image the registry holds: skopeo reads the store as an OCI layout.
    const local = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${store}:${open}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string };
    const remote = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${open}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(local.Digest, remote.Digest);
  });

  it('builds FROM a registry image on an empty store, and --push sends only what the registry lacks', () => {
    const store = path.join(scratch, 'build-store');
    const ctx = path.join(scratch, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${open}/base/busybox:1\nRUN echo built > /built\n`);
    const built = strata(['build', '--progress', 'plain', '--push', '-t', `${open}/app/web:1`, ctx], store);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, new RegExp(`#0 pushed ${open.replace(/\./g, '\\.')}/app/web:1@sha256:`));
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${open}/app/web:1`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.equal(inspected.Layers.length, 2);
    const again = strata(['image', 'push', `${open}/app/web:1`], store);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr.match(/already there/g)?.length, 3, again.stderr);
  });

  it('shares the build cache through the registry: an empty store rebuilds with every step CACHED and no RUN run', () => {
    const ctx = path.join(scratch, 'ctx-cache');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${open}/base/busybox:1 AS builder\nRUN echo compiled > /artifact\nFROM ${open}/base/busybox:1\nCOPY --from=builder /artifact /artifact\nRUN cat /artifact\n`);
    const cacheRef = `${open}/cache/app:buildcache`;
    const first = strata(['build', '--progress', 'plain', '--cache-to', `type=registry,ref=${cacheRef},mode=max`, ctx], path.join(scratch, 'ci-1'));
    assert.equal(first.code, 0, first.stderr);
    const second = strata(['build', '--progress', 'plain', '--cache-from', `type=registry,ref=${cacheRef}`, ctx], path.join(scratch, 'ci-2'));
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr.match(/#\d+ CACHED/g)?.length, 3, second.stderr);
    assert.doesNotMatch(second.stderr, /#\d+ DONE/);
    assert.equal(second.stdout.trim(), first.stdout.trim());
    const notCache = strata(['build', '--cache-from', `type=registry,ref=${open}/base/busybox:1`, ctx], path.join(scratch, 'ci-3'));
    assert.equal(notCache.code, 1);
    assert.match(notCache.stderr, /is not a strata build cache/);
  });

  it('says clearly what went wrong: an unknown tag, a registry that is down, credentials missing or wrong', async () => {
    const store = path.join(scratch, 'error-store');
    const missing = strata(['image', 'pull', `${open}/base/busybox:nope`], store);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /base\/busybox:nope was not found in the registry/);
    assert.deepEqual(JSON.parse(strata(['image', 'ls', '--format', 'json'], store).stdout), [], 'nothing named after a failed pull');
    const down = strata(['image', 'pull', `127.0.0.1:${await freePort()}/base/busybox:1`], store);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the registry 127\.0\.0\.1:\d+: ECONNREFUSED/);
    const anonymous = strata(['image', 'pull', `${locked}/base/busybox:1`], store);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /wants a user name and password[\s\S]*hint: strata login/);
    const wrong = strata(['login', '-u', 'ci', '--password-stdin', locked], store, 'wrong\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the credentials of ci/);
    const right = strata(['login', '-u', 'ci', '--password-stdin', locked], store, 's3cret\n');
    assert.equal(right.code, 0, right.stderr);
    assert.equal(statSync(authFile).mode & 0o777, 0o600);
    assert.equal(strata(['image', 'pull', `${locked}/base/busybox:1`], store).code, 0);
    assert.match(strata(['logout', locked], store).stdout, /logged out/);
    assert.equal(strata(['image', 'pull', `${locked}/base/busybox:1`], store).code, 1);
  });
});
