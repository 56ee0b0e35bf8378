/**
 * RUN --mount through the command line, on real sandboxes: a cache mount
 * outlives builds and is in no layer; a bind mount's content is in the key
 * and its rw writes go nowhere; tmpfs; a secret reaches the step and
 * appears in no blob, no key and no output; `strata cache ls|prune`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { makeTree } from '../context/fixtures.js';
import { strataBin as bin, strataOn } from '../helpers/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-mounts-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const SECRET = 'pa55-w0rd-that-must-not-leak';

const onStore = strataOn(store);
const strata = (args: string[], env: NodeJS.ProcessEnv = {}) => onStore.run(args, { env });

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  makeTree(dir, files);
  return dir;
}

/** `#N CACHED` or `#N DONE` per step, in order, from plain progress. */
function outcomes(stderr: string): string[] {
  return [...stderr.matchAll(/^#\d+ (CACHED|DONE)/gm)].map((m) => m[1]!);
}

/** Every blob of the store, gzip layers uncompressed. */
function allBlobBytes(): Buffer[] {
  const dir = path.join(store, 'blobs', 'sha256');
  return readdirSync(dir).map((name) => {
    const data = readFileSync(path.join(dir, name));
    return data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  });
}

describe('RUN --mount', () => {
  before(() => onStore.importBusybox(scratch));

  it('keeps a cache mount across builds, in no layer, and lists and prunes it', () => {
    const dockerfile = (n: number) => `FROM busybox:local\nRUN --mount=type=cache,target=/var/cache/app,id=appcache echo build${n} >> /var/cache/app/log && cat /var/cache/app/log\n`;
    const dir = context({ Dockerfile: dockerfile(1) });
    const first = strata(['build', '--progress', 'plain', '-t', 'cache:1', dir]);
    assert.equal(first.code, 0, first.stderr);
    writeFileSync(path.join(dir, 'Dockerfile'), dockerfile(2));
    const second = strata(['build', '--progress', 'plain', '-t', 'cache:2', dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /build1\n#\d+ [\d.]+ build2/);
    for (const blob of allBlobBytes()) assert.ok(!blob.includes('build1\n'), 'the cache content is in no blob');
    const ls = strata(['cache', 'ls', '--format', 'json']);
    const listed = JSON.parse(ls.stdout) as { id: string; files: number }[];
    assert.deepEqual(listed.map((m) => [m.id, m.files]), [['appcache', 1]]);
    assert.deepEqual(JSON.parse(strata(['cache', 'ls', '--format', 'json']).stdout).length, 1);
    assert.match(strata(['cache', 'ls']).stdout, /appcache/);
    // from= seeds a new cache with a stage's files; later runs keep what the RUNs left.
    const seeded = context({ Dockerfile: 'FROM busybox:local AS seeder\nRUN mkdir /seed && echo planted > /seed/x\nFROM busybox:local\nRUN --mount=type=cache,target=/c,id=seeded,from=seeder,source=/seed cat /c/x && echo grown >> /c/x\n' });
    assert.match(strata(['build', '--progress', 'plain', seeded]).stderr, /#\d+ [\d.]+ planted\n/);
    assert.match(strata(['build', '--progress', 'plain', '--no-cache', seeded]).stderr, /planted\n#\d+ [\d.]+ grown/);
    assert.match(strata(['cache', 'prune', '--mounts']).stdout, /removed 2 cache mounts/);
    assert.deepEqual(JSON.parse(strata(['cache', 'ls', '--format', 'json']).stdout), []);
    assert.equal(strata(['cache', 'prune']).code, 2);
    // What COPY keeps for its next run goes with --copies; the layers and the steps' cache stay.
    const copying = context({ Dockerfile: 'FROM busybox:local\nCOPY a.txt /a.txt\n', 'a.txt': 'a' });
    assert.equal(strata(['build', copying]).code, 0);
    assert.ok(readdirSync(path.join(store, 'cache', 'copies')).some((n) => n.endsWith('.tar')));
    assert.match(strata(['cache', 'prune', '--copies']).stdout, /removed what \d+ COPY instructions? kept for their next run \(\d/);
    assert.deepEqual(readdirSync(path.join(store, 'cache', 'copies')), []);
    assert.match(strata(['build', '--progress', 'plain', copying]).stderr, /#1 CACHED/);
  });

  it('keys a bind mount by the content it shows; rw writes are dropped; the mount point leaves nothing', () => {
    const dir = context({
      Dockerfile: 'FROM busybox:local\nRUN --mount=type=bind,source=conf,target=/mnt/conf cat /mnt/conf/a.txt > /seen\nRUN --mount=type=bind,target=/src,rw echo changed > /src/conf/a.txt && cat /src/conf/a.txt\nRUN --mount=type=tmpfs,target=/work touch /work/x && ls /work\n',
      'conf/a.txt': 'one\n',
      'other.txt': 'x',
    });
    const first = strata(['build', '--progress', 'plain', '-t', 'bind:1', '--output', `type=oci,dest=${path.join(scratch, 'bind1')}`, dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(readFileSync(path.join(dir, 'conf/a.txt'), 'utf8'), 'one\n', 'the context is untouched by a rw mount');
    execFileSync('umoci', ['unpack', '--image', `${path.join(scratch, 'bind1')}:bind:1`, path.join(scratch, 'bundle1')], { stdio: 'pipe' });
    const root = path.join(scratch, 'bundle1', 'rootfs');
    assert.equal(readFileSync(path.join(root, 'seen'), 'utf8'), 'one\n');
    for (const stub of ['mnt', 'src', 'work']) assert.ok(!readdirSync(root).includes(stub), `no ${stub} stub in the image`);
    // A file outside the bound source changes only the step that binds the whole context.
    writeFileSync(path.join(dir, 'other.txt'), 'y');
    assert.deepEqual(outcomes(strata(['build', '--progress', 'plain', dir]).stderr), ['CACHED', 'DONE', 'DONE']);
    writeFileSync(path.join(dir, 'conf/a.txt'), 'two\n');
    assert.deepEqual(outcomes(strata(['build', '--progress', 'plain', dir]).stderr), ['DONE', 'DONE', 'DONE']);
  });

  it('gives a secret to the step as a file or a variable, and it appears in no blob, key or output', () => {
    const secretFile = path.join(scratch, 'token');
    writeFileSync(secretFile, SECRET);
    const dir = context({
      Dockerfile: [
        'FROM busybox:local',
        'RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "' + SECRET.slice(0, 4) + '$(cut -c5- /run/secrets/token)" && cat /run/secrets/token && echo done-file',
        'RUN --mount=type=secret,id=token,env=TOKEN echo "the token is $TOKEN" && printf %s "$TOKEN" | wc -c',
        'RUN --mount=type=secret,id=absent echo optional secrets may be missing',
      ].join('\n'),
    });
    const built = strata(['build', '--progress', 'json', '--secret', `id=token,src=${secretFile}`, '-t', 'secret:1', dir]);
    assert.equal(built.code, 0, built.stderr);
    assert.ok(!built.stdout.includes(SECRET) && !built.stderr.includes(SECRET), 'no output carries the secret');
    assert.match(built.stdout, /the token is \*\*\*\*/);
    assert.match(built.stdout, /"line":"28"/);
    for (const blob of allBlobBytes()) assert.ok(!blob.includes(SECRET), 'no blob carries the secret');
    for (const name of readdirSync(path.join(store, 'cache', 'keys'))) {
      assert.ok(!readFileSync(path.join(store, 'cache', 'keys', name), 'utf8').includes(SECRET));
    }
    // From the environment too; a required secret that is missing is a clear error at its line.
    const viaEnv = strata(['build', '--progress', 'plain', '--no-cache', '--secret', 'id=token,env=MY_TOKEN', dir], { MY_TOKEN: SECRET });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nRUN --mount=type=secret,id=needed,required=true true\n');
    const missing = strata(['build', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Dockerfile:2: secret needed is required but was not given/);
    assert.match(missing.stderr, /--secret id=needed,src=FILE/);
    const badSecret = strata(['build', '--secret', 'id=x,src=/no/such/file', dir]);
    assert.equal(badSecret.code, 2);
    assert.match(badSecret.stderr, /cannot read the secret file \/no\/such\/file/);
  });

  it('serialises steps that share a cache with sharing=locked', () => {
    const dockerfile = (tag: string) => `FROM busybox:local\nRUN --mount=type=cache,target=/c,sharing=locked echo ${tag}-in >> /c/log && sleep 0.3 && echo ${tag}-out >> /c/log\n`;
    const a = context({ Dockerfile: dockerfile('a') });
    const b = context({ Dockerfile: dockerfile('b') });
    const check = context({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=cache,target=/c,sharing=locked cat /c/log\n' });
    // Two builds of one store at once, as two CI jobs would.
    const both = spawnSync('sh', ['-c', `"${process.execPath}" "${bin}" build "${a}" & "${process.execPath}" "${bin}" build "${b}" & wait`], { env: { ...process.env, STRATA_STORE: store }, encoding: 'utf8' });
    assert.equal(both.status, 0, both.stderr);
    const log = strata(['build', '--progress', 'plain', check]).stderr.match(/^#\d+ [\d.]+ ([ab]-(?:in|out))$/gm)!.map((l) => l.split(' ').pop());
    assert.equal(log.length, 4);
    // Never one step's "in" between the other's "in" and "out".
    assert.equal(log[0]!.slice(0, 1), log[1]!.slice(0, 1), log.join(' '));
    assert.equal(log[2]!.slice(0, 1), log[3]!.slice(0, 1), log.join(' '));
  });
});
