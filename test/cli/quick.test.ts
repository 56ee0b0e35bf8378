/**
 * `strata build` with nothing changed since the last build of the same
 * Dockerfile in the same context is answered without the build engine
 * (lib/cli/quick.ts, lib/build/up-to-date.ts). It must say exactly what
 * the build would have said, and never answer when anything the image
 * depends on moved: then the build runs, as it would have.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { strataOn, type CliRun } from '../helpers/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-quick-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const { run, ok, importBusybox } = strataOn(store);

const PAST = new Date('2024-01-01T00:00:00Z');

/** A context with two stages, a COPY and RUNs, its files dated in the past (as a checkout an hour old is). */
function makeContext(name: string, dockerfile: string, files: Record<string, string>): string {
  const dir = path.join(scratch, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  const age = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) age(path.join(p, e.name));
    for (const e of readdirSync(p)) utimesSync(path.join(p, e), PAST, PAST);
  };
  age(dir);
  utimesSync(dir, PAST, PAST);
  return dir;
}

const DOCKERFILE = `FROM busybox:local AS deps
ARG FLAVOUR=plain
RUN echo "$FLAVOUR" > /flavour
FROM busybox:local
COPY --from=deps /flavour /flavour
COPY src/ /app/
RUN cat /app/main.txt /flavour > /app/all.txt
CMD ["cat", "/app/all.txt"]
`;

/**
 * What a build left in the store's working directories: a build that ran
 * announces itself under builds/ and works under tmp/; an answered one
 * writes nothing at all.
 */
function storeMarks(): string {
  return ['builds', 'tmp'].map((d) => statSync(path.join(store, d), { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
}

/** Runs a build; whether it was answered without the engine (nothing written to the store) and its output. */
function build(args: readonly string[]): CliRun & { answered: boolean } {
  const before = storeMarks();
  const r = ok(['build', ...args]);
  return { ...r, answered: storeMarks() === before };
}

/** The plain progress lines with their times taken out, sorted (stages interleave differently run to run). */
function progressLines(stderr: string): string[] {
  return stderr.trim().split('\n').map((l) => l.replace(/ \d+\.\d+s$/, ' Ns')).sort();
}

const cachedSteps = (stderr: string) => stderr.split('\n').filter((l) => /^#\d+ CACHED$/.test(l)).length;
const startedSteps = (stderr: string) => stderr.split('\n').filter((l) => /^#\d+ \[/.test(l)).length;

describe('strata build with nothing changed', () => {
  before(() => importBusybox(scratch));

  it('is answered without building: every step CACHED, the same lines and image as a build from the cache, and nothing written to the store', () => {
    const ctx = makeContext('same', DOCKERFILE, { 'src/main.txt': 'main\n' });
    const first = build(['--progress', 'plain', '-t', 'same:1', ctx]);
    assert.equal(first.answered, false);
    assert.equal(cachedSteps(first.stderr), 0);
    const again = build(['--progress', 'plain', '-t', 'same:1', ctx]);
    assert.equal(again.answered, true, 'a second build with nothing changed writes nothing to the store');
    assert.equal(again.stdout, first.stdout, 'the same image');
    assert.equal(cachedSteps(again.stderr), startedSteps(again.stderr));
    assert.equal(startedSteps(again.stderr), startedSteps(first.stderr));
    // Without the record of the last build, the engine builds, every step from the cache: it says the same lines.
    const forget = () => rmSync(path.join(store, 'cache', 'up-to-date'), { recursive: true, force: true });
    forget();
    const engine = build(['--progress', 'plain', '-t', 'same:1', ctx]);
    assert.equal(engine.answered, false);
    assert.equal(engine.stdout, first.stdout);
    assert.deepEqual(progressLines(again.stderr), progressLines(engine.stderr));

    // JSON lines: the events a build from the cache emits, in kind and number.
    const kinds = (stdout: string) => stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type).sort();
    const json = build(['--progress', 'json', '-t', 'same:1', ctx]);
    assert.equal(json.answered, true);
    forget();
    const jsonEngine = build(['--progress', 'json', '-t', 'same:1', ctx]);
    assert.equal(jsonEngine.answered, false);
    assert.deepEqual(kinds(json.stdout), kinds(jsonEngine.stdout));

    // -q and --iidfile, answered: the digest alone, and the file.
    const iid = path.join(scratch, 'iid');
    const quiet = build(['-q', '--iidfile', iid, '-t', 'same:1', ctx]);
    assert.equal(quiet.answered, true);
    assert.equal(quiet.stderr, '');
    assert.equal(quiet.stdout, first.stdout);
    assert.equal(readFileSync(iid, 'utf8'), first.stdout.trim());
  });

  it('builds whenever the image depends on something that moved: a file, a build arg, the Dockerfile, the base, the cache, the name', () => {
    const ctx = makeContext('moved', DOCKERFILE, { 'src/main.txt': 'main\n' });
    const args = (...more: string[]) => ['--progress', 'plain', '-t', 'moved:1', ...more, ctx];
    const first = build(args());
    assert.equal(build(args()).answered, true);

    // A file's content (same size, old date put back): its COPY and the RUN after it run.
    writeFileSync(path.join(ctx, 'src/main.txt'), 'MAIN\n');
    utimesSync(path.join(ctx, 'src/main.txt'), PAST, PAST);
    const edited = build(args());
    assert.equal(edited.answered, false);
    assert.notEqual(edited.stdout, first.stdout);
    assert.match(edited.stderr, /^#\d+ DONE /m);
    assert.equal(build(args()).answered, true, 'and the build after it is answered again');

    // A new file in a copied directory.
    writeFileSync(path.join(ctx, 'src/extra.txt'), 'extra\n');
    assert.equal(build(args()).answered, false);
    assert.equal(build(args()).answered, true);

    // A build arg: the RUN that sees it runs.
    const flavoured = build(args('--build-arg', 'FLAVOUR=spicy'));
    assert.equal(flavoured.answered, false);
    assert.match(flavoured.stderr, /^#\d+ DONE /m);
    assert.equal(build(args('--build-arg', 'FLAVOUR=spicy')).answered, true);
    // ... given from the environment (--build-arg NAME): its value is the question, not its name.
    const fromEnv = run(['build', ...args('--build-arg', 'FLAVOUR')], { env: { FLAVOUR: 'mild' } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stderr, /^#\d+ DONE /m);
    assert.equal(build(args()).answered, false, 'back to the default value: the store has it, the question changed');

    // The Dockerfile: a comment changes no step, but the Dockerfile is not the one answered for.
    writeFileSync(path.join(ctx, 'Dockerfile'), `# a comment\n${DOCKERFILE}`);
    utimesSync(path.join(ctx, 'Dockerfile'), PAST, PAST);
    utimesSync(ctx, PAST, PAST);
    const commented = build(args());
    assert.equal(commented.answered, false);
    assert.equal(cachedSteps(commented.stderr), startedSteps(commented.stderr));
    assert.equal(build(args()).answered, true);

    // The base image, named again for other files: every step runs on it.
    const rootfs = path.join(scratch, 'rootfs');
    writeFileSync(path.join(rootfs, 'etc', 'motd'), 'another base\n');
    ok(['image', 'import', rootfs, '--tag', 'busybox:local']);
    const rebased = build(args());
    assert.equal(rebased.answered, false);
    assert.equal(cachedSteps(rebased.stderr), 0);
    assert.equal(build(args()).answered, true);

    // The build cache pruned: the steps run again (the image itself is still there).
    ok(['cache', 'prune', '--build']);
    const pruned = build(args());
    assert.equal(pruned.answered, false);
    assert.equal(cachedSteps(pruned.stderr), 0);

    // The image's name removed, or a new one asked for: the build names it.
    const built = build(args());
    assert.equal(built.answered, true);
    ok(['image', 'rm', 'moved:1']);
    assert.equal(build(args()).answered, false);
    assert.match(ok(['image', 'ls']).stdout, /moved:1/);
    const renamed = build(['-t', 'moved:2', ...args()]);
    assert.equal(renamed.answered, false);
    assert.match(ok(['image', 'ls']).stdout, /moved:2/);

    // An output is never answered (it is written each time).
    const out = path.join(scratch, 'moved.tar');
    assert.equal(build(args('--output', `type=oci,dest=${out}`)).answered, false);
    assert.ok(statSync(out).size > 0);
    // --no-cache is never answered; its new layers are then what the cache records name, so the next build runs too.
    assert.equal(build(args('--no-cache')).answered, false);
    assert.equal(build(args()).answered, false);

    // A damaged record costs a build, never an error.
    assert.equal(build(args()).answered, true);
    const records = path.join(store, 'cache', 'up-to-date');
    for (const name of readdirSync(records)) writeFileSync(path.join(records, name), '{"question":');
    assert.equal(build(args()).answered, false);
    assert.equal(build(args()).answered, true);
  });

  it('refuses what the build refuses, with its messages, however up to date the image is', () => {
    const ctx = makeContext('refused', DOCKERFILE, { 'src/main.txt': 'main\n' });
    build(['-q', '-t', 'refused:1', ctx]);
    assert.equal(build(['-q', '-t', 'refused:1', ctx]).answered, true);
    const jobs = run(['build', '-q', '--jobs', '0', '-t', 'refused:1', ctx]);
    assert.equal(jobs.code, 2);
    assert.match(jobs.stderr, /invalid --jobs "0"/);
    const iid = run(['build', '-q', '--iidfile', path.join(scratch, 'no-such-dir', 'iid'), '-t', 'refused:1', ctx]);
    assert.equal(iid.code, 1);
    assert.match(iid.stderr, /cannot write the image digest there/);
    assert.equal(iid.stdout, '', 'no digest printed: the build did not succeed');
  });

  it('never answers for a Dockerfile that downloads: what the URL serves can change with nothing else', async () => {
    const served = path.join(scratch, 'served.txt');
    writeFileSync(served, 'one\n');
    const server = await serveFile(served);
    try {
      const ctx = makeContext('fetch', `FROM busybox:local\nADD ${server.url} /fetched.txt\n`, {});
      const first = build(['-q', ctx]);
      const again = build(['-q', ctx]);
      assert.equal(again.answered, false);
      assert.equal(again.stdout, first.stdout);
      writeFileSync(served, 'two\n');
      const changed = build(['-q', ctx]);
      assert.notEqual(changed.stdout, first.stdout, 'the new download makes a new image');
    } finally {
      server.child.kill();
    }
  });
});

/** `file` over HTTP from a process of its own (the builds here block this one's event loop). */
function serveFile(file: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', `
    const http = require('node:http'), fs = require('node:fs');
    const server = http.createServer((req, res) => res.end(fs.readFileSync(${JSON.stringify(file)})));
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (port: Buffer) => resolve({ url: `http://127.0.0.1:${String(port).trim()}/file.txt`, child }));
  });
}
