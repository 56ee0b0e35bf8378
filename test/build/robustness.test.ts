/**
 * A build killed at any moment leaves the store valid and the next build
 * reuses what was committed; SIGTERM leaves no process and no temp dir;
 * two builds at once on one store both succeed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { strataBin, strataOn } from '../helpers/cli.js';

const bin = strataBin;
const scratch = mkdtempSync(path.join(tmpdir(), 'strata-robust-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');
const { env, run: strata, importBusybox } = strataOn(store);

function context(dockerfile: string): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

/** Starts a json-progress build (or `command`, strata dev) and resolves once a step whose text matches has started. */
function buildUntil(dir: string, stepText: RegExp, command = ['build']): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin, ...command, '--progress', 'json', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as { type: string; text?: string };
      if (e.type === 'step-start' && stepText.test(e.text ?? '')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`build ended (${code}) before the step started`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
}

/** Pids whose command line contains `needle` (NUL-separated arguments), read from /proc. */
function processesRunning(needle: string): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(needle) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

/** Mount points inside the store (an overlay workspace or view left behind). */
function mountsInStore(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(store + '/'));
}

/** Every blob's content hashes to its name, and the index parses. */
function assertStoreValid(): void {
  const dir = path.join(store, 'blobs', 'sha256');
  for (const name of readdirSync(dir)) {
    assert.equal(createHash('sha256').update(readFileSync(path.join(dir, name))).digest('hex'), name, `blob ${name}`);
  }
  JSON.parse(readFileSync(path.join(store, 'index.json'), 'utf8'));
}

describe('build robustness', () => {
  before(() => importBusybox(scratch));

  it('survives SIGKILL mid-build: the store stays valid and committed steps are reused', async () => {
    const dir = context('FROM busybox:local\nRUN echo one > /one\nRUN sleep 300\n');
    const child = await buildUntil(dir, /sleep 300/);
    child.kill('SIGKILL');
    await exited(child);
    assertStoreValid();
    // The sandbox dies with its parent (bwrap --die-with-parent); an overlay it ran on stays mounted until the next build.
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nRUN echo one > /one\nRUN echo two > /two\n');
    const r = strata(['build', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /#1 \[stage-0 1\/2\] RUN echo one > \/one\n#1 CACHED/);
    // The killed build's temp dir (and any mount in it) was found dead and removed by the next one.
    assert.deepEqual(readdirSync(path.join(store, 'tmp')).filter((n) => n.startsWith('build-')), []);
    assert.deepEqual(mountsInStore(), []);
  });

  it('survives SIGKILL of strata dev while a big COPY\'s tar is still being written: its provisional snapshot goes with the next build', async () => {
    // 8 MiB of files under strata dev --watch (which runs the tar thread): the COPY's layer is used before its tar is written.
    const dir = context('FROM busybox:local\nCOPY . /big/\nRUN sleep 303\n');
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 8; i++) writeFileSync(path.join(dir, `part${i}.bin`), chunk.fill(i + 1));
    const child = await buildUntil(dir, /sleep 303/, ['dev', '--watch']);
    const snapshots = path.join(store, 'snapshots');
    const provisional = () => readdirSync(snapshots).filter((n) => new RegExp(`^p${child.pid}-`).test(n));
    assert.notDeepEqual(provisional(), [], 'the COPY\'s files are in a provisional snapshot while the build runs');
    child.kill('SIGKILL');
    await exited(child);
    assertStoreValid();
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox:local\nCOPY . /big/\nRUN cat /big/part7.bin | wc -c > /size\n');
    const r = strata(['build', '-t', 'killed:big', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(provisional(), []);
    assert.deepEqual(readdirSync(snapshots).filter((n) => /^p\d+-/.test(n)), []);
    // Nor any temp file of the killed process (its tar being written, its blob being compressed).
    assert.deepEqual(readdirSync(path.join(store, 'tmp')).filter((n) => n.includes(`-${child.pid}-`)), []);
    assert.deepEqual(mountsInStore(), []);
    assertStoreValid();
  });

  it('stops on SIGTERM: the sandboxed command dies, no temp dir is left, the exit status says so', async () => {
    const dir = context('FROM busybox:local\nRUN sleep 301\n');
    const child = await buildUntil(dir, /sleep 301/);
    child.kill('SIGTERM');
    const code = await exited(child);
    assert.notEqual(code, 0);
    // Neither the command (sleep 301) nor the sandbox that ran it (bwrap ... sh -c "sleep 301") is left.
    assert.deepEqual([...processesRunning('sleep\0' + '301'), ...processesRunning('sleep ' + '301')], [], 'no sleep 301 left running');
    assert.deepEqual(readdirSync(path.join(store, 'tmp')).filter((n) => n.startsWith('build-')), []);
    assert.deepEqual(mountsInStore(), []);
    assertStoreValid();
  });

  it('stops on SIGTERM right after a big layer: its temp files go, nothing half-written stays', async () => {
    // 24 MiB: its blob is still being put in place (fsynced) when the next step starts.
    const dir = context('FROM busybox:local\nRUN head -c 25165824 /dev/urandom > /big\nRUN sleep 302\n');
    const child = await buildUntil(dir, /sleep 302/);
    child.kill('SIGTERM');
    assert.notEqual(await exited(child), 0);
    assert.deepEqual(readdirSync(path.join(store, 'tmp')).filter((n) => /^(build|layer-tar|blob)-/.test(n)), []);
    assert.deepEqual(mountsInStore(), []);
    assertStoreValid();
  });

  it('runs two builds at once on one store', async () => {
    const a = context('FROM busybox:local\nRUN echo a > /a\n');
    const b = context('FROM busybox:local\nRUN echo b > /b\n');
    const run = (dir: string, tag: string) => new Promise<number | null>((resolve) => {
      spawn(process.execPath, [bin, 'build', '-t', tag, dir], { env, stdio: 'ignore' }).on('exit', resolve);
    });
    assert.deepEqual(await Promise.all([run(a, 'two:a'), run(b, 'two:b')]), [0, 0]);
    const names = (JSON.parse(strata(['image', 'ls', '--format', 'json']).stdout) as { name: string }[]).map((i) => i.name);
    assert.ok(names.includes('two:a') && names.includes('two:b'), names.join(', '));
    assertStoreValid();
    mkdirSync(path.join(scratch, 'unused'), { recursive: true });
    assert.ok(existsSync(path.join(store, 'index.json')));
  });
});
