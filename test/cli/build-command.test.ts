/** `strata build` as a user runs it: the real binary, a real store, real outputs. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatPlatform, hostPlatform } from '../../lib/dockerfile/index.js';
import { strataBin as bin, strataOn } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-build-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');

const { run: strata, importBusybox } = strataOn(store);

describe('strata build (command line)', () => {
  before(() => importBusybox(scratch));

  it('builds the bundled example with plain progress, then again all CACHED, and writes an OCI archive', () => {
    const first = strata(['build', '-t', 'hello:dev', 'examples/hello']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^#1 \[deps 1\/3\] WORKDIR \/deps$/m);
    assert.match(first.stderr, /^#\d+ \[build 2\/4\] COPY --from=deps \/deps\/vendor \.\/vendor$/m);
    assert.doesNotMatch(first.stderr, /\[test /, 'the test stage is not needed by the target');
    assert.match(first.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    const out = path.join(scratch, 'hello.tar');
    const second = strata(['build', '-t', 'hello:dev', '--output', `type=oci,dest=${out}`, 'examples/hello']);
    assert.equal(second.code, 0, second.stderr);
    const steps = second.stderr.split('\n').filter((l) => /^#\d+ \[/.test(l)).length;
    assert.equal(second.stderr.split('\n').filter((l) => /^#\d+ CACHED$/.test(l)).length, steps);
    assert.equal(second.stdout.trim(), first.stdout.trim(), 'the same image, digest for digest');
    const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${out}`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(info.Digest, second.stdout.trim());
    // compression=gzip: the same image (config) with every layer gzip-compressed, which skopeo checks as it copies.
    const gz = path.join(scratch, 'hello-gz.tar');
    const third = strata(['build', '-q', '--output', `type=oci,dest=${gz},compression=gzip`, 'examples/hello']);
    assert.equal(third.code, 0, third.stderr);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${gz}`], { encoding: 'utf8' })) as { config: { digest: string }; layers: { mediaType: string }[] };
    assert.ok(raw.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'), JSON.stringify(raw.layers));
    assert.equal(raw.config.digest, (JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${out}`], { encoding: 'utf8' })) as { config: { digest: string } }).config.digest);
    execFileSync('skopeo', ['copy', `oci-archive:${gz}`, `dir:${path.join(scratch, 'hello-gz-dir')}`], { stdio: 'pipe' });
    const bad = strata(['build', '--output', `type=oci,dest=${gz},compression=zip`, 'examples/hello']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unsupported --output compression "zip"/);
  });

  it("takes docker build's -q, --label, --iidfile and this machine's --platform", () => {
    const ctx = mkdtempSync(path.join(scratch, 'flags-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nLABEL from=dockerfile keep=yes\n');
    const iid = path.join(scratch, 'iid');
    const host = formatPlatform(hostPlatform());
    const r = strata(['build', '-q', '--label', 'from=cli', '--label', 'org.opencontainers.image.revision=abc', '--iidfile', iid, '--platform', host, '-t', 'labeled:1', ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', '-q shows no progress');
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(readFileSync(iid, 'utf8'), r.stdout.trim());
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${store}:labeled:1`], { encoding: 'utf8' })) as { config: { Labels: Record<string, string> } };
    assert.deepEqual(config.config.Labels, { from: 'cli', keep: 'yes', 'org.opencontainers.image.revision': 'abc' });
    // A label beyond ASCII: the config's descriptor gives its size in bytes, which skopeo checks as it copies.
    const accented = strata(['build', '-q', '--label', 'greeting=héllo wörld ✓', '-t', 'labeled:utf8', ctx]);
    assert.equal(accented.code, 0, accented.stderr);
    execFileSync('skopeo', ['copy', `oci:${store}:labeled:utf8`, `dir:${path.join(scratch, 'labeled-utf8')}`], { stdio: 'pipe' });
    const other = strata(['build', '--platform', 'linux/s390x', ctx]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, new RegExp(`strata builds for this machine's platform \\(${host}\\), not linux/s390x`));
    // An --iidfile that cannot be written fails the command, after the image is safely in the store.
    const unwritable = strata(['build', '-q', '-t', 'labeled:2', '--iidfile', path.join(scratch, 'no-dir', 'iid'), ctx]);
    assert.equal(unwritable.code, 1);
    assert.match(unwritable.stderr, /cannot write the image digest there: ENOENT\nhint: the image is built and in the store/);
    assert.match(strata(['image', 'ls']).stdout, /labeled:2/);
  });

  it('writes the root filesystem into a directory (-o DIR) or a tar (-o -), and an image archive to standard output (dest=-)', () => {
    const out = path.join(scratch, 'local-out');
    const local = strata(['build', '-q', '-o', out, 'examples/hello']);
    assert.equal(local.code, 0, local.stderr);
    assert.match(readFileSync(path.join(out, 'www', 'index.html'), 'utf8'), /<title>strata example<\/title>/);
    assert.ok(existsSync(path.join(out, 'bin', 'busybox')), 'the base image\'s files are there too');
    const piped = spawnSync(process.execPath, [bin, 'build', '--progress', 'plain', '--output', 'type=docker,dest=-', '-t', 'piped:1', 'examples/hello'], { cwd: repoRoot, env: { ...process.env, STRATA_STORE: store }, maxBuffer: 64 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    const names = execFileSync('tar', ['-t'], { input: piped.stdout, encoding: 'utf8' }).split('\n');
    assert.ok(names.includes('manifest.json') && names.includes('repositories'), 'a docker archive, and nothing else, on stdout');
    assert.match(piped.stderr.toString(), /exported docker to -/);
    const files = spawnSync(process.execPath, [bin, 'build', '-q', '-o', '-', 'examples/hello'], { cwd: repoRoot, env: { ...process.env, STRATA_STORE: store }, maxBuffer: 64 << 20 });
    assert.equal(files.status, 0, files.stderr.toString());
    const listed = execFileSync('tar', ['-tv', '--numeric-owner'], { input: files.stdout, encoding: 'utf8' });
    assert.match(listed, /^-rw-r--r-- 0\/0 .* www\/index\.html$/m);
    assert.match(listed, /^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
    assert.equal(strata(['build', '--progress', 'json', '--output', 'type=oci,dest=-', 'examples/hello']).code, 2);
  });

  it("runs RUN as root in a user namespace, and records the files, without root, as root's, as docker build makes them", () => {
    // As root (CI), the build runs as nobody; as anyone else, as that user.
    const asRoot = process.getuid?.() === 0;
    const home = mkdtempSync(path.join(tmpdir(), 'strata-rootless-'));
    try {
      const ctx = path.join(home, 'ctx');
      mkdirSync(ctx);
      writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nWORKDIR /app\nCOPY a.txt ./\nRUN id -u > uid\n');
      writeFileSync(path.join(ctx, 'a.txt'), 'a');
      if (asRoot) execFileSync('chown', ['-R', 'nobody', home]);
      const env = { ...process.env, HOME: home, STRATA_STORE: path.join(home, 'store'), XDG_CACHE_HOME: path.join(home, 'cache') };
      const rootfs = path.join(home, 'rootfs');
      execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
      if (asRoot) execFileSync('chown', ['-R', 'nobody', home]);
      const importing = [process.execPath, bin, 'image', 'import', rootfs, '--tag', 'busybox:local'];
      assert.equal((asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', ...importing], { env }) : spawnSync(importing[0]!, importing.slice(1), { env })).status, 0);
      const command = [process.execPath, bin, 'build', '-q', '--output', `type=oci,dest=${path.join(home, 'out')}`, ctx];
      const r = asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', ...command], { env, encoding: 'utf8' }) : spawnSync(command[0]!, command.slice(1), { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const blobs = path.join(home, 'out', 'blobs', 'sha256');
      const index = JSON.parse(readFileSync(path.join(home, 'out', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(readFileSync(path.join(blobs, index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      const owners = manifest.layers.flatMap((l) => execFileSync('tar', ['-tv', '--numeric-owner', '-f', path.join(blobs, l.digest.slice(7))], { encoding: 'utf8' })
        .trim().split('\n').map((line) => `${line.split(/\s+/)[1]} ${line.split(/\s+/).at(-1)}`));
      // WORKDIR, COPY, RUN (after the base image's entries, which an import without root records as root's too).
      assert.deepEqual(owners.slice(-4), ['0/0 app/', '0/0 app/a.txt', '0/0 app/', '0/0 app/uid']);
      assert.ok(owners.every((o) => o.startsWith('0/0 ')), owners.join(', '));
      const uid = manifest.layers.at(-1)!.digest.slice(7);
      assert.equal(execFileSync('tar', ['-xO', '-f', path.join(blobs, uid), 'app/uid'], { encoding: 'utf8' }), '0\n');
      // Another USER cannot be mapped there: said at its RUN, with what to do.
      writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nUSER nobody\nRUN id\n');
      const other = asRoot ? spawnSync('runuser', ['-u', 'nobody', '--', ...command], { env, encoding: 'utf8' }) : spawnSync(command[0]!, command.slice(1), { env, encoding: 'utf8' });
      assert.equal(other.status, 1);
      assert.match(other.stderr, /Dockerfile:3: RUN as USER nobody needs strata to run as root\n   3 \| RUN id\nhint: without root/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('prints one JSON event per line with --progress=json', () => {
    const r = strata(['build', '--progress', 'json', 'examples/hello']);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    assert.equal(events[0]!.type, 'build-start');
    assert.equal(events.at(-1)!.type, 'image');
    assert.ok(events.some((e) => e.type === 'step-cached'));
  });

  it('reports a failing RUN with file, line, exit code and output; exit 1', () => {
    const ctx = mkdtempSync(path.join(scratch, 'fail-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nRUN echo nope >&2 && exit 7\n');
    const r = strata(['build', ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: .*Dockerfile:2: process "\/bin\/sh -c echo nope >&2 && exit 7" did not complete successfully: exit code: 7/);
    assert.match(r.stderr, /hint: its last output:\n\s+nope/);
  });

  it('refuses an invalid --build-arg and an --output it cannot write with exit 1; the image stays in the store', () => {
    const arg = strata(['build', '--build-arg', '=x', 'examples/hello']);
    assert.equal(arg.code, 1);
    assert.match(arg.stderr, /error: --build-arg =x: a build argument needs a name before "="\nhint: write --build-arg NAME=VALUE/);
    const file = path.join(scratch, 'a-file');
    writeFileSync(file, '');
    const out = strata(['build', '-t', 'kept:1', '--output', `type=oci,dest=${file}/out.tar`, 'examples/hello']);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /a-file\/out\.tar: cannot write the image there: a part of the path is not a directory\nhint: name a path you can write to/);
    assert.match(strata(['image', 'ls']).stdout, /kept:1/);
  });

  it('dates images by SOURCE_DATE_EPOCH: two stores make the identical image from the same root filesystem and files', () => {
    const epoch = '1700000000';
    // (What a RUN writes carries the time it was written, as with BuildKit: this image's layers are copies.)
    const ctx = mkdtempSync(path.join(scratch, 'epoch-ctx-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY a.txt /a.txt\nCMD ["cat", "/a.txt"]\n');
    writeFileSync(path.join(ctx, 'a.txt'), 'a');
    utimesSync(path.join(ctx, 'a.txt'), new Date('2024-01-01'), new Date('2024-01-01'));
    const inStore = (dir: string, args: string[], env: NodeJS.ProcessEnv = {}) => strataOn(dir).run(args, { env });
    const digests = ['one', 'two'].map((name) => {
      const dir = path.join(scratch, `epoch-${name}`);
      const imported = inStore(dir, ['image', 'import', path.join(scratch, 'rootfs'), '--tag', 'busybox:local'], { SOURCE_DATE_EPOCH: epoch });
      assert.equal(imported.code, 0, imported.stderr);
      const built = inStore(dir, ['build', '--build-arg', `SOURCE_DATE_EPOCH=${epoch}`, '-t', 'hello:epoch', ctx]);
      assert.equal(built.code, 0, built.stderr);
      assert.match(inStore(dir, ['history', 'hello:epoch']).stdout.split('\n')[1]!, /2023-11-14T22:13:20\.000Z/);
      return [imported.stdout.trim().split(' ').pop(), built.stdout.trim()];
    });
    assert.deepEqual(digests[0], digests[1]);
    const bad = strata(['build', '--build-arg', 'SOURCE_DATE_EPOCH=yesterday', 'examples/hello']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error: --build-arg SOURCE_DATE_EPOCH: "yesterday" is not a time in seconds since 1970/);
  });

  it('says which sockets and FIFOs of the context it left out', () => {
    const ctx = mkdtempSync(path.join(scratch, 'fifo-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY . /app\n');
    execFileSync('mkfifo', [path.join(ctx, 'pipe')]);
    const r = strata(['build', '--progress', 'plain', ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^#0 warning: skipped 1 socket\(s\), FIFO\(s\) or device\(s\), as Docker does: pipe$/m);
  });

  it('says what to install when bubblewrap is not on the PATH, at the first RUN; exit 1', () => {
    const ctx = mkdtempSync(path.join(scratch, 'nobwrap-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox:local\nRUN echo ${Date.now()}\n`);
    const r = strata(['build', '--progress', 'plain', ctx], { env: { PATH: path.join(scratch, 'no-such-dir') } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: .*Dockerfile:2: bubblewrap \(bwrap\) is not installed\n   2 \| RUN echo \d+\nhint: install it: apt-get install bubblewrap/);
  });

  it('keeps the cache within STRATA_KEEP_STORAGE: a build that made layers takes the oldest records the images no longer hold', () => {
    const own = strataOn(path.join(scratch, 'store-keep'));
    mkdirSync(path.join(scratch, 'keep-base'));
    own.importBusybox(path.join(scratch, 'keep-base'));
    const ctx = mkdtempSync(path.join(scratch, 'keep-'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox:local\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n');
    const build = (content: string) => {
      writeFileSync(path.join(ctx, 'a.txt'), content);
      return own.ok(['build', '--progress', 'plain', '-t', 'keep:1', ctx], { env: { STRATA_KEEP_STORAGE: '1' } });
    };
    assert.doesNotMatch(build('one\n').stderr, /#0 cache:/, 'nothing older to take');
    assert.match(build('two\n').stderr, /^#0 cache: the 2 oldest records went \(.*freed\); it holds 0 B beyond the images$/m);
    // Back to the first content: its steps were forgotten, so they run again.
    assert.doesNotMatch(build('one\n').stderr, /CACHED/);
    // A trim that fails (here a directory among the records, older than all) is said; the build it follows stands.
    const odd = path.join(scratch, 'store-keep', 'cache', 'keys', 'not-a-record');
    mkdirSync(odd);
    utimesSync(odd, new Date('2020-01-01'), new Date('2020-01-01'));
    const failed = build('three\n');
    assert.match(failed.stderr, /^#0 warning: the cache could not be trimmed \(.+\); the next build tries again$/m);
    assert.match(failed.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    rmSync(odd, { recursive: true });
    const bad = own.run(['build', ctx], { env: { STRATA_KEEP_STORAGE: 'lots' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid STRATA_KEEP_STORAGE "lots"\nhint: give a size such as 10GB/);
  });

  it('refuses bad usage and an unknown base image clearly', () => {
    assert.equal(strata(['build']).code, 2);
    assert.equal(strata(['build', '--output', 'type=tarball,dest=x', 'examples/hello']).code, 2);
    assert.match(strata(['build', '--network', 'bridge', 'examples/hello']).stderr, /invalid --network "bridge"\nhint: use one of: default, none, host/);
    const ctx = mkdtempSync(path.join(scratch, 'nobase-'));
    mkdirSync(path.join(ctx, 'sub'));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM ghost:1\n');
    const r = strata(['build', ctx]);
    assert.equal(r.code, 1);
    // Not in the store: strata tries to pull it (docker.io/library/ghost:1), which cannot work here, and says both.
    assert.match(r.stderr, /Dockerfile:1: base image ghost:1 is not in the store and could not be pulled: .*\n   1 \| FROM ghost:1\nhint: import it \(strata image import ROOTFS --tag ghost:1\) or make its registry reachable/);
    // An image COPY --from names is pulled too, as docker build pulls it, and said at its line.
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --from=ghost:2 /x /x\n');
    const copy = strata(['build', ctx]);
    assert.equal(copy.code, 1);
    assert.match(copy.stderr, /Dockerfile:2: COPY --from image ghost:2 is not in the store and could not be pulled: .*\n   2 \| COPY --from=ghost:2 \/x \/x\nhint: import it/);
    // A name that is no image reference at all, said at its line.
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nRUN true\nFROM Ghost:3\n');
    const bad = strata(['build', ctx]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Dockerfile:3: base image Ghost:3: invalid image name "Ghost"\n   3 \| FROM Ghost:3\nhint: names are lowercase/);
  });
});
