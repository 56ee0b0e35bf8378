/** `strata hash` as a user runs it. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { strataOn } from '../helpers/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-hash-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const store = path.join(scratch, 'store');

const { run: strata } = strataOn(store);

function contextWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(scratch, 'ctx-'));
  const past = new Date('2024-01-01');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
    utimesSync(path.join(dir, name), past, past);
  }
  return dir;
}

type HashJSON = { digest: string; files: number; bytes: number; cacheHits: number; seconds: number; sources: { line: number; digest: string; files: number }[] };

describe('strata hash', () => {
  it('prints digest, files, bytes, cache hits and time as JSON; the second run hits the stat cache', () => {
    const ctx = contextWith({ 'a.txt': 'hello', 'src/b.js': 'b', 'node_modules/x': 'x', '.dockerignore': 'node_modules\n' });
    const first = JSON.parse(strata(['hash', '--json', ctx]).stdout) as HashJSON;
    assert.equal(first.files, 3);
    assert.equal(first.bytes, 5 + 1 + 13);
    assert.equal(first.cacheHits, 0);
    assert.match(first.digest, /^[0-9a-f]{32}$/);
    assert.equal(typeof first.seconds, 'number');
    const second = JSON.parse(strata(['hash', '--json', ctx]).stdout) as HashJSON;
    assert.equal(second.cacheHits, 3);
    assert.equal(second.digest, first.digest);
    const cold = JSON.parse(strata(['hash', '--json', '--no-stat-cache', ctx]).stdout) as HashJSON;
    assert.equal(cold.cacheHits, 0);
    assert.equal(cold.digest, first.digest);
  });

  it('digests each COPY/ADD source of the Dockerfile', () => {
    const ctx = contextWith({ Dockerfile: 'FROM a\nCOPY package.json ./\nCOPY src/ /app/src\nCOPY --from=a /x /y\nADD https://example.com/f /f\n', 'package.json': '{}', 'src/i.js': '1' });
    const r = JSON.parse(strata(['hash', '--json', ctx]).stdout) as HashJSON;
    assert.deepEqual(r.sources.map((s) => [s.line, s.files]), [[2, 1], [3, 1]]);
    const text = strata(['hash', ctx]).stdout;
    assert.match(text, /^digest {3}xxh128:[0-9a-f]{32}$/m);
    assert.match(text, /3  COPY src\/  [0-9a-f]{32}  \(1 files\)/);
  });

  it('honours --ignore-file and names a bad pattern\'s line', () => {
    const ctx = contextWith({ 'a.txt': 'a', 'b.log': 'b', 'ignore.list': '# logs\n*.log\n' });
    const r = JSON.parse(strata(['hash', '--json', '--ignore-file', path.join(ctx, 'ignore.list'), ctx]).stdout) as HashJSON;
    assert.equal(r.files, 2);
    writeFileSync(path.join(ctx, '.dockerignore'), 'ok\n[broken\n');
    const bad = strata(['hash', ctx]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /\.dockerignore: line 2: syntax error in pattern "\[broken"/);
    assert.match(bad.stderr, /hint: close the \[\.\.\.\] class/);
  });

  it('reads a Dockerfile and ignore file that exclude themselves, but COPY cannot take them', () => {
    const ctx = contextWith({ Dockerfile: 'FROM a\nCOPY app.js /\n', '.dockerignore': 'Dockerfile\n.dockerignore\n', 'app.js': '1' });
    const r = JSON.parse(strata(['hash', '--json', ctx]).stdout) as HashJSON;
    assert.equal(r.files, 1);
    assert.deepEqual(r.sources.map((s) => s.files), [1]);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM a\nCOPY Dockerfile /\n');
    const bad = strata(['hash', ctx]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Dockerfile is not in the build context\nhint: it is excluded by \.dockerignore/);
  });

  it('fails clearly when a COPY source is missing', () => {
    const ctx = contextWith({ Dockerfile: 'FROM a\nCOPY nope.txt /x\n' });
    const r = strata(['hash', ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.txt: nope\.txt is not in the build context/);
  });

  it('runs the benchmark table', () => {
    const ctx = contextWith(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'.repeat(i * 100)])));
    const r = strata(['hash', '--bench', ctx]);
    assert.equal(r.code, 0, r.stderr);
    for (const row of ['stat floor', 'read floor', 'cold hash (no stat cache)', 'cold hash, 1 thread', 'warm hash (stat cache, 40 hits)', 'one-file incremental update', 'peak RSS']) {
      assert.ok(r.stdout.includes(row), row);
    }
  });
});
