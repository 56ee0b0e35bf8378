/**
 * Pull, push and login against a real registry: Debian's docker-registry
 * (the CNCF distribution registry) on loopback, on a free port, storage in
 * a temp dir; once open and once with htpasswd basic auth. skopeo seeds it
 * with the busybox base image.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { strataBin as bin, strataOn } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-registry-'));
const registries: ChildProcess[] = [];
after(() => {
  for (const r of registries) r.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});
const authFile = path.join(scratch, 'auth.json');

/** strata on `store`, with its own login file and no Docker credentials. */
const onStore = (store: string) => strataOn(store, { env: { STRATA_AUTH_FILE: authFile, DOCKER_CONFIG: path.join(scratch, 'no-docker') } });
const strata = (args: string[], store: string, input?: string) => onStore(store).run(args, { input });

/** As strata() but without blocking this process (which may be serving the registry's token service). */
function strataAsync(args: string[], store: string, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: onStore(store).env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
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
async function startRegistry(name: string, htpasswd?: string, authYaml?: string): Promise<string> {
  const port = await freePort();
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const auth = authYaml ?? (htpasswd ? `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${htpasswd}\n` : '');
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
    // Pushed to another repository of the same registry: the blobs are mounted there, not sent again.
    const pushed = strata(['image', 'push', `${open}/base/busybox:1`, `${open}/elsewhere/busybox:1`], store);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.stderr.match(/mounted from another repository/g)?.length, 2, pushed.stderr);
  });

  it('builds FROM a registry image on an empty store, and --push sends only what the registry lacks', () => {
    const store = path.join(scratch, 'build-store');
    const ctx = path.join(scratch, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${open}/base/busybox:1\nRUN echo built > /built\n`);
    const built = strata(['build', '--progress', 'plain', '--push', '-t', `${open}/app/web:1`, ctx], store);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, new RegExp(`#0 pushed ${open.replace(/\./g, '\\.')}/app/web:1@sha256:`));
    assert.match(built.stderr, /#0 pulling .*\/base\/busybox:1: [0-9a-f]{12} [\d.]+ [KM]iB done/, 'byte counts while the base is pulled');
    assert.match(built.stderr, /#0 pushing .*\/app\/web:1: [0-9a-f]{12} [\d.]+ (B|KiB|MiB) done/, 'and while the image is pushed');
    assert.match(built.stderr, /#0 pushing .*\/app\/web:1: [0-9a-f]{12} [\d.]+ (B|KiB|MiB) (exists|mounted)/, 'the base layer was there already');
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${open}/app/web:1`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.equal(inspected.Layers.length, 2);
    // The store keeps the layer the build made as a plain tar; what the registry got is gzip-compressed, and
    // skopeo, copying the image, checks every blob against its digest.
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${open}/app/web:1`], { encoding: 'utf8' })) as { layers: { mediaType: string }[] };
    assert.deepEqual(raw.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${open}/app/web:1`, `oci:${path.join(scratch, 'pushed-copy')}:web`], { stdio: 'pipe' });
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
    // (A bare reference is type=registry, as buildx takes it.)
    const second = strata(['build', '--progress', 'plain', '--cache-from', cacheRef, ctx], path.join(scratch, 'ci-2'));
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr.match(/#\d+ CACHED/g)?.length, 3, second.stderr);
    assert.doesNotMatch(second.stderr, /#\d+ DONE/);
    assert.equal(second.stdout.trim(), first.stdout.trim());
    const notCache = strata(['build', '--cache-from', `type=registry,ref=${open}/base/busybox:1`, ctx], path.join(scratch, 'ci-3'));
    assert.equal(notCache.code, 1);
    assert.match(notCache.stderr, /is not a strata build cache/);
  });

  it('refuses a blob of the wrong size, a manifest that does not match its digest and an index without the wanted platform', async () => {
    const tampered = await startRegistry('tampered');
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${seedStore}:busybox:local`, `docker://${tampered}/base/busybox:1`], { stdio: 'pipe' });
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${seedStore}:busybox:local`, `docker://${tampered}/other/busybox:1`], { stdio: 'pipe' });
    // Cut every blob the registry keeps in half: it serves what is on its disk.
    const blobs = execFileSync('find', [path.join(scratch, 'tampered', 'data'), '-path', '*/blobs/sha256/*/data', '-size', '+2k'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(blobs.length > 0);
    for (const blob of blobs) truncateSync(blob, Math.floor(statSync(blob).size / 2));
    const store = path.join(scratch, 'tamper-store');
    const r = strata(['image', 'pull', `${tampered}/base/busybox:1`], store);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /base\/busybox:1: .*(is \d+ bytes, the manifest says \d+|broke off)/);
    assert.deepEqual(JSON.parse(strata(['image', 'ls', '--format', 'json'], store).stdout), [], 'nothing named');

    // A manifest whose bytes were changed on the registry's disk: it is still served under its old digest.
    const manifestDigest = (JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${tampered}/other/busybox:1`], { encoding: 'utf8' })) as { Digest: string }).Digest.slice(7);
    const manifestFile = path.join(scratch, 'tampered', 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', manifestDigest.slice(0, 2), manifestDigest, 'data');
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
    const forged = strata(['image', 'pull', `${tampered}/other/busybox:1`], path.join(scratch, 'forged-store'));
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, /the manifest of .*other\/busybox:1 does not match its digest/);

    // An index offering only linux/arm64 (the image is what it is; the index says arm64).
    const layout = path.join(scratch, 'arm-layout');
    execFileSync('skopeo', ['copy', `oci:${seedStore}:busybox:local`, `oci:${layout}:img`], { stdio: 'pipe' });
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; mediaType: string }[] };
    const inner = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...index.manifests[0]!, annotations: undefined, platform: { os: 'linux', architecture: 'arm64' } }] };
    const bytes = Buffer.from(JSON.stringify(inner));
    const digest = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(path.join(layout, 'blobs', 'sha256', digest), bytes);
    writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: inner.mediaType, digest: `sha256:${digest}`, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
    execFileSync('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${open}/multi/busybox:1`], { stdio: 'pipe' });
    const wrong = strata(['image', 'pull', '--platform', 'linux/amd64', `${open}/multi/busybox:1`], store);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /multi\/busybox:1 has no image for linux\/amd64\nhint: it offers linux\/arm64; pass --platform/);
    assert.equal(strata(['image', 'pull', '--platform', 'linux/arm64', `${open}/multi/busybox:1`], store).code, 0);
  });

  it('answers a bearer-token challenge: anonymous pulls, and pushes with the credentials strata login kept', async () => {
    // A small token service on loopback, signing JWTs with a self-signed certificate the registry trusts.
    const keyFile = path.join(scratch, 'token.key');
    const certFile = path.join(scratch, 'token.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=strata-token', '-days', '1'], { stdio: 'pipe' });
    const key = createPrivateKey(readFileSync(keyFile));
    const der = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
    const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
    const tokenPort = await freePort();
    const granted: string[] = [];
    const tokenServer = createHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const user = req.headers.authorization ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : '';
      if (user && user !== 'ci:s3cret') return void res.writeHead(401).end();
      // Anyone may pull; only the known user may push. A scope may name several repositories (a mount).
      const access = url.searchParams.getAll('scope').flatMap((scope) => scope.split(' ')).filter(Boolean).map((scope) => {
        const [, name, actions] = scope.split(':');
        const allowed = (actions ?? '').split(',').filter((a) => a === 'pull' || (a === 'push' && user === 'ci:s3cret'));
        granted.push(`${user ? 'ci' : 'anonymous'}:${allowed.join(',')}`);
        return { type: 'repository', name, actions: allowed };
      });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der] }));
      const claims = b64url(JSON.stringify({ iss: 'strata-test-issuer', sub: user.split(':')[0] ?? '', aud: 'strata-test', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access }));
      const signature = b64url(sign('sha256', Buffer.from(`${header}.${claims}`), key));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}` }));
    }).listen(tokenPort, '127.0.0.1');
    try {
      const tokened = await startRegistry('tokened', undefined, `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: strata-test\n    issuer: strata-test-issuer\n    rootcertbundle: ${certFile}\n`);
      const seedToken = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'ci:s3cret', `oci:${seedStore}:busybox:local`, `docker://${tokened}/base/busybox:1`]);
      assert.equal(seedToken.code, 0, seedToken.stderr);
      const store = path.join(scratch, 'token-store');
      rmSync(authFile, { force: true });
      const pulled = await strataAsync(['image', 'pull', `${tokened}/base/busybox:1`], store);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.ok(granted.includes('anonymous:pull'), granted.join(' '));
      const refused = await strataAsync(['image', 'push', `${tokened}/base/busybox:1`, `${tokened}/mine/busybox:1`], store);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /refused|denied|401|403/);
      const login = await strataAsync(['login', '-u', 'ci', '--password-stdin', tokened], store, 's3cret\n');
      assert.equal(login.code, 0, login.stderr);
      const pushed = await strataAsync(['image', 'push', `${tokened}/base/busybox:1`, `${tokened}/mine/busybox:1`], store);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.ok(granted.includes('ci:pull,push'), granted.join(' '));
    } finally {
      tokenServer.close();
      rmSync(authFile, { force: true });
    }
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

  it('downloads a blob again from its first byte when a transfer breaks off, and stores nothing partial when it keeps breaking', async () => {
    // A proxy in front of the real registry that cuts the body of big blob downloads short (the first `breaks` of them).
    const [host, port] = open.split(':') as [string, string];
    let breaks = 0;
    const blobGets: string[] = [];
    const proxy = createHttpServer((req, res) => {
      const upstream = httpRequest({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const big = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') && Number(answer.headers['content-length'] ?? 0) > 2048;
        if (big) blobGets.push(req.url!);
        if (big && breaks > 0) {
          breaks--;
          answer.once('data', (chunk: Buffer) => {
            res.write(chunk.subarray(0, 1024));
            res.socket?.destroy();
          });
          return;
        }
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const via = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      breaks = 1;
      const store = path.join(scratch, 'retry-store');
      const pulled = await strataAsync(['image', 'pull', `${via}/base/busybox:1`], store);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(blobGets.length, 2, 'the broken download was made again, whole');
      const local = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${store}:${via}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string };
      const remote = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${open}/base/busybox:1`], { encoding: 'utf8' })) as { Digest: string };
      assert.equal(local.Digest, remote.Digest);

      breaks = 99;
      blobGets.length = 0;
      const broken = path.join(scratch, 'broken-store');
      const failed = await strataAsync(['image', 'pull', `${via}/base/busybox:1`], broken);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /the download of sha256:[0-9a-f]{64} from .* failed 3 times: (it broke off after \d+ of \d+ bytes|the connection failed \(\w+\))/);
      assert.equal(blobGets.length, 3);
      const layer = blobGets[0]!.split('/').pop()!.slice('sha256:'.length);
      assert.equal(existsSync(path.join(broken, 'blobs', 'sha256', layer)), false, 'no partial blob');
      assert.deepEqual(readdirSync(path.join(broken, 'tmp')).filter((n) => n.startsWith('blob-')), [], 'no temp file left');
      assert.deepEqual(JSON.parse(strata(['image', 'ls', '--format', 'json'], broken).stdout), []);
    } finally {
      proxy.close();
    }
  });
});
