/**
 * strata dev --watch, driven as a user drives it: a real process on a temp
 * context, its JSON events read line by line, edits made on disk. Each
 * wait is for an event, never for time.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { makeTree } from '../context/fixtures.js';
import { strataBin as bin, strataOn } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-dev-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const env = { ...process.env, NO_COLOR: '1', STRATA_STORE: store };

interface Event { readonly type: string; readonly [key: string]: unknown }

/** A running `strata dev`, its events so far, and a way to wait for the next one that matches. */
class Dev {
  readonly events: Event[] = [];
  private readonly waiters: { match: (e: Event) => boolean; resolve: (e: Event) => void; from: number }[] = [];
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [bin, 'dev', '--progress', 'json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Event;
      this.events.push(event);
      for (const w of [...this.waiters]) {
        if (this.events.length - 1 >= w.from && w.match(event)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    });
  }

  /** The next event (from now on) that matches. */
  next(match: (e: Event) => boolean, what: string): Promise<Event> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`strata dev exited before ${what}: ${this.stderr}\n${this.events.map((e) => e.type).join(' ')}`));
      this.child.once('exit', onExit);
      this.waiters.push({ match, resolve: (e) => { this.child.off('exit', onExit); resolve(e); }, from: this.events.length });
    });
  }

  /** Events since index `from`. */
  since(from: number): Event[] {
    return this.events.slice(from);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill('SIGINT');
    return exited;
  }
}

const isType = (type: string) => (e: Event) => e.type === type;
const buildDone = (n: number) => (e: Event) => e.type === 'build-done' && e.number === n;

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  makeTree(dir, files);
  return dir;
}

/** The steps of one build (events from `from`): text and whether cached, with the first miss's explanation. */
function stepsOf(events: Event[]): { steps: string[]; explained: string[] } {
  const texts = new Map<number, string>();
  const steps: string[] = [];
  const explained: string[] = [];
  for (const e of events) {
    if (e.type === 'step-start') texts.set(e.id as number, e.text as string);
    if (e.type === 'step-done') steps.push(`${e.cached ? 'CACHED' : 'RAN'} ${texts.get(e.id as number)}`);
    if (e.type === 'step-explain') explained.push(`${texts.get(e.id as number)}: ${e.text as string}`);
  }
  return { steps, explained };
}

function mountsInStore(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(store + '/'));
}

describe('strata dev --watch', () => {
  before(() => {
    const rootfs = path.join(scratch, 'rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    const r = spawnSync(process.execPath, [bin, 'image', 'import', rootfs, '--tag', 'busybox:local'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('rebuilds from the COPY an edit invalidates, says why, and ignores identical rewrites, ignored and unread files', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox:local\nRUN echo early > /early\nCOPY src/ /app/\nRUN cat /app/msg.txt\n',
      'src/msg.txt': 'one\n',
      'notes.txt': 'not copied\n',
      '.dockerignore': '*.log\n',
    });
    const dev = new Dev(['--watch', '--debounce', '30', dir]);
    try {
      await Promise.all([dev.next(buildDone(1), 'the first build'), dev.next(isType('watch-ready'), 'the watcher')]);
      let mark = dev.events.length;
      writeFileSync(path.join(dir, 'src/msg.txt'), 'two\n');
      await dev.next(buildDone(2), 'the rebuild');
      const second = stepsOf(dev.since(mark));
      assert.deepEqual(second.steps, ['CACHED RUN echo early > /early', 'RAN COPY src/ /app/', 'RAN RUN cat /app/msg.txt']);
      assert.deepEqual(second.explained, ['COPY src/ /app/: files changed: modified src/msg.txt']);
      assert.ok(dev.since(mark).some((e) => e.type === 'step-log' && e.line === 'two'));
      const change = dev.since(mark).find(isType('change'))!;
      assert.deepEqual(change.paths, ['src/msg.txt']);

      // The same bytes again: no build. An ignored file: not even an event. A file no step reads: said, not built.
      mark = dev.events.length;
      writeFileSync(path.join(dir, 'src/msg.txt'), 'two\n');
      const same = await dev.next(isType('change-skipped'), 'the identical rewrite');
      assert.equal(same.reason, 'unchanged');
      writeFileSync(path.join(dir, 'debug.log'), 'ignored\n');
      writeFileSync(path.join(dir, 'notes.txt'), 'edited\n');
      const unread = await dev.next(isType('change-skipped'), 'the unread file');
      assert.deepEqual([unread.reason, unread.paths], ['unread', ['notes.txt']]);
      assert.ok(!dev.since(mark).some((e) => e.type === 'rebuild'), 'nothing was built');

      // The same unread file again (a log rewritten all the time, or this very output): taken in without a word.
      mark = dev.events.length;
      writeFileSync(path.join(dir, 'notes.txt'), 'edited again\n');
      await new Promise((resolve) => setTimeout(resolve, 300)); // (only so that it is a batch of its own: --debounce 30)
      writeFileSync(path.join(dir, 'src/msg.txt'), 'two\n');
      await dev.next(isType('change-skipped'), 'the rewrite after the quiet one');
      assert.deepEqual(dev.since(mark).filter((e) => e.type.startsWith('change')).map((e) => [e.type, e.paths]), [['change-skipped', ['src/msg.txt']]]);

      // A Dockerfile edit re-plans; the first step after the edited line misses because of it.
      mark = dev.events.length;
      writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nRUN echo early > /early\nCOPY src/ /app/\nRUN cat /app/msg.txt && echo again\n');
      await dev.next(buildDone(3), 'the rebuild after the Dockerfile edit');
      assert.deepEqual(stepsOf(dev.since(mark)).explained, ['RUN cat /app/msg.txt && echo again: line 4 changed: "RUN cat /app/msg.txt" -> "RUN cat /app/msg.txt && echo again"']);
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  });

  it('keeps the cache within --keep-storage: after a rebuild, the records of the versions no image holds go, oldest first', async () => {
    const own = path.join(scratch, 'store-keep');
    mkdirSync(path.join(scratch, 'keep-base'));
    strataOn(own).importBusybox(path.join(scratch, 'keep-base'));
    const dir = context({ Dockerfile: 'FROM busybox:local\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n', 'a.txt': 'one\n' });
    // One byte: everything the image no longer holds goes at once.
    const dev = new Dev(['--watch', '--debounce', '30', '--keep-storage', '1', '-t', 'keep:dev', '--store', own, dir]);
    try {
      await Promise.all([dev.next(buildDone(1), 'the first build'), dev.next(isType('watch-ready'), 'the watcher')]);
      const rebuilt = dev.next(buildDone(2), 'the rebuild');
      const trim = dev.next(isType('cache-trimmed'), 'the trim');
      writeFileSync(path.join(dir, 'a.txt'), 'two\n');
      const [, trimmed] = await Promise.all([rebuilt, trim]);
      assert.equal(trimmed.records, 2, 'the first version\'s COPY and RUN');
      assert.equal(trimmed.cacheBytes, 0);
      // Back to the first content: its steps were forgotten, so they run again; the image is whole.
      const mark = dev.events.length;
      writeFileSync(path.join(dir, 'a.txt'), 'one\n');
      await dev.next(buildDone(3), 'the build of the first content again');
      assert.deepEqual(stepsOf(dev.since(mark)).steps, ['RAN COPY a.txt /a.txt', 'RAN RUN cat /a.txt > /b.txt']);
      execFileSync('skopeo', ['inspect', `oci:${own}:keep:dev`], { stdio: 'pipe' });
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  });

  it('without --watch, runs the app once and exits with its status, as docker run does; 1 when there is nothing to run', () => {
    const dir = context({ Dockerfile: 'FROM busybox:local\nRUN echo built > /built\n' });
    const run = (args: string[]) => spawnSync(process.execPath, [bin, 'dev', '--progress', 'plain', ...args, dir], { env, encoding: 'utf8' });
    const failing = run(['--run', '--run-cmd', 'cat /built; exit 3']);
    assert.equal(failing.status, 3, failing.stderr);
    assert.match(failing.stderr, /app \| built\n#0 app exited with status 3/);
    const none = run(['--run']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /the image has no ENTRYPOINT or CMD to run\nhint: add CMD to the Dockerfile, or pass --run-cmd/);
    assert.equal(run([]).status, 0);
  });

  it('cancels a build an edit made stale, builds again, and ends a storm of edits with the image of the final tree', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox:local\nCOPY src/ /app/\nRUN if grep -q slow /app/msg.txt; then echo sleeping; sleep 60; fi; cat /app/msg.txt\n',
      'src/msg.txt': 'slow\n',
    });
    const dev = new Dev(['--watch', '--debounce', '50', dir]);
    try {
      await dev.next((e) => e.type === 'step-log' && e.line === 'sleeping', 'the long RUN');
      writeFileSync(path.join(dir, 'src/msg.txt'), 'fast\n');
      await dev.next((e) => e.type === 'build-cancelled' && e.number === 1, 'the cancellation');
      await dev.next(buildDone(2), 'the build after it');
      // 500 edits over about 2 s, then quiet: the last build must be of the final tree.
      for (let i = 0; i < 500; i++) {
        writeFileSync(path.join(dir, 'src', `f${i % 50}.txt`), `edit ${i}\n`);
        if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      writeFileSync(path.join(dir, 'src/msg.txt'), 'final\n');
      const last = await dev.next((e) => e.type === 'build-done' && dev.since(0).filter((x) => x.type === 'step-log' && x.line === 'final').length > 0, 'the build of the final tree');
      const clean = spawnSync(process.execPath, [bin, 'build', '--progress', 'plain', dir], { env, encoding: 'utf8' });
      assert.equal(clean.status, 0, clean.stderr);
      // A build of the final tree finds every step in the cache the dev loop filled: the same image.
      if (clean.stdout.trim() !== last.digest) {
        // More edits may have been seen after `last`; the newest done build is what counts.
        const newest = [...dev.events].reverse().find(isType('build-done'))!;
        assert.equal(clean.stdout.trim(), newest.digest);
      }
      assert.match(clean.stderr, /#2 CACHED/);
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  });

  it('lets a running step finish when the edit only matters to a later step, and stops the build there', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox:local\nRUN echo start && sleep 1.5 && echo slow-done\nCOPY src/ /app/\nRUN cat /app/msg.txt\n',
      'src/msg.txt': 'one\n',
    });
    const dev = new Dev(['--watch', '--debounce', '30', dir]);
    try {
      await Promise.all([dev.next((e) => e.type === 'step-log' && e.line === 'start', 'the long first step'), dev.next(isType('watch-ready'), 'the watcher')]);
      writeFileSync(path.join(dir, 'src/msg.txt'), 'two\n');
      await dev.next((e) => e.type === 'build-done' && dev.events.some((x) => x.type === 'step-log' && x.line === 'two'), 'the build with the edit');
      const first = dev.events.slice(0, dev.events.findIndex((e) => e.type === 'rebuild' && e.number === 2));
      // The long step was not killed: it finished, and build 1 stopped at the COPY the edit invalidated.
      assert.ok(first.some((e) => e.type === 'step-log' && e.line === 'slow-done'), 'the running step finished');
      assert.ok(!first.some(isType('step-error')) || first.filter(isType('step-error')).every((e) => e.message === 'cancelled'));
      assert.ok(first.some((e) => e.type === 'build-cancelled' && e.number === 1) || first.some(buildDone(1)));
      const second = stepsOf(dev.since(dev.events.findIndex((e) => e.type === 'rebuild' && e.number === 2)));
      assert.deepEqual(second.steps, ['CACHED RUN echo start && sleep 1.5 && echo slow-done', 'RAN COPY src/ /app/', 'RAN RUN cat /app/msg.txt']);
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  });

  it('turns each burst (a checkout of 2,000 files, an atomic save, a deleted and a new directory) into exactly one rebuild of its final state', async () => {
    const files: Record<string, string> = { Dockerfile: 'FROM busybox:local\nCOPY src/ /app/\nRUN find /app -type f | wc -l && cat /app/main.txt\n', 'src/main.txt': 'v0\n' };
    for (let i = 0; i < 20; i++) files[`src/old/f${i}.txt`] = `${i}\n`;
    const dir = context(files);
    const dev = new Dev(['--watch', '--debounce', '100', dir]);
    try {
      await Promise.all([dev.next(buildDone(1), 'the first build'), dev.next(isType('watch-ready'), 'the watcher')]);
      const bursts: [string, () => void, string][] = [
        ['a checkout rewriting 2,000 files', () => {
          mkdirSync(path.join(dir, 'src/gen'), { recursive: true });
          for (let i = 0; i < 2000; i++) writeFileSync(path.join(dir, 'src/gen', `g${i}.txt`), `generated ${i}\n`);
          writeFileSync(path.join(dir, 'src/main.txt'), 'v1\n');
        }, 'v1'],
        ['an editor\'s atomic save', () => {
          writeFileSync(path.join(dir, 'src/.main.txt.swp'), 'v2\n');
          renameSync(path.join(dir, 'src/.main.txt.swp'), path.join(dir, 'src/main.txt'));
        }, 'v2'],
        ['a deleted directory and a new one', () => {
          rmSync(path.join(dir, 'src/old'), { recursive: true });
          mkdirSync(path.join(dir, 'src/new'));
          writeFileSync(path.join(dir, 'src/new/n.txt'), 'n\n');
          writeFileSync(path.join(dir, 'src/main.txt'), 'v3\n');
        }, 'v3'],
      ];
      let number = 1;
      for (const [what, burst, marker] of bursts) {
        const mark = dev.events.length;
        burst();
        number++;
        await dev.next((e) => e.type === 'build-done' && dev.since(mark).some((x) => x.type === 'step-log' && x.line === marker), `the build after ${what}`);
        const rebuilds = dev.since(mark).filter(isType('rebuild'));
        assert.deepEqual(rebuilds.map((e) => e.number), [number], `${what}: one rebuild`);
      }
      // The last build saw the final tree: main.txt, n.txt and the 2,000 generated files, no old ones.
      const counted = dev.events.filter((e) => e.type === 'step-log' && /^\d+$/.test(e.line as string)).pop();
      assert.equal(counted?.line, String(1 + 1 + 2000));
    } finally {
      assert.equal(await dev.stop(), 0);
    }
  });

  it('--run starts the app, restarts it with the new content after an edit, keeps it through a failed build, and Ctrl-C leaves nothing behind', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox:local\nCOPY msg.txt /msg.txt\nSTOPSIGNAL SIGINT\nCMD ["sh", "-c", "trap \'echo bye; exit 0\' INT; while true; do cat /msg.txt; sleep 0.2; done"]\n',
      'msg.txt': 'hello v1\n',
    });
    const dev = new Dev(['--watch', '--run', '--stop-timeout', '5', dir]);
    let stopped = false;
    try {
      await Promise.all([dev.next((e) => e.type === 'app-log' && e.line === 'hello v1', 'the app'), dev.next(isType('watch-ready'), 'the watcher')]);
      writeFileSync(path.join(dir, 'msg.txt'), 'hello v2\n');
      await dev.next((e) => e.type === 'app-log' && e.line === 'hello v2', 'the restarted app');
      const i = dev.events.findIndex((e) => e.type === 'app-log' && e.line === 'bye');
      assert.ok(i > 0, 'the old app got its STOPSIGNAL and exited cleanly');
      assert.equal(dev.events.filter(isType('app-start')).length, 2);
      // A failing build keeps the last good app running.
      const mark = dev.events.length;
      writeFileSync(path.join(dir, 'Dockerfile'), readFileSync(path.join(dir, 'Dockerfile'), 'utf8').replace('COPY msg.txt /msg.txt', 'COPY msg.txt /msg.txt\nRUN exit 3'));
      await dev.next(isType('build-failed'), 'the failing build');
      await dev.next((e) => e.type === 'app-log' && e.line === 'hello v2', 'the old app, still running');
      assert.ok(!dev.since(mark).some((e) => e.type === 'app-exit' || e.type === 'app-start'), 'the app was left alone');
      assert.equal(await dev.stop(), 0);
      stopped = true;
      assert.deepEqual(dev.since(mark).filter(isType('app-exit')).map((e) => e.stopped), [true], 'Ctrl-C stops the app, said once');
      assert.deepEqual(dev.events.filter(isType('app-exit')).map((e) => e.stopped), [true, true], 'the restart stopped the first app');
      const appsLeft = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('cat /msg.txt');
        } catch {
          return false;
        }
      });
      assert.deepEqual(appsLeft, [], 'no app process left');
      assert.deepEqual(mountsInStore(), [], 'no mount left');
      assert.deepEqual(readdirSync(path.join(store, 'tmp')).filter((n) => /^(dev|build)-/.test(n)), [], 'no temporary directory left');
    } finally {
      if (!stopped) await dev.stop();
    }
  });
});
