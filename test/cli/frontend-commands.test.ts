/** `strata plan` and `strata check` as a user runs them: the real binary, real files. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runStrata } from '../helpers/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const strata = (args: string[], options: { cwd?: string; input?: string } = {}) => runStrata(args, { ...options, env: { FORCE_COLOR: '0' } });

function contextWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

describe('strata plan', () => {
  it('prints the bundled example\'s plan as JSON with levels and skipped stages', () => {
    const r = strata(['plan', '--format', 'json', 'examples/hello']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { target: null; stages: { name: string; needed: boolean; base: unknown }[]; levels: number[][] };
    assert.equal(plan.target, null);
    assert.deepEqual(plan.stages.map((s) => [s.name, s.needed]), [['deps', true], ['docs', true], ['build', true], ['test', false], ['runtime', true]]);
    assert.deepEqual(plan.levels, [[0, 1], [2], [4]]);
    assert.equal(plan.stages[0]!.base, 'busybox:local');
  });

  it('honours --target and --build-arg', () => {
    const r = strata(['plan', '--format', 'json', '--target', 'build', '--build-arg', 'GREETING=Hi there', 'examples/hello']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { target: string; stages: { steps: { instruction: string; args: string[] }[] }[]; levels: number[][] };
    assert.equal(plan.target, 'build');
    assert.deepEqual(plan.levels, [[0], [2]]);
    assert.deepEqual(plan.stages[2]!.steps[0], { line: 19, instruction: 'ARG', original: 'ARG GREETING="Hello from strata"', args: ['GREETING=Hi there'], flags: {} });
  });

  it('reads the Dockerfile from stdin with -f -', () => {
    const r = strata(['plan', '-f', '-', '.'], { input: 'FROM busybox:local AS a\nRUN true\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stage a \(#0\) from busybox:local/);
  });

  it('uses -f relative to the working directory, and CONTEXT/Dockerfile by default', () => {
    const ctx = contextWith({ 'Dockerfile': 'FROM one\n', 'build/alt.Dockerfile': 'FROM two\n' });
    assert.match(strata(['plan', ctx]).stdout, /from one/);
    assert.match(strata(['plan', '-f', 'build/alt.Dockerfile', '.'], { cwd: ctx }).stdout, /from two/);
  });

  it('explains a parse error with file, line, column, the line and a hint; exit 1, no stack', () => {
    const ctx = contextWith({ Dockerfile: 'FROM a\nCOPY --chmod=755 --fron=a x y\n' });
    const r = strata(['plan', ctx]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, /^error: .*Dockerfile:2:18: unknown flag: --fron \(did you mean --from\?\)$/);
    assert.equal(lines[1], '   2 | COPY --chmod=755 --fron=a x y');
    assert.equal(lines[2], '                        ^');
    assert.match(lines[3]!, /^hint: COPY accepts --from/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('refuses an empty or binary Dockerfile and a missing one with a clear message', () => {
    const empty = contextWith({ Dockerfile: '' });
    assert.match(strata(['plan', empty]).stderr, /file with no instructions/);
    const binary = contextWith({ Dockerfile: '\x7fELF\0\0\0' });
    const r = strata(['plan', binary]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /binary file/);
    const missing = strata(['plan', contextWith({})]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Dockerfile: no such Dockerfile\nhint: run in a folder with a Dockerfile/);
    assert.match(strata(['plan', path.join(scratch, 'nope')]).stderr, /build context does not exist/);
    assert.match(strata(['plan', '-'], { input: 'FROM scratch\n' }).stderr, /^error: -: a build context from standard input \(docker build -\) is not read\nhint: name the context directory/);
    // A Dockerfile outside the current directory is named by its absolute path, not by ../../..
    assert.match(strata(['plan', '-f', path.join(scratch, 'no-dir', 'Dockerfile'), '.']).stderr, new RegExp(`^error: ${scratch}/no-dir/Dockerfile: no such Dockerfile`, 'm'));
  });

  it('reports usage errors with exit 2', () => {
    assert.equal(strata(['plan', '--bogus']).code, 2);
    assert.equal(strata(['plan', '--format', 'yaml', '.']).code, 2);
    const r = strata(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
    assert.equal(strata(['--help']).code, 0);
    assert.match(strata(['plan', '--help']).stdout, /usage: strata plan/);
  });
});

describe('strata check', () => {
  it('passes the bundled example', () => {
    const r = strata(['check', 'examples/hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no problems found/);
  });

  it('finds the problems in examples/needs-work with fixes, exit 0 for warnings', () => {
    const r = strata(['check', '--format', 'json', 'examples/needs-work']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { findings: { rule: string; line: number; fix: string }[] };
    assert.deepEqual(report.findings.map((f) => `${f.line}:${f.rule}`), [
      '3:maintainer-deprecated', '5:copy-before-install', '5:add-instead-of-copy', '6:apt-get-update-alone', '8:arg-before-declaration', '10:shell-form-command',
    ]);
    assert.equal(report.findings[1]!.fix, 'COPY package.json package-lock.json ./\nRUN npm ci\nADD . .');
  });

  it('sees the context: a missing .dockerignore with node_modules, Dockerfile.dockerignore beside it', () => {
    const ctx = contextWith({ Dockerfile: 'FROM a\n', 'node_modules/x/index.js': '', 'Dockerfile.dockerignore': 'node_modules\n' });
    assert.match(strata(['check', ctx]).stdout, /no problems found/);
    rmSync(path.join(ctx, 'Dockerfile.dockerignore'));
    const r = strata(['check', ctx]);
    assert.match(r.stdout, /Dockerfile:1:1: warning \[missing-dockerignore\]/);
    assert.match(r.stdout, /create \.dockerignore containing:\n\s+node_modules/);
  });

  it('exits 1 on an error-level finding', () => {
    const ctx = contextWith({ Dockerfile: 'FROM node:${NODE_VERSION}\n' });
    const r = strata(['check', ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Dockerfile:1:1: error \[undefined-var-in-from\]/);
  });
});
