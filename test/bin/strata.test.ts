/** The strata command itself: the bundle it runs, the code cache it keeps, the bundled threads it starts. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { closeHashPool, hashContext } from '../../lib/context/index.js';
import { runStrata } from '../helpers/cli.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-bin-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
after(closeHashPool);

const strata = (args: string[], cacheHome: string) => runStrata(args, { env: { XDG_CACHE_HOME: cacheHome } });

describe('the strata command', () => {
  it('keeps a V8 code cache of its bundle in the cache directory, and runs the same without one, with a damaged one, or unable to write one', () => {
    const bundle = statSync(path.join(repoRoot, 'dist', 'lib', 'strata', 'main.cjs'), { throwIfNoEntry: false });
    const compiled = statSync(path.join(repoRoot, 'dist', '.tsbuildinfo'));
    assert.ok(bundle && bundle.mtimeMs >= compiled.mtimeMs, 'the bundle is missing or older than the last tsc run: npm run build makes it');
    const home = path.join(scratch, 'cache');
    const first = strata(['version'], home);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^strata \d+\.\d+\.\d+/);
    const [name, ...others] = readdirSync(path.join(home, 'strata'));
    assert.deepEqual(others, []);
    assert.match(name!, new RegExp(`^cli-other-${process.version}-${process.arch}-${bundle.size}-\\d+\\.v8$`));
    const file = path.join(home, 'strata', name!);
    const made = readFileSync(file);
    assert.ok(made.length > 1000);

    // Read, not rewritten, by the next run.
    assert.deepEqual(strata(['version'], home), first);
    assert.deepEqual(readFileSync(file), made);

    // A damaged cache is refused by V8: the run is the same, and the cache is made again.
    writeFileSync(file, 'not a code cache');
    assert.deepEqual(strata(['version'], home), first);
    assert.notEqual(readFileSync(file, 'utf8'), 'not a code cache');

    // Each command keeps its own, beside the others: a cache made by one command holds none of another's code.
    const plan = strata(['plan', '--help'], home);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(readdirSync(path.join(home, 'strata')).sort(), [name!.replace(/^cli-other-/, 'cli-plan-'), name!].sort());
    // Caches of another bundle (or Node) go when a new one is written.
    const old = path.join(home, 'strata', name!.replace(/^cli-other-v[^-]+/, 'cli-other-v0.0.0'));
    writeFileSync(old, 'old');
    rmSync(file);
    assert.deepEqual(strata(['version'], home), first);
    assert.deepEqual(readdirSync(path.join(home, 'strata')).sort(), [name!.replace(/^cli-other-/, 'cli-plan-'), name!].sort());

    // A cache directory that cannot be made (here a file is in the way) only costs the speed.
    const blocked = path.join(scratch, 'a-file');
    writeFileSync(blocked, '');
    assert.deepEqual(strata(['version'], blocked), first);
  });

  it('starts its hashing threads from the worker bundled beside it, which hashes as the modules tsc wrote do', async () => {
    for (const worker of ['hash-files.cjs', 'layer-tar.cjs']) assert.ok(existsSync(path.join(repoRoot, 'dist', 'lib', 'strata', worker)), `${worker}: npm run build makes it`);
    // More entries than the command lists itself before it hands directories to the threads.
    const dir = path.join(scratch, 'threads');
    for (let d = 0; d < 30; d++) {
      mkdirSync(path.join(dir, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(path.join(dir, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    const r = strata(['hash', '--json', '--no-stat-cache', dir], path.join(scratch, 'cache'));
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as { digest: string; files: number; threads: number };
    assert.equal(printed.files, 3000);
    assert.equal(printed.digest, (await hashContext(dir)).tree.digest.toString('hex'));
  });

  it('answers a build with nothing changed from a bundle of its own, whose code cache a run that answered makes', () => {
    const ctx = path.join(scratch, 'quick-ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
    writeFileSync(path.join(ctx, 'a.txt'), 'a\n');
    assert.ok(existsSync(path.join(repoRoot, 'dist', 'lib', 'strata', 'quick.cjs')), 'quick.cjs: npm run build makes it');
    const home = path.join(scratch, 'quick-cache');
    const build = () => runStrata(['build', '-q', '--store', path.join(scratch, 'quick-store'), ctx], { env: { XDG_CACHE_HOME: home } });
    const quickCaches = () => (existsSync(path.join(home, 'strata')) ? readdirSync(path.join(home, 'strata')) : []).filter((n) => n.startsWith('cli-quick-'));
    const first = build();
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(quickCaches(), [], 'the first build is not answered: no cache of the answer yet');
    // (A file dated just now is not trusted until a build has looked at it again: the second build does.)
    build();
    const answered = build();
    assert.deepEqual(answered, first);
    const [cache, ...more] = quickCaches();
    assert.ok(cache && more.length === 0, 'the answer keeps one code cache');
    const made = readFileSync(path.join(home, 'strata', cache));
    assert.deepEqual(build(), first);
    assert.deepEqual(readFileSync(path.join(home, 'strata', cache)), made, 'read, not rewritten');
  });
});
