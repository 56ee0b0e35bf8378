/**
 * The dashboard as a person sees it: strata dev --watch in a real terminal
 * (tmux, 120x40), read with capture-pane; an edit shows the stages with
 * CACHED steps; `q` quits and leaves a usable shell.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { strataBin as bin } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-dash-'));
const session = `strata-test-${process.pid}`;
const store = path.join(scratch, 'store');
after(() => {
  spawnSync('tmux', ['kill-session', '-t', session], { env: tmuxEnv });
  rmSync(scratch, { recursive: true, force: true });
});

// CI runs with no terminal and maybe no TERM: tmux gets one to emulate.
const tmuxEnv = { ...process.env, TERM: 'xterm-256color' };
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8', env: tmuxEnv });
const screen = () => tmux('capture-pane', '-t', session, '-p');

/** Reads the screen until it shows what `ready` looks for (a condition, not a clock: the limit only ends a hung test). */
async function until(ready: (text: string) => boolean, what: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const text = screen();
    if (ready(text)) return text;
    await delay(100);
  }
  assert.fail(`the terminal never showed ${what}:\n${screen()}`);
}

describe('strata dev dashboard', () => {
  before(() => {
    if (spawnSync('sh', ['-c', 'command -v tmux']).status !== 0) assert.fail('tmux is not installed (the dashboard test runs strata in it): run scripts/setup-system.sh');
    const rootfs = path.join(scratch, 'rootfs');
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    execFileSync(process.execPath, [bin, 'image', 'import', rootfs, '--tag', 'busybox:local', '--store', store]);
  });

  it('shows the stages and CACHED steps after an edit, answers r, c, p and l, and quits on q leaving the terminal usable', async () => {
    const dir = path.join(scratch, 'ctx');
    mkdirSync(path.join(dir, 'src'), { recursive: true });
    writeFileSync(path.join(dir, 'src/a.txt'), 'one\n');
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local AS deps\nRUN echo deps > /deps\nFROM busybox:local AS app\nCOPY --from=deps /deps /deps\nCOPY src/ /app/\nRUN cat /app/a.txt\n');
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', 'sh');
    tmux('send-keys', '-t', session, `cd ${dir} && ${process.execPath} ${bin} dev --watch --store ${store} .`, 'Enter');
    await until((t) => /build #1 +done/.test(t), 'the first build done');
    writeFileSync(path.join(dir, 'src/a.txt'), 'two\n');
    const shown = await until((t) => /build #2 +done/.test(t), 'the rebuild done');
    assert.match(shown, / deps /);
    assert.match(shown, / app /);
    assert.match(shown, /CACHED +RUN echo deps > \/deps/);
    assert.match(shown, /CACHED +COPY --from=deps \/deps \/deps/);
    assert.match(shown, /COPY src\/ \/app\/: files changed: modified src\/a\.txt/);
    // r rebuilds (all CACHED now), c rebuilds with --no-cache (everything runs), p pauses watching, l hides the log pane.
    tmux('send-keys', '-t', session, 'r');
    await until((t) => /build #3 +done in [\d.]+s \(0 ran, 4 cached\)/.test(t), 'the rebuild asked for with r');
    tmux('send-keys', '-t', session, 'c');
    await until((t) => /build #4 +done in [\d.]+s \(4 ran, 0 cached\)/.test(t), 'the --no-cache rebuild asked for with c');
    tmux('send-keys', '-t', session, 'p');
    await until((t) => / paused/.test(t), 'watching paused');
    tmux('send-keys', '-t', session, 'l');
    await until((t) => !/ output /.test(t), 'the log pane hidden');
    tmux('send-keys', '-t', session, 'q');
    await until((t) => !/ q quit  r rebuild/.test(t), 'the dashboard gone');
    tmux('send-keys', '-t', session, 'echo usable-$((40+2))', 'Enter');
    await until((t) => t.includes('usable-42'), 'the shell answering');
  });
});
