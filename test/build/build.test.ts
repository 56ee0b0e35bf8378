/**
 * strata build for real: RUN in the sandbox, layers in the store, images
 * checked with umoci, and each cache rule proved by a rebuild after one
 * change, looking at which steps came from the cache. The suite runs once
 * per snapshotter: overlay here, copy from build-copy.test.ts (which sets
 * STRATA_TEST_SNAPSHOTTER before importing this file).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, lstatSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { build, type BuildEvent } from '../../lib/build/index.js';
import { readCopyRecord } from '../../lib/cache/index.js';
import { closeHashPool, findIgnoreFile, hashContext, loadIgnoreFile, type HashedContext } from '../../lib/context/index.js';
import { loadDockerfile, planBuild } from '../../lib/dockerfile/index.js';
import { BuildError, ContextError } from '../../lib/errors/index.js';
import type { RunNetwork } from '../../lib/exec/index.js';
import { exportImage, findImage, importImage, readConfig, readManifest, requireImage } from '../../lib/image/index.js';
import { startTarThread } from '../../lib/snapshot/index.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-build-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
after(closeHashPool);
const store = path.join(scratch, 'store');
const SNAPSHOTTER = process.env.STRATA_TEST_SNAPSHOTTER === 'copy' ? 'copy' : 'overlay';

function need(tool: string, why: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is not installed (${why}): run scripts/setup-system.sh`);
}

interface Outcome {
  readonly steps: { text: string; cached: boolean }[];
  /** Why each stage's first missed step missed: `text: explanation`. */
  readonly explained: string[];
  readonly digest: string;
  readonly executed: number;
  readonly logs: string[];
}

interface BuildTestOptions {
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  tags?: string[];
  network?: RunNetwork;
  /** The context handed to the build (as the dev loop hands it), instead of the build hashing it. */
  context?: Promise<HashedContext>;
  /** Sees each event as it happens. */
  onEvent?: (e: BuildEvent) => void;
}

async function strataBuild(dir: string, options: BuildTestOptions = {}): Promise<Outcome> {
  const typed = loadDockerfile(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' });
  const plan = planBuild(typed, { buildArgs: options.buildArgs, target: options.target, baseImage: (image) => {
    const found = findImage(store, image);
    const config = found && readConfig(store, readManifest(store, found.manifest)).config;
    return found ? { env: config?.Env ?? [], onBuild: config?.OnBuild ?? [] } : undefined;
  } });
  const events: BuildEvent[] = [];
  const ignore = findIgnoreFile(dir, path.join(dir, 'Dockerfile'));
  const result = await build({
    store, contextDir: dir, typed, plan, ignorePatterns: ignore ? loadIgnoreFile(ignore) : [], tags: options.tags ?? [], noCache: options.noCache ?? false,
    statCacheFile: path.join(scratch, `${path.basename(dir)}.statcache`), snapshotter: SNAPSHOTTER,
    onEvent: (e) => {
      events.push(e);
      options.onEvent?.(e);
    },
    inputsFile: path.join(scratch, `${path.basename(dir)}.inputs`), network: options.network, context: options.context,
  });
  assert.equal(result.snapshotter, SNAPSHOTTER);
  const texts = new Map<number, string>();
  const steps: { text: string; cached: boolean }[] = [];
  for (const e of events) {
    if (e.type === 'step-start') texts.set(e.id, e.text);
    if (e.type === 'step-done') steps.push({ text: texts.get(e.id)!, cached: e.cached });
  }
  const explained = events.flatMap((e) => (e.type === 'step-explain' ? [`${texts.get(e.id)}: ${e.text}`] : []));
  return { steps, explained, digest: result.manifest.digest, executed: result.executed, logs: events.flatMap((e) => (e.type === 'step-log' ? [e.line] : [])) };
}

/** The processes running `sleep SECONDS` (a number no other test uses): a RUN's, left behind if its sandbox was not killed. */
function sleepersOf(seconds: number): string[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(`sleep\0${seconds}`);
    } catch {
      return false;
    }
  });
}

const cachedOf = (o: Outcome) => o.steps.map((s) => `${s.cached ? 'CACHED' : 'RAN   '} ${s.text}`);

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
    utimesSync(path.join(dir, name), new Date('2024-01-01'), new Date('2024-01-01'));
  }
  return dir;
}

/** The image's files as umoci unpacks them. */
async function rootfsOf(ref: string): Promise<string> {
  const layout = mkdtempSync(path.join(scratch, 'layout-'));
  rmSync(layout, { recursive: true });
  const image = requireImage(store, ref);
  await exportImage(store, image.name, image.manifest, layout, 'oci');
  const bundle = path.join(scratch, `bundle-${Math.random().toString(36).slice(2)}`);
  execFileSync('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${layout}:${image.name}`, bundle], { stdio: 'pipe' });
  return path.join(bundle, 'rootfs');
}

/** A layer's regular files (the `fromTop`th layer of the image, 1 for the top one), as `tar -tv` lists them, each with the sha256 of its content. */
function regularFilesOfLayer(ref: string, fromTop: number): string[] {
  const manifest = readManifest(store, requireImage(store, ref).manifest);
  const blob = path.join(store, 'blobs', 'sha256', manifest.layers.at(-fromTop)!.digest.slice(7));
  const out = mkdtempSync(path.join(scratch, 'layer-'));
  execFileSync('tar', ['-xf', blob, '-C', out]);
  const listing = execFileSync('tar', ['-tvf', blob, '--full-time'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('-'));
  return listing.map((l) => `${l} ${createHash('sha256').update(readFileSync(path.join(out, l.split(' ').at(-1)!))).digest('hex')}`);
}

const APP = {
  Dockerfile: [
    '# an app',
    'FROM busybox:local',
    'ARG MODE=dev',
    'ENV GREETING=hi',
    'LABEL stage=one',
    'WORKDIR /app',
    'COPY package.json ./',
    'RUN echo "installing for $MODE" && cp package.json installed.json',
    'COPY src/ ./src/',
    'RUN echo "$GREETING" > greeting.txt && ls src > files.txt',
    'CMD ["cat", "/app/greeting.txt"]',
    '',
  ].join('\n'),
  'package.json': '{"name":"app"}',
  'src/a.js': 'a',
  'src/b.js': 'b',
  'notes.log': 'ignored',
  '.dockerignore': '*.log\n',
};

describe(`strata build (${SNAPSHOTTER} snapshotter)`, () => {
  before(async () => {
    if (SNAPSHOTTER === 'overlay' && process.getuid?.() !== 0) {
      assert.fail('the overlay snapshotter suite needs root to mount overlayfs (CI runs as root); STRATA_TEST_SNAPSHOTTER=copy runs the copy one');
    }
    need('bwrap', 'RUN executes in a bubblewrap sandbox');
    need('umoci', 'images are checked with umoci');
    need('busybox', 'the base image is busybox-static');
    const rootfs = path.join(scratch, 'busybox-rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    await importImage(store, rootfs, 'busybox:local');
  });

  it('builds a real image: RUN ran in the sandbox, files, modes and config are in it', async () => {
    const dir = project(APP);
    const first = await strataBuild(dir, { tags: ['app:1'] });
    assert.equal(first.executed, 5);
    assert.ok(first.logs.includes('installing for dev'));
    const root = await rootfsOf('app:1');
    assert.equal(readFileSync(path.join(root, 'app/greeting.txt'), 'utf8'), 'hi\n');
    assert.equal(readFileSync(path.join(root, 'app/files.txt'), 'utf8'), 'a.js\nb.js\n');
    assert.equal(readFileSync(path.join(root, 'app/installed.json'), 'utf8'), '{"name":"app"}');
    assert.equal(lstatSync(path.join(root, 'app/src/a.js')).uid, 0);
    const manifest = readManifest(store, requireImage(store, 'app:1').manifest);
    const config = readConfig(store, manifest);
    assert.deepEqual(config.config?.Cmd, ['cat', '/app/greeting.txt']);
    assert.equal(config.config?.WorkingDir, '/app');
    assert.deepEqual(config.config?.Labels, { stage: 'one' });
    assert.ok(config.config?.Env?.includes('GREETING=hi'));
    assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
    assert.ok(config.history!.some((h) => h.created_by === 'LABEL stage=one' && h.empty_layer));
    // The layers the build made are kept as plain tars, as Docker's own store keeps them: no build waits for
    // gzip (a push or a cache export compresses them). The base image's layer came in as it was imported.
    const made = manifest.layers.slice(1);
    assert.ok(made.every((l, i) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar' && l.digest === config.rootfs.diff_ids[i + 1]), JSON.stringify(manifest.layers));
  });

  it('rebuilds with every step CACHED and no RUN executed', async () => {
    const dir = project(APP);
    const first = await strataBuild(dir);
    const again = await strataBuild(dir);
    assert.equal(again.digest, first.digest, 'a rebuild from the cache is the identical image');
    assert.equal(again.executed, 0);
    assert.ok(again.steps.every((s) => s.cached), cachedOf(again).join('\n'));
    assert.deepEqual(again.logs, []);
  });

  it('puts a big layer\'s blob in place while the next steps run: the image, its blobs and the cache are whole when the build returns', async () => {
    // 6 MiB: its blob is fsynced into place behind the steps after it, not before them.
    const dir = project({ Dockerfile: 'FROM busybox:local\nRUN head -c 6291456 /dev/urandom > /big\nRUN echo after > /after\nRUN echo last > /last\n' });
    const first = await strataBuild(dir, { tags: ['big:1'] });
    assert.equal(first.executed, 3);
    const manifest = readManifest(store, requireImage(store, 'big:1').manifest);
    const config = readConfig(store, manifest);
    assert.equal(manifest.layers.length, config.rootfs.diff_ids.length);
    for (const layer of manifest.layers) {
      const blob = readFileSync(path.join(store, 'blobs', 'sha256', layer.digest.slice(7)));
      assert.equal(`sha256:${createHash('sha256').update(blob).digest('hex')}`, layer.digest);
      assert.equal(blob.length, layer.size);
    }
    const root = await rootfsOf('big:1');
    assert.equal(lstatSync(path.join(root, 'big')).size, 6291456);
    const again = await strataBuild(dir);
    assert.equal(again.digest, first.digest);
    assert.ok(again.steps.every((st) => st.cached), cachedOf(again).join('\n'));
  });

  it('misses from the first changed step on, and only there', async () => {
    const dir = project(APP);
    await strataBuild(dir);
    writeFileSync(path.join(dir, 'src/a.js'), 'a2');
    const after = await strataBuild(dir);
    assert.deepEqual(cachedOf(after), [
      'CACHED WORKDIR /app',
      'CACHED COPY package.json ./',
      'CACHED RUN echo "installing for $MODE" && cp package.json installed.json',
      'RAN    COPY src/ ./src/',
      'RAN    RUN echo "$GREETING" > greeting.txt && ls src > files.txt',
    ]);
  });

  it('ignores what cannot change the result: times, ignored files, comments, keyword case, labels', async () => {
    const dir = project(APP);
    const base = await strataBuild(dir);
    utimesSync(path.join(dir, 'src/a.js'), new Date(), new Date());
    writeFileSync(path.join(dir, 'notes.log'), 'changed but ignored');
    writeFileSync(path.join(dir, 'Dockerfile'), APP.Dockerfile.replace('# an app', '# another comment\n\n').replace('WORKDIR /app', 'workdir   /app').replace('LABEL stage=one', 'LABEL stage=two'));
    const after = await strataBuild(dir);
    assert.equal(after.executed, 0, cachedOf(after).join('\n'));
    assert.notEqual(after.digest, base.digest); // the label is in the config
  });

  it('misses on a mode change, a new file, an ENV or --build-arg reaching a RUN', async () => {
    const dir = project(APP);
    await strataBuild(dir);
    chmodSync(path.join(dir, 'src/b.js'), 0o755);
    assert.deepEqual((await strataBuild(dir)).steps.map((s) => s.cached), [true, true, true, false, false]);
    writeFileSync(path.join(dir, 'src/c.js'), 'c');
    assert.deepEqual((await strataBuild(dir)).steps.map((s) => s.cached), [true, true, true, false, false]);
    const arg = await strataBuild(dir, { buildArgs: { MODE: 'prod' } });
    assert.deepEqual(arg.steps.map((s) => s.cached), [true, true, false, false, false]);
    assert.ok(arg.logs.includes('installing for prod'));
    // Passing the default explicitly changes nothing.
    assert.equal((await strataBuild(dir, { buildArgs: { MODE: 'dev' } })).executed, 0);
    // An ENV change reaches the first RUN after it (which gets it as environment); everything after a miss misses.
    writeFileSync(path.join(dir, 'Dockerfile'), APP.Dockerfile.replace('ENV GREETING=hi', 'ENV GREETING=hello'));
    assert.deepEqual((await strataBuild(dir)).steps.map((s) => s.cached), [true, true, false, false, false]);
  });

  it('says why the first missed step of each stage missed: files, a build arg, the line, the base, --no-cache', async () => {
    const dir = project({
      Dockerfile: 'FROM busybox:local AS base\nARG MODE=dev\nRUN echo $MODE > /mode\nFROM base\nCOPY src/ /app/\nRUN ls /app\n',
      'src/a.txt': 'a', 'src/b.txt': 'b',
    });
    assert.deepEqual((await strataBuild(dir)).explained, ['RUN echo $MODE > /mode: no earlier build of this step', 'COPY src/ /app/: no earlier build of this step']);
    writeFileSync(path.join(dir, 'src/a.txt'), 'A');
    writeFileSync(path.join(dir, 'src/c.txt'), 'c');
    rmSync(path.join(dir, 'src/b.txt'));
    assert.deepEqual((await strataBuild(dir)).explained, ['COPY src/ /app/: files changed: modified src/a.txt; added src/c.txt; removed src/b.txt']);
    writeFileSync(path.join(dir, 'Dockerfile'), readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace('RUN ls /app', 'RUN ls -l /app'));
    assert.deepEqual((await strataBuild(dir)).explained, ['RUN ls -l /app: line 6 changed: "RUN ls /app" -> "RUN ls -l /app"']);
    // A build arg reaches the base stage's RUN; the stage built on it misses because its base changed.
    assert.deepEqual((await strataBuild(dir, { buildArgs: { MODE: 'prod' } })).explained, [
      'RUN echo $MODE > /mode: build arg MODE changed: "dev" -> "prod"',
      'COPY src/ /app/: the base image or stage changed',
    ]);
    assert.deepEqual((await strataBuild(dir, { buildArgs: { MODE: 'prod' } })).explained, []);
    assert.deepEqual((await strataBuild(dir, { buildArgs: { MODE: 'prod' }, noCache: true })).explained, ['RUN echo $MODE > /mode: --no-cache', 'COPY src/ /app/: --no-cache']);
  });

  it('--no-cache runs everything, and its fresh layers serve the next build', async () => {
    const dir = project(APP);
    await strataBuild(dir);
    const fresh = await strataBuild(dir, { noCache: true });
    assert.equal(fresh.executed, 5);
    assert.equal((await strataBuild(dir)).executed, 0);
  });

  it('builds independent stages at the same time', async () => {
    const dir = project({
      Dockerfile: ['FROM busybox:local AS one', 'RUN sleep 1 && echo one > /one', 'FROM busybox:local AS two', 'RUN sleep 1 && echo two > /two',
        'FROM busybox:local', 'COPY --from=one /one /one', 'COPY --from=two /two /two'].join('\n'),
    });
    const typed = loadDockerfile(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' });
    const events: BuildEvent[] = [];
    await build({ store, contextDir: dir, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: true, onEvent: (e) => events.push(e), snapshotter: SNAPSHOTTER, jobs: 2 });
    const runs = events.filter((e): e is Extract<BuildEvent, { type: 'step-start' }> => e.type === 'step-start' && e.text.startsWith('RUN'));
    assert.equal(runs.length, 2);
    const doneOf = (id: number) => events.findIndex((e) => e.type === 'step-done' && e.id === id);
    const startOf = (id: number) => events.findIndex((e) => e.type === 'step-start' && e.id === id);
    // Each RUN started before the other finished: they overlapped.
    assert.ok(startOf(runs[1]!.id) < doneOf(runs[0]!.id) && startOf(runs[0]!.id) < doneOf(runs[1]!.id), events.map((e) => e.type).join(' '));
    // With --jobs 1 the stages still go side by side, but one RUN command at a time: the commands' own spans do not overlap.
    const serial: BuildEvent[] = [];
    await build({ store, contextDir: dir, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: true, onEvent: (e) => serial.push(e), snapshotter: SNAPSHOTTER, jobs: 1 });
    const spans = serial.flatMap((e) => (e.type === 'step-done' && e.execSeconds > 0 ? [[e.execStartedAt, e.execStartedAt + e.execSeconds * 1000] as const] : [])).sort((a, b) => a[0] - b[0]);
    assert.equal(spans.length, 2);
    assert.ok(spans[1]![0] >= spans[0]![1], `RUN spans ${JSON.stringify(spans)}`);
  });

  it('starts a stage as soon as the stages it needs are done, not when a whole level is', async () => {
    const dir = project({
      Dockerfile: ['FROM busybox:local AS slow', 'RUN sleep 1.5 && echo slow > /slow', 'FROM busybox:local AS fast', 'RUN echo fast > /fast',
        'FROM fast AS after-fast', 'RUN echo next > /next', 'FROM busybox:local', 'COPY --from=slow /slow /slow', 'COPY --from=after-fast /next /next'].join('\n'),
    });
    const typed = loadDockerfile(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' });
    const events: BuildEvent[] = [];
    await build({ store, contextDir: dir, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: true, onEvent: (e) => events.push(e), snapshotter: SNAPSHOTTER, jobs: 4 });
    const idOf = (text: string) => events.find((e): e is Extract<BuildEvent, { type: 'step-start' }> => e.type === 'step-start' && e.text === text)!.id;
    const startOf = (id: number) => events.findIndex((e) => e.type === 'step-start' && e.id === id);
    const doneOf = (id: number) => events.findIndex((e) => e.type === 'step-done' && e.id === id);
    // after-fast (level 2, needing only fast) ran while slow (level 1) was still sleeping.
    assert.ok(startOf(idOf('RUN echo next > /next')) < doneOf(idOf('RUN sleep 1.5 && echo slow > /slow')), events.map((e) => e.type).join(' '));
  });

  it('cancels the sibling stages of a stage that fails, and reports the failing one', async () => {
    const dir = project({
      Dockerfile: ['FROM busybox:local AS slow', 'RUN sleep 302', 'FROM busybox:local AS bad', 'RUN exit 4',
        'FROM busybox:local', 'COPY --from=slow /etc/passwd /a', 'COPY --from=bad /etc/passwd /b'].join('\n'),
    });
    await assert.rejects(strataBuild(dir), (e: BuildError) => e.line === 4 && /exit code: 4/.test(e.message));
    assert.deepEqual(sleepersOf(302), [], 'the sibling stage\'s sandbox was killed');
  });

  it('runs the steps that read nothing of the context while it is hashed; a COPY waits for it', async () => {
    const dir = project({ Dockerfile: 'FROM busybox:local\nWORKDIR /w\nRUN echo ran > ran.txt\nCOPY app.txt ./\nRUN cat ran.txt app.txt > both.txt\n', 'app.txt': 'app\n' });
    // The context is ready only once the RUN before the COPY is done: a build that waited for it first would
    // wait for ever (the timer then hands it over, and the order of the events below says what happened).
    let handOver!: () => void;
    const handed = new Promise<void>((resolve) => (handOver = resolve));
    const fallback = setTimeout(handOver, 10_000);
    const texts = new Map<number, string>();
    const order: string[] = [];
    await strataBuild(dir, {
      tags: ['early:1'],
      context: handed.then(() => hashContext(dir)),
      onEvent: (e) => {
        if (e.type === 'step-start') texts.set(e.id, e.text);
        if (e.type === 'step-done') order.push(`done ${texts.get(e.id)}`);
        if (e.type === 'context') order.push('context');
        if (e.type === 'step-done' && texts.get(e.id) === 'RUN echo ran > ran.txt') handOver();
      },
    });
    clearTimeout(fallback);
    assert.deepEqual(order, ['done WORKDIR /w', 'done RUN echo ran > ran.txt', 'context', 'done COPY app.txt ./', 'done RUN cat ran.txt app.txt > both.txt']);
    assert.equal(readFileSync(path.join(await rootfsOf('early:1'), 'w/both.txt'), 'utf8'), 'ran\napp\n');
  });

  it('stops the build when its context cannot be hashed, killing a RUN that runs meanwhile, and reports the context\'s error', async () => {
    const dir = project({ Dockerfile: 'FROM busybox:local\nRUN echo started && sleep 303\nCOPY app.txt /\n', 'app.txt': 'app\n' });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const errors: string[] = [];
    await assert.rejects(strataBuild(dir, {
      // (A directory that is not there: hashing it fails as an unreadable context does.)
      context: running.then(() => hashContext(path.join(dir, 'gone'))),
      onEvent: (e) => {
        if (e.type === 'step-log' && e.line === 'started') started();
        if (e.type === 'step-error') errors.push(e.message);
      },
    }), (e: Error) => e instanceof ContextError && /build context does not exist/.test(e.message));
    assert.deepEqual(errors, ['cancelled']);
    assert.deepEqual(sleepersOf(303), [], 'the RUN\'s sandbox was killed');
  });

  it('builds only what the target needs; copies from stages by content', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local AS gen', 'RUN mkdir /out && echo built > /out/x',
        'FROM busybox:local AS broken', 'RUN exit 1',
        'FROM busybox:local', 'COPY --from=gen /out /copied', 'RUN cat /copied/x',
      ].join('\n'),
    });
    const first = await strataBuild(dir, { tags: ['multi:1'] });
    assert.ok(first.logs.includes('built'));
    assert.equal(readFileSync(path.join(await rootfsOf('multi:1'), 'copied/x'), 'utf8'), 'built\n');
    // A different command in the upstream stage that makes the same files: downstream stays cached.
    writeFileSync(path.join(dir, 'Dockerfile'), readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace('echo built > /out/x', 'printf "built\\n" > /out/x'));
    const again = await strataBuild(dir);
    assert.deepEqual(again.steps.map((s) => s.cached), [false, true, true]);
  });

  it('runs RUN as the image USER, resolved through its passwd and group files', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local',
        // Debian's busybox-static has no adduser: write the entries as it would.
        "RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && printf 'app:x:1234:\\nextra:x:2345:app\\n' >> /etc/group && mkdir -p /home/app && chown 1234:1234 /home/app",
        'USER app',
        'RUN id -u && id -G && echo "home=$HOME" && touch /home/app/mine',
        'RUN touch /etc/forbidden',
      ].join('\n'),
    });
    await assert.rejects(strataBuild(dir), (e: BuildError) => e.line === 5 && /exit code: 1/.test(e.message) && /Permission denied/.test(e.hint ?? ''));
    writeFileSync(path.join(dir, 'Dockerfile'), readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace('RUN touch /etc/forbidden', 'USER root'));
    // The steps before the failure stayed in the cache; --no-cache runs them again to show their output.
    const ok = await strataBuild(dir, { tags: ['users:1'], noCache: true });
    assert.deepEqual(ok.logs.slice(0, 3), ['1234', '1234 2345', 'home=/home/app']);
    assert.equal(lstatSync(path.join(await rootfsOf('users:1'), 'home/app/mine')).uid, 1234);
  });

  it('fires ONBUILD triggers once, of a base stage and of a base image, with the child\'s context', async () => {
    const dir = project({ Dockerfile: 'FROM busybox:local AS base\nONBUILD RUN echo triggered > /t\nFROM base\nRUN cat /t\n' });
    const built = await strataBuild(dir, { tags: ['onb:1'] });
    assert.ok(built.logs.includes('triggered'));
    assert.equal(readConfig(store, readManifest(store, requireImage(store, 'onb:1').manifest)).config?.OnBuild, undefined);
    const parent = project({ Dockerfile: 'FROM busybox:local\nWORKDIR /app\nONBUILD COPY app.txt ./\nONBUILD RUN echo "fired in $(pwd)"\n' });
    await strataBuild(parent, { tags: ['with-triggers:1'] });
    assert.deepEqual(readConfig(store, readManifest(store, requireImage(store, 'with-triggers:1').manifest)).config?.OnBuild, ['COPY app.txt ./', 'RUN echo "fired in $(pwd)"']);
    const child = project({ Dockerfile: 'FROM with-triggers:1\nRUN cat /app/app.txt\n', 'app.txt': 'from the child' });
    const fired = await strataBuild(child, { tags: ['child:1'] });
    assert.deepEqual(fired.steps.map((st) => st.text), ['COPY app.txt ./', 'RUN echo "fired in $(pwd)"', 'RUN cat /app/app.txt']);
    assert.deepEqual(fired.logs, ['fired in /app', 'from the child']);
    // Triggers fire once: the child image does not carry them on.
    assert.equal(readConfig(store, readManifest(store, requireImage(store, 'child:1').manifest)).config?.OnBuild, undefined);
    // A plan made without looking at the image would skip them: the build refuses it rather than build without them.
    const typed = loadDockerfile(readFileSync(path.join(child, 'Dockerfile')), { file: 'Dockerfile' });
    await assert.rejects(build({ store, contextDir: child, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: false, onEvent: () => undefined }),
      (e: BuildError) => e.line === 1 && /ONBUILD triggers that the plan did not fire/.test(e.message));
  });

  it("expands a stage's words with its base image's ENV; a base without PATH gets the default one; metadata is dated by the steps around it", async () => {
    const base = project({ Dockerfile: 'FROM busybox:local\nENV APPDIR=/opt/app GREETING=hello\nRUN true > /made\n' });
    await strataBuild(base, { tags: ['env-base:1'] });
    const baseConfig = readConfig(store, readManifest(store, requireImage(store, 'env-base:1').manifest));
    // busybox:local, imported from a root filesystem, sets no PATH: the stage got BuildKit's default.
    assert.ok(baseConfig.config?.Env?.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
    const dir = project({
      Dockerfile: 'FROM env-base:1\nARG GREETING=arg\nENV PATH=/opt/app/bin:$PATH SAID=$GREETING\nWORKDIR $APPDIR\nRUN echo "$SAID $PATH" > said && pwd >> said\nCMD ["sh"]\n',
    });
    await strataBuild(dir, { tags: ['env-child:1'] });
    const root = await rootfsOf('env-child:1');
    assert.equal(readFileSync(path.join(root, 'opt/app/said'), 'utf8'), 'hello /opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/opt/app\n');
    const config = readConfig(store, readManifest(store, requireImage(store, 'env-child:1').manifest));
    assert.equal(config.config?.WorkingDir, '/opt/app');
    assert.ok(config.config?.Env?.includes('PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
    // As BuildKit's exporter dates them: the ARG and ENV after FROM like the first layer this build made (not
    // like the base image), the CMD after the last one like that one.
    const history = config.history!;
    const own = history.slice(baseConfig.history!.length);
    assert.deepEqual(own.map((h) => h.created_by!.split(' ')[0]), ['ARG', 'ENV', 'WORKDIR', 'RUN', 'CMD']);
    assert.equal(own[0]!.created, own[2]!.created);
    assert.equal(own[1]!.created, own[2]!.created);
    assert.equal(own[4]!.created, own[3]!.created);
    assert.notEqual(own[0]!.created, baseConfig.history!.at(-1)!.created);
    // A plan made without the image's ENV would have expanded $APPDIR to nothing: the build refuses it.
    const typed = loadDockerfile(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' });
    await assert.rejects(build({ store, contextDir: dir, typed, plan: planBuild(typed), ignorePatterns: [], tags: [], noCache: false, onEvent: () => undefined }),
      (e: BuildError) => e.line === 1 && /ENV that the plan did not expand with/.test(e.message));
  });

  it('gives a RUN only loopback with --network=none, per RUN or for the whole build (docker build --network), and keys it so', async () => {
    const links = 'ip -o link | cut -d: -f2 | tr -d " " | tr "\\n" " "';
    const dir = project({ Dockerfile: `FROM busybox:local\nRUN echo "plain: $(${links})"\nRUN --network=none echo "none: $(${links})"\nRUN --network=default echo "default: $(${links})"\n` });
    const host = await strataBuild(dir);
    assert.deepEqual(host.logs.filter((l) => l.startsWith('none')), ['none: lo ']);
    const hostLinks = host.logs.find((l) => l.startsWith('plain'))!;
    assert.ok(hostLinks.split(' ').length > 3, `the host network has more than loopback: ${hostLinks}`);
    const isolated = await strataBuild(dir, { network: 'none' });
    assert.deepEqual(isolated.logs, ['plain: lo ', 'none: lo ', hostLinks.replace('plain', 'default')]);
    // The network is part of a RUN's key: the same Dockerfile without --network none hits the first build's steps.
    assert.deepEqual((await strataBuild(dir)).steps.map((s) => s.cached), [true, true, true]);
  });

  it('words the history as BuildKit does: Go-quoted CMD and HEALTHCHECK, the EXPOSE port map, RUN with its ARGs, no ONBUILD', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local', 'ARG MODE=dev EMPTY', 'SHELL ["/bin/sh", "-ec"]', 'RUN echo "a \\"quoted\\" word"',
        'HEALTHCHECK --interval=1m30s --timeout=1500ms --retries=3 CMD ["wget", "-q", "http://localhost/"]',
        'EXPOSE 80/UDP 443 8000-8001', 'VOLUME /data /cache', 'ONBUILD RUN true', 'ENTRYPOINT exec app "$MODE"', 'CMD ["--port", "80"]', '',
      ].join('\n'),
    });
    await strataBuild(dir, { tags: ['worded:1'] });
    const config = readConfig(store, readManifest(store, requireImage(store, 'worded:1').manifest));
    const own = config.history!.slice(1).map((h) => h.created_by);
    assert.deepEqual(own, [
      'ARG MODE=dev EMPTY',
      'SHELL [/bin/sh -ec]',
      'RUN |2 MODE=dev EMPTY= /bin/sh -ec echo "a \\"quoted\\" word" # buildkit',
      'HEALTHCHECK &{["CMD" "wget" "-q" "http://localhost/"] "1m30s" "1.5s" "0s" "0s" \'\\x03\'}',
      'EXPOSE map[443/tcp:{} 80/udp:{} 8000/tcp:{} 8001/tcp:{}]',
      'VOLUME [/data /cache]',
      'ENTRYPOINT ["/bin/sh" "-ec" "exec app \\"$MODE\\""]',
      'CMD ["--port" "80"]',
    ]);
    assert.deepEqual(Object.keys(config.config?.ExposedPorts ?? {}).sort(), ['443/tcp', '80/udp', '8000/tcp', '8001/tcp']);
    assert.deepEqual(config.config?.OnBuild, ['RUN true']);
    assert.equal(config.config?.ArgsEscaped, true, 'set on CMD, as BuildKit does');
  });

  it('copies files with their setuid, setgid and sticky bits, owners and times, with --chown and --chmod too', async () => {
    const dir = project({ Dockerfile: 'FROM busybox:local\nCOPY tool shared/ /plain/\nCOPY --chown=1234:2345 tool shared/ /owned/\nCOPY --chmod=2711 tool /moded/\n', tool: '#!/bin/sh\n', 'shared/f': 'f' });
    chmodSync(path.join(dir, 'tool'), 0o4755);
    chmodSync(path.join(dir, 'shared'), 0o1777);
    await strataBuild(dir, { tags: ['modes:1'] });
    const root = await rootfsOf('modes:1');
    const mode = (p: string) => (lstatSync(path.join(root, p)).mode & 0o7777).toString(8);
    assert.deepEqual([mode('plain/tool'), mode('owned/tool'), mode('moded/tool'), mode('plain/f'), mode('owned/f')], ['4755', '4755', '2711', '644', '644']);
    const owned = lstatSync(path.join(root, 'owned/tool'));
    assert.deepEqual([owned.uid, owned.gid], process.getuid?.() === 0 ? [1234, 2345] : [owned.uid, owned.gid]);
    assert.equal(lstatSync(path.join(root, 'plain/tool')).mtimeMs, new Date('2024-01-01').getTime());
  });

  it("keeps a base image's setuid and setgid bits where RUN and COPY --from see its files", async () => {
    const rootfs = path.join(scratch, 'suid-rootfs');
    execFileSync('cp', ['-a', path.join(scratch, 'busybox-rootfs'), rootfs]);
    writeFileSync(path.join(rootfs, 'tool'), '#!/bin/sh\n');
    chmodSync(path.join(rootfs, 'tool'), 0o4755);
    mkdirSync(path.join(rootfs, 'shared'));
    chmodSync(path.join(rootfs, 'shared'), 0o2775);
    await importImage(store, rootfs, 'suid:1');
    const dir = project({ Dockerfile: 'FROM suid:1\nRUN stat -c "%a %n" /tool /shared\nFROM busybox:local\nCOPY --from=0 /tool /copied\n' });
    const built = await strataBuild(dir, { tags: ['suid-copy:1'] });
    assert.deepEqual(built.logs, ['4755 /tool', '2775 /shared']);
    assert.equal(lstatSync(path.join(await rootfsOf('suid-copy:1'), 'copied')).mode & 0o7777, 0o4755);
  });

  it("stops showing a step's output at the log limit, as BuildKit does, and still ends a failure with its last lines", async () => {
    process.env.STRATA_STEP_LOG_MAX_SIZE = '1024';
    try {
      const shown = await strataBuild(project({ Dockerfile: `FROM busybox:local\nRUN seq 1 1000 # ${Date.now()}\n` }));
      // 1 to 283, a line and its newline each, fill the 1,024 bytes exactly; then the note, and nothing more.
      assert.equal(shown.logs.length, 284);
      assert.deepEqual(shown.logs.slice(-2), ['283', '[output clipped, log limit 1KiB reached]']);
      await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local\nRUN seq 1 1000; exit 3\n' })), (e: BuildError) => /exit code: 3/.test(e.message) && /\n {2}1000$/.test(e.hint ?? ''));
    } finally {
      delete process.env.STRATA_STEP_LOG_MAX_SIZE;
    }
  });

  it('records deletions as whiteouts and a recreated directory as opaque; a RUN that changes nothing makes no layer', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local',
        'COPY tree/ /data/',
        'RUN rm /data/drop.txt /bin/ls && rm -rf /data/sub && mkdir /data/sub && echo new > /data/sub/only',
        'RUN true',
        'RUN id >/dev/null',
      ].join('\n'),
      'tree/keep.txt': 'keep',
      'tree/drop.txt': 'drop',
      'tree/sub/old1': '1',
      'tree/sub/old2': '2',
    });
    await strataBuild(dir, { tags: ['diff:1'] });
    const root = await rootfsOf('diff:1');
    assert.equal(readFileSync(path.join(root, 'data/keep.txt'), 'utf8'), 'keep');
    assert.equal(lstatSync(path.join(root, 'data/drop.txt'), { throwIfNoEntry: false }), undefined);
    assert.equal(lstatSync(path.join(root, 'bin/ls'), { throwIfNoEntry: false }), undefined);
    assert.deepEqual(readdirSync(path.join(root, 'data/sub')), ['only']);
    const manifest = readManifest(store, requireImage(store, 'diff:1').manifest);
    // busybox, COPY, the deleting RUN; the two RUNs that changed nothing (the sandbox's mount points included) made none.
    assert.equal(manifest.layers.length, 3);
    const history = readConfig(store, manifest).history!.filter((h) => h.created_by?.startsWith('RUN'));
    assert.deepEqual(history.map((h) => Boolean(h.empty_layer)), [false, true, true]);
  });

  it('keeps a COPY that runs again as a delta over its last run: only what changed is written', { skip: SNAPSHOTTER === 'overlay' ? false : 'the copy snapshotter keeps no layer directories to share' }, async () => {
    const files: Record<string, string> = { Dockerfile: 'FROM busybox:local\nCOPY src/ /app/\nRUN cat /app/f3.txt /app/f7.txt /app/deep/new.txt 2>&1 > /seen || true\n' };
    for (let i = 0; i < 50; i++) files[`src/f${i}.txt`] = `file ${i}\n`;
    files['src/deep/keep.txt'] = 'keep\n';
    const dir = project(files);
    const first = await strataBuild(dir, { tags: ['share:1'] });
    writeFileSync(path.join(dir, 'src/f7.txt'), 'edited\n');
    writeFileSync(path.join(dir, 'src/deep/new.txt'), 'new\n');
    const second = await strataBuild(dir, { tags: ['share:2'] });
    assert.deepEqual(second.steps.map((st) => st.cached), [false, false]);
    assert.notEqual(first.digest, second.digest);
    const copyLayerDir = (ref: string) => {
      const manifest = readManifest(store, requireImage(store, ref).manifest);
      const diffIds = readConfig(store, manifest).rootfs.diff_ids;
      return path.join(store, 'snapshots', diffIds[diffIds.length - 2]!.slice(7, 31));
    };
    // The new version's snapshot holds the edited and the added file and their directories, nothing else.
    const listing = (root: string, rel = ''): string[] => readdirSync(path.join(root, rel)).sort().flatMap((n) => {
      const p = rel ? `${rel}/${n}` : n;
      return lstatSync(path.join(root, p)).isDirectory() ? [p + '/', ...listing(root, p)] : [p];
    });
    assert.deepEqual(listing(copyLayerDir('share:2')), ['app/', 'app/deep/', 'app/deep/new.txt', 'app/f7.txt']);
    assert.equal(readFileSync(`${copyLayerDir('share:2')}.base`, 'utf8'), path.basename(copyLayerDir('share:1')));
    // A RUN on top sees the whole layer through the chain; the image is what a fresh copy would make, and the earlier image is untouched.
    const root2 = await rootfsOf('share:2');
    assert.equal(readFileSync(path.join(root2, 'seen'), 'utf8'), 'file 3\nedited\nnew\n');
    assert.equal(readFileSync(path.join(root2, 'app/f7.txt'), 'utf8'), 'edited\n');
    assert.equal(readFileSync(path.join(root2, 'app/f3.txt'), 'utf8'), 'file 3\n');
    assert.equal(readFileSync(path.join(root2, 'app/deep/keep.txt'), 'utf8'), 'keep\n');
    assert.equal(lstatSync(path.join(root2, 'app/f3.txt')).mode & 0o777, 0o644);
    assert.equal(readFileSync(path.join(await rootfsOf('share:1'), 'app/f7.txt'), 'utf8'), 'file 7\n');
    // A file removed from the source cannot be said by a delta (it holds no whiteouts): that version is written
    // whole, its unchanged files hard-linked from the last run's chain.
    rmSync(path.join(dir, 'src/f9.txt'));
    await strataBuild(dir, { tags: ['share:whole'] });
    const whole = copyLayerDir('share:whole');
    assert.equal(existsSync(`${whole}.base`), false);
    assert.equal(existsSync(path.join(whole, 'app/f9.txt')), false);
    assert.equal(lstatSync(path.join(whole, 'app/f3.txt')).ino, lstatSync(path.join(copyLayerDir('share:1'), 'app/f3.txt')).ino, 'an unchanged file is the same inode');
    assert.equal(lstatSync(path.join(whole, 'app/f7.txt')).ino, lstatSync(path.join(copyLayerDir('share:2'), 'app/f7.txt')).ino, 'found down the chain');
    const rootWhole = await rootfsOf('share:whole');
    assert.equal(existsSync(path.join(rootWhole, 'app/f9.txt')), false);
    assert.equal(readFileSync(path.join(rootWhole, 'seen'), 'utf8'), 'file 3\nedited\nnew\n');
    // A chain grows only so far: after a few deltas a version is written whole again.
    const depths: number[] = [];
    for (let i = 0; i < 8; i++) {
      writeFileSync(path.join(dir, 'src/f1.txt'), `edit ${i}\n`);
      await strataBuild(dir, { tags: ['share:chain'] });
      let depth = 1;
      for (let at = copyLayerDir('share:chain'); existsSync(`${at}.base`); depth++) at = path.join(store, 'snapshots', readFileSync(`${at}.base`, 'utf8'));
      depths.push(depth);
      assert.equal(readFileSync(path.join(await rootfsOf('share:chain'), 'app/f1.txt'), 'utf8'), `edit ${i}\n`);
    }
    assert.ok(Math.max(...depths) <= 7 && depths.includes(1) && depths.indexOf(1) > 0, `chain depths ${depths.join(',')}`);
    // A delta whose base was removed by hand is set aside and its layer extracted whole when next mounted.
    const top = copyLayerDir('share:chain');
    rmSync(path.join(store, 'snapshots', readFileSync(`${top}.base`, 'utf8')), { recursive: true });
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nCOPY src/ /app/\nRUN cat /app/f1.txt /app/f3.txt > /seen\n');
    await strataBuild(dir, { tags: ['share:healed'] });
    assert.equal(existsSync(`${top}.base`), false);
    assert.equal(readFileSync(path.join(await rootfsOf('share:healed'), 'seen'), 'utf8'), 'edit 7\nfile 3\n');
  });

  it('copies the unchanged tar entries of a COPY that runs again from its last run\'s kept tar', { skip: SNAPSHOTTER === 'overlay' ? false : 'the copy snapshotter keeps no layer tars' }, async () => {
    const files: Record<string, string> = { Dockerfile: 'FROM busybox:local\nCOPY src/ /app/\n' };
    for (let i = 0; i < 50; i++) files[`src/f${i}.txt`] = `file ${i}\n`;
    const dir = project(files);
    await strataBuild(dir, { tags: ['share:1'] });
    writeFileSync(path.join(dir, 'src/f7.txt'), 'edited\n');
    await strataBuild(dir, { tags: ['share:2'] });
    // Its unchanged tar entries were copied from the first run's kept tar: the layer's files (names, modes,
    // owners, times, bytes) are what writing every entry afresh makes (no record to share from, every step run again).
    // (Directories are left out: one the COPY creates is dated when it runs.)
    const layerFiles = (ref: string) => regularFilesOfLayer(ref, 1);
    const copies = path.join(store, 'cache', 'copies');
    rmSync(copies, { recursive: true, force: true });
    await strataBuild(dir, { tags: ['share:3'], noCache: true });
    assert.deepEqual(layerFiles('share:2'), layerFiles('share:3'));
    // A kept tar that is not what its record says (damaged) is not copied from: the files are read instead.
    const records = readdirSync(copies).filter((n) => !n.endsWith('.tar')).map((n) => readCopyRecord(store, n)!);
    const kept = records.find((r) => r.tar?.index['app/f3.txt'])!.tar!;
    const bytes = readFileSync(kept.file);
    const data = kept.index['app/f3.txt']![0] + 512; // f3.txt's first byte, after its header
    bytes[data] = bytes[data]! ^ 0xff;
    writeFileSync(kept.file, bytes);
    writeFileSync(path.join(dir, 'src/f9.txt'), 'edited too\n');
    await strataBuild(dir, { tags: ['share:4'] });
    rmSync(copies, { recursive: true, force: true });
    await strataBuild(dir, { tags: ['share:5'], noCache: true });
    assert.deepEqual(layerFiles('share:4'), layerFiles('share:5'));
    assert.equal(readFileSync(path.join(await rootfsOf('share:4'), 'app/f3.txt'), 'utf8'), 'file 3\n');
  });

  it('writes a big COPY\'s tar while the steps after it run: they see its files, and its layer is what a fresh build writes', async () => {
    // 5 MiB: over the size at which a COPY's layer is handed on before its tar is written (overlay), in a
    // process that keeps the tar thread running, as strata dev --watch does.
    startTarThread();
    const dir = project({
      Dockerfile: 'FROM busybox:local AS files\nCOPY src/ /app/\nRUN md5sum /app/small.txt /app/big3.bin > /sums\n\nFROM busybox:local\nCOPY --from=files /app/big3.bin /sums /out/\n',
      'src/small.txt': 'small\n',
    });
    const random = Buffer.alloc(5 << 20);
    for (let i = 0; i < random.length; i += 4) random.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `src/big${i}.bin`), random.subarray(i << 20, (i + 1) << 20));
    const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
    const expectedSums = (small: string) => `${md5(small)}  /app/small.txt\n${md5(random.subarray(3 << 20, 4 << 20))}  /app/big3.bin\n`;
    await strataBuild(dir, { tags: ['bigcopy:1'] });
    let root = await rootfsOf('bigcopy:1');
    assert.equal(readFileSync(path.join(root, 'out/sums'), 'utf8'), expectedSums('small\n'));
    assert.ok(readFileSync(path.join(root, 'out/big3.bin')).equals(random.subarray(3 << 20, 4 << 20)));
    // Every layer's snapshot has its diffID's name once the build is done: no provisional one is left.
    // (The copy snapshotter keeps no snapshots: none is listed.)
    const snapshots = () => (existsSync(path.join(store, 'snapshots')) ? readdirSync(path.join(store, 'snapshots')) : []);
    assert.deepEqual(snapshots().filter((n) => /^p\d+-/.test(n)), []);
    /** The regular files of the files stage's COPY layer (its directories are dated when the COPY runs): listing and content. */
    const copyLayerFiles = async (tag: string) => {
      await strataBuild(dir, { target: 'files', tags: [tag] });
      return regularFilesOfLayer(tag, 2);
    };
    // One file edited: the COPY runs again as a delta over its last run, its tar still written off the main path.
    writeFileSync(path.join(dir, 'src/small.txt'), 'edited\n');
    const second = await strataBuild(dir, { tags: ['bigcopy:2'] });
    assert.deepEqual(second.steps.map((st) => st.cached), [false, false, false]);
    root = await rootfsOf('bigcopy:2');
    assert.equal(readFileSync(path.join(root, 'out/sums'), 'utf8'), expectedSums('edited\n'));
    assert.deepEqual(snapshots().filter((n) => /^p\d+-/.test(n)), []);
    const deltas = snapshots().filter((n) => n.endsWith('.base')).map((n) => n.slice(0, -5));
    assert.ok(SNAPSHOTTER === 'copy' || deltas.some((n) => existsSync(path.join(store, 'snapshots', n, 'app')) && readdirSync(path.join(store, 'snapshots', n, 'app')).join() === 'small.txt'), 'the new version holds only the edited file');
    // Its layer (unchanged entries taken from the last run's tar, through the delta's chain) is what writing
    // every entry from its file makes: a build with no record to share from.
    const shared = await copyLayerFiles('bigcopy:files2');
    assert.equal(shared.length, 6);
    rmSync(path.join(store, 'cache', 'copies'), { recursive: true, force: true });
    const fresh = await strataBuild(dir, { tags: ['bigcopy:3'], noCache: true });
    assert.equal(fresh.executed, 3);
    assert.deepEqual(await copyLayerFiles('bigcopy:files3'), shared);
    assert.ok(readFileSync(path.join(await rootfsOf('bigcopy:3'), 'out/big3.bin')).equals(random.subarray(3 << 20, 4 << 20)));
  });

  it('writes a big RUN layer\'s tar while the next step runs, its deletions and replaced directories kept as whiteouts', async () => {
    startTarThread(); // as strata dev --watch does
    const dir = project({
      Dockerfile: [
        'FROM busybox:local',
        'RUN mkdir -p /data /keep && echo 1 > /data/old1 && echo 2 > /data/old2 && echo a > /keep/a && echo g > /keep/gone',
        // 5 MiB written, a file deleted, a directory replaced: the layer is big, with a whiteout and an opaque directory.
        'RUN dd if=/dev/urandom of=/big.bin bs=1048576 count=5 2>/dev/null && rm /keep/gone && rm -rf /data && mkdir /data && echo new > /data/new',
        'RUN md5sum /big.bin > /sum && ls /data /keep > /listing',
        '',
      ].join('\n'),
    });
    await strataBuild(dir, { tags: ['bigrun:1'] });
    const root = await rootfsOf('bigrun:1');
    const big = readFileSync(path.join(root, 'big.bin'));
    assert.equal(big.length, 5 << 20);
    assert.equal(readFileSync(path.join(root, 'sum'), 'utf8'), `${createHash('md5').update(big).digest('hex')}  /big.bin\n`);
    assert.equal(readFileSync(path.join(root, 'listing'), 'utf8'), '/data:\nnew\n\n/keep:\na\n');
    assert.deepEqual(readdirSync(path.join(root, 'data')), ['new']);
    assert.deepEqual(readdirSync(path.join(root, 'keep')), ['a']);
    const manifest = readManifest(store, requireImage(store, 'bigrun:1').manifest);
    const blob = path.join(store, 'blobs', 'sha256', manifest.layers.at(-2)!.digest.slice(7));
    const listed = execFileSync('tar', ['-tf', blob], { encoding: 'utf8' }).split('\n');
    for (const name of ['big.bin', 'keep/.wh.gone', 'data/new']) assert.ok(listed.includes(name), `${name} in ${listed.join(' ')}`);
    // The replaced directory: opaque (overlay saw it replaced) or its old entries whited out (a copy snapshot's diff).
    assert.ok(listed.includes('data/.wh..wh..opq') || (listed.includes('data/.wh.old1') && listed.includes('data/.wh.old2')), listed.join(' '));
    const snapshots = existsSync(path.join(store, 'snapshots')) ? readdirSync(path.join(store, 'snapshots')) : [];
    assert.deepEqual(snapshots.filter((n) => /^p\d+-/.test(n)), []);
  });

  it('follows symlinks in a COPY or WORKDIR destination inside the image, never out of it', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local',
        'RUN mkdir -p /srv/real && ln -s /srv/real /link && ln -s ../../etc /srv/up',
        'COPY a.txt /link/',
        'COPY a.txt /srv/up/../../../../copied-a.txt',
        'WORKDIR /link/work',
      ].join('\n'),
      'a.txt': 'A',
    });
    await strataBuild(dir, { tags: ['links:1'] });
    const root = await rootfsOf('links:1');
    assert.equal(readFileSync(path.join(root, 'srv/real/a.txt'), 'utf8'), 'A');
    assert.ok(lstatSync(path.join(root, 'link')).isSymbolicLink());
    assert.ok(lstatSync(path.join(root, 'srv/real/work')).isDirectory());
    assert.equal(readFileSync(path.join(root, 'copied-a.txt'), 'utf8'), 'A');
  });

  it('copies what a symlink named as a source leads to, as Docker does; a link inside a copied directory stays a link', async () => {
    const dir = project({
      Dockerfile: 'FROM busybox:local\nCOPY current.conf /etc/app.conf\nCOPY conf /conf/\nCOPY ../outside /x\n',
      'conf/v1.conf': 'one',
      'conf/v2.conf': 'two',
    });
    symlinkSync('conf/v1.conf', path.join(dir, 'current.conf'));
    symlinkSync('v2.conf', path.join(dir, 'conf/latest.conf'));
    await assert.rejects(strataBuild(dir), (e: BuildError) => e.line === 4 && /\.\.\/outside is outside the build context/.test(e.message));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nCOPY current.conf /etc/app.conf\nCOPY conf /conf/\n');
    await strataBuild(dir, { tags: ['symlinks:1'] });
    const root = await rootfsOf('symlinks:1');
    assert.ok(lstatSync(path.join(root, 'etc/app.conf')).isFile());
    assert.equal(readFileSync(path.join(root, 'etc/app.conf'), 'utf8'), 'one');
    assert.equal(readlinkSync(path.join(root, 'conf/latest.conf')), 'v2.conf');
    // The key is the content the link leads to: editing the target misses, as editing the file itself would.
    writeFileSync(path.join(dir, 'conf/v1.conf'), 'uno');
    utimesSync(path.join(dir, 'conf/v1.conf'), new Date('2024-01-01'), new Date('2024-01-01'));
    assert.deepEqual(cachedOf(await strataBuild(dir)), ['RAN    COPY current.conf /etc/app.conf', 'RAN    COPY conf /conf/']);
  });

  it('runs heredocs as BuildKit does: a script alone, a #! script file, heredocs inside a command; COPY writes heredoc files', async () => {
    const dir = project({
      Dockerfile: [
        'FROM busybox:local',
        'ARG WHO=world',
        'RUN <<EOF',
        'echo "plain $WHO"',
        'mkdir -p /out',
        'EOF',
        'RUN <<EOF',
        '#!/bin/sh -e',
        'echo "run as $0"',
        'EOF',
        'RUN cat <<A > /out/a && cat <<-B > /out/b',
        'alpha $WHO',
        'A',
        '\tbeta',
        '\tB',
        'COPY <<CONF /out/conf.txt',
        'hello $WHO',
        'CONF',
        "COPY --chmod=0600 <<'RAW' <<X /out/dir/",
        'raw $WHO',
        'RAW',
        'x',
        'X',
      ].join('\n'),
    });
    const built = await strataBuild(dir, { tags: ['heredoc:1'] });
    assert.ok(built.logs.includes('plain world'));
    assert.ok(built.logs.includes('run as /dev/pipes/EOF'), built.logs.join('|'));
    const root = await rootfsOf('heredoc:1');
    const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
    assert.deepEqual([read('out/a'), read('out/b'), read('out/conf.txt'), read('out/dir/RAW'), read('out/dir/X')], ['alpha world\n', 'beta\n', 'hello world\n', 'raw $WHO\n', 'x\n']);
    assert.equal(lstatSync(path.join(root, 'out/dir/RAW')).mode & 0o777, 0o600);
    // The script's mount point lived in the sandbox's own /dev: nothing of it is in the image.
    assert.equal(lstatSync(path.join(root, 'dev/pipes'), { throwIfNoEntry: false }), undefined);
    // A heredoc's body is part of the key: the same Dockerfile is all cached, an edited body misses there.
    assert.ok((await strataBuild(dir)).steps.every((st) => st.cached));
    writeFileSync(path.join(dir, 'Dockerfile'), readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace('hello $WHO', 'hello again'));
    assert.deepEqual((await strataBuild(dir)).steps.map((st) => st.cached), [true, true, true, false, false]);
  });

  it('ADD unpacks a local tar archive, plain or gzip, bzip2, xz or zstd compressed; COPY copies it as a file', async () => {
    need('bzip2', 'ADD unpacks bzip2 archives with it');
    need('xz', 'ADD unpacks xz archives with it');
    need('zstd', 'ADD unpacks zstd archives with it');
    const dir = project({
      Dockerfile: 'FROM busybox:local\nADD bundle.tar.gz /opt/\nADD bundle.tar.bz2 /bz/\nADD bundle.tar.xz /xz/\nADD bundle.tzst /zst/\nADD notes.xz /notes/\nCOPY bundle.tar.gz /copies/\n',
      'x/readme.txt': 'inside',
    });
    execFileSync('tar', ['-C', dir, '-czf', path.join(dir, 'bundle.tar.gz'), 'x']);
    execFileSync('tar', ['-C', dir, '-cjf', path.join(dir, 'bundle.tar.bz2'), 'x']);
    execFileSync('tar', ['-C', dir, '-cJf', path.join(dir, 'bundle.tar.xz'), 'x']);
    execFileSync('sh', ['-c', `tar -C "${dir}" -cf - x | zstd -q -o "${path.join(dir, 'bundle.tzst')}"`]);
    // Compressed but not a tar: copied as it is, as Docker does.
    execFileSync('sh', ['-c', `printf 'just text' | xz > "${path.join(dir, 'notes.xz')}"`]);
    await strataBuild(dir, { tags: ['add:1'] });
    const root = await rootfsOf('add:1');
    for (const d of ['opt', 'bz', 'xz', 'zst']) assert.equal(readFileSync(path.join(root, d, 'x/readme.txt'), 'utf8'), 'inside', d);
    assert.ok(lstatSync(path.join(root, 'notes/notes.xz')).isFile());
    assert.ok(lstatSync(path.join(root, 'copies/bundle.tar.gz')).isFile());
  });

  it('ADD downloads a URL (not unpacked, mode 0600), keyed by --checksum without downloading, or by the content', async () => {
    let requests = 0;
    let body = 'first version\n';
    const server = createServer((req, res) => {
      requests++;
      if (req.url === '/missing') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'last-modified': 'Tue, 02 Jan 2024 03:04:05 GMT' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const sum = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
      const dir = project({ Dockerfile: `FROM busybox:local\nADD --checksum=${sum(body)} --chmod=0755 ${base}/files/tool.txt /bin/tool\nADD ${base}/files/tool.txt /opt/\n` });
      const first = await strataBuild(dir, { tags: ['url:1'] });
      assert.equal(first.executed, 2);
      const root = await rootfsOf('url:1');
      assert.equal(readFileSync(path.join(root, 'opt/tool.txt'), 'utf8'), body);
      assert.equal(lstatSync(path.join(root, 'opt/tool.txt')).mode & 0o777, 0o600);
      assert.equal(lstatSync(path.join(root, 'opt/tool.txt')).mtime.toISOString(), '2024-01-02T03:04:05.000Z');
      assert.equal(lstatSync(path.join(root, 'bin/tool')).mode & 0o777, 0o755);
      // A rebuild fetches the unpinned URL to compare contents, and not the pinned one.
      requests = 0;
      assert.deepEqual((await strataBuild(dir)).steps.map((st) => st.cached), [true, true]);
      assert.equal(requests, 1);
      body = 'second version\n';
      assert.deepEqual((await strataBuild(dir)).steps.map((st) => st.cached), [true, false]);
      // The pinned one, when it has to be downloaded, is checked against its checksum.
      await assert.rejects(strataBuild(dir, { noCache: true }), (e: BuildError) => e.line === 2 && /checksum mismatch/.test(e.message));
      await assert.rejects(strataBuild(project({ Dockerfile: `FROM busybox:local\nADD ${base}/missing /x\n` })), (e: BuildError) => e.line === 2 && /404/.test(e.message));
      await assert.rejects(strataBuild(project({ Dockerfile: `FROM busybox:local\nADD --checksum=sha256:abc ${base}/x /x\n` })), (e: BuildError) => e.line === 2 && /invalid --checksum/.test(e.message));
    } finally {
      server.close();
    }
  });

  it('fails a RUN that exits non-zero with the exit code, the line and its last output; nothing of it is committed', async () => {
    const dir = project({ Dockerfile: 'FROM busybox:local\nRUN echo about to fail && exit 3\n' });
    await assert.rejects(strataBuild(dir), (e: BuildError) => {
      assert.match(e.message, /process "\/bin\/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3/);
      assert.equal(e.line, 2);
      assert.match(e.hint ?? '', /about to fail/);
      return true;
    });
  });

  it('refuses a missing base image and a missing COPY source with the line and a hint', async () => {
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM nothere:1\nRUN true\n' })), (e: BuildError) => e.line === 1 && /strata image import/.test(e.hint ?? ''));
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local\nCOPY missing.txt /\n' })), (e: BuildError) => e.line === 2 && /missing.txt is not in the build context/.test(e.message));
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local AS a\nFROM busybox:local\nCOPY --from=a /nonexistent /x\n' })),
      (e: BuildError) => e.line === 3 && /\/nonexistent is not in the files of --from=a/.test(e.message) && !/context/.test(e.hint ?? ''));
    // A destination or a mount target below a file of the image.
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local\nCOPY a.txt /bin/busybox/x\n', 'a.txt': 'a' })),
      (e: BuildError) => e.line === 2 && /cannot make the directory \/bin\/busybox: \/bin\/busybox is a file in the image/.test(e.message));
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local\nRUN --mount=type=tmpfs,target=/etc/passwd/x true\n' })),
      (e: BuildError) => e instanceof BuildError && e.line === 2 && /cannot mount at \/etc\/passwd\/x: \/etc\/passwd is a file in the image/.test(e.message));
    await assert.rejects(strataBuild(project({ Dockerfile: 'FROM busybox:local\nRUN true\nCOPY --from=nothere:2 /x /x\n' })),
      (e: BuildError) => e instanceof BuildError && e.line === 3 && /nothere:2:?.*is not in the store/.test(e.message) && /strata image import/.test(e.hint ?? ''));
  });
});
