import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ContextError } from '../../lib/errors/index.js';
import { checkContext, closeHashPool, hashContext, selectSources, startStatCacheCheck, updateContext, xxh128, type HashedContext } from '../../lib/context/index.js';
import { hashOneFile } from '../../lib/context/read-file.js';
import { HashStatus } from '../../lib/context/hash-record.js';
import { ageTree, makeTree, PAST, removeDir, tempDir } from './fixtures.js';
import { strataBin as bin } from '../helpers/cli.js';

after(closeHashPool);

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function context(files: Record<string, string>): string {
  const dir = tempDir();
  dirs.push(dir);
  makeTree(dir, files);
  return dir;
}

const digest = (ctx: HashedContext, p = '') => ctx.index.get(p)!.digest.toString('hex');

const APP = {
  'package.json': '{"name":"app"}',
  'src/index.js': 'console.log(1)\n',
  'src/lib/util.js': 'export const x = 1;\n',
  'README.md': '# app\n',
  'link': '->src/index.js',
};

describe('hashing a context', () => {
  it('lists entries with kind, mode, size and symlink target, and digests content with XXH128', async () => {
    const dir = context(APP);
    const ctx = await hashContext(dir);
    assert.deepEqual([...ctx.index.keys()].sort(), ['', 'README.md', 'link', 'package.json', 'src', 'src/index.js', 'src/lib', 'src/lib/util.js']);
    const file = ctx.index.get('src/index.js')!;
    assert.equal(file.kind, 'file');
    assert.equal(file.size, APP['src/index.js'].length);
    assert.equal(file.digest.toString('hex'), xxh128(Buffer.from('console.log(1)\n')).toString('hex'));
    assert.equal(ctx.index.get('link')!.kind, 'symlink');
    assert.equal(ctx.index.get('link')!.linkTarget, 'src/index.js');
    assert.deepEqual({ files: ctx.stats.files, dirs: ctx.stats.dirs, symlinks: ctx.stats.symlinks, bytes: ctx.stats.bytes }, { files: 4, dirs: 2, symlinks: 1, bytes: 14 + 15 + 20 + 6 });
  });

  it('gives the same digest for the same content, whatever the times', async () => {
    const a = await hashContext(context(APP));
    const dir = context(APP);
    utimesSync(path.join(dir, 'src/index.js'), new Date(), new Date('2020-05-05'));
    const b = await hashContext(dir);
    assert.equal(digest(a), digest(b));
  });

  it('changes the digest of the file and every directory above it on a content, mode or name change', async () => {
    const base = await hashContext(context(APP));
    const edits: ((dir: string) => void)[] = [
      (d) => writeFileSync(path.join(d, 'src/lib/util.js'), 'export const x = 2;\n'),
      (d) => chmodSync(path.join(d, 'src/lib/util.js'), 0o755),
      (d) => renameSync(path.join(d, 'src/lib/util.js'), path.join(d, 'src/lib/util2.js')),
      (d) => chmodSync(path.join(d, 'src/lib'), 0o700),
      (d) => chmodSync(path.join(d, 'src/lib/util.js'), 0o4644),
    ];
    for (const edit of edits) {
      const dir = context(APP);
      edit(dir);
      const ctx = await hashContext(dir);
      assert.notEqual(digest(ctx), digest(base), String(edit));
      assert.notEqual(digest(ctx, 'src'), digest(base, 'src'), String(edit));
      assert.equal(digest(ctx, 'package.json'), digest(base, 'package.json'));
    }
  });

  it('keeps setuid, setgid and sticky bits in the mode', async () => {
    const dir = context({ a: 'x', 'd/': '' });
    chmodSync(path.join(dir, 'a'), 0o6755);
    chmodSync(path.join(dir, 'd'), 0o1777);
    const ctx = await hashContext(dir);
    assert.equal(ctx.index.get('a')!.mode, 0o6755);
    assert.equal(ctx.index.get('d')!.mode, 0o1777);
  });

  it('detects hard links', async () => {
    const dir = context({ a: 'same' });
    linkSync(path.join(dir, 'a'), path.join(dir, 'b'));
    const ctx = await hashContext(dir);
    assert.equal(ctx.index.get('b')!.hardlinkOf, 'a');
    assert.equal(ctx.index.get('a')!.hardlinkOf, undefined);
  });

  it('leaves out what .dockerignore excludes, so it never changes a digest', async () => {
    const patterns = ['node_modules', '*.log', 'docs', '!docs/keep.md'];
    const dir = context({ ...APP, 'node_modules/x/i.js': '1', 'debug.log': 'a', 'docs/keep.md': 'k', 'docs/drop.md': 'd' });
    const ctx = await hashContext(dir, { ignorePatterns: patterns });
    assert.equal(ctx.index.has('node_modules'), false);
    assert.equal(ctx.index.has('debug.log'), false);
    assert.equal(ctx.index.has('docs/drop.md'), false);
    assert.equal(ctx.index.has('docs/keep.md'), true);
    writeFileSync(path.join(dir, 'debug.log'), 'more');
    writeFileSync(path.join(dir, 'node_modules/x/i.js'), '2');
    assert.equal(digest(await hashContext(dir, { ignorePatterns: patterns })), digest(ctx));
  });

  it('hashes large contexts in the worker pool with the same digests as in-process', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 700; i++) files[`d${i % 7}/f${i}.txt`] = `file ${i}\n`.repeat(i % 50);
    files['big.bin'] = 'x'.repeat(3 * 1024 * 1024);
    const dir = context(files);
    const pooled = await hashContext(dir);
    const inline = await hashContext(dir, { inline: true });
    assert.equal(digest(pooled), digest(inline));
    assert.equal(pooled.stats.files, 701);
    assert.equal(pooled.index.get('big.bin')!.digest.toString('hex'), xxh128(Buffer.from('x'.repeat(3 * 1024 * 1024))).toString('hex'));
  });

  it('walks big trees on the worker threads with the same result as in-process', async () => {
    const files: Record<string, string> = { 'keep/me.txt': 'k' };
    for (let i = 0; i < 400; i++) files[`t${i % 5}/s${i % 23}/f${i}.js`] = `// ${i}`;
    for (let i = 0; i < 30; i++) files[`ignored/sub${i}/x.txt`] = String(i);
    files['ignored/sub3/wanted.md'] = 'w';
    const dir = context(files);
    linkSync(path.join(dir, 't0/s0/f0.js'), path.join(dir, 't0/hard.js'));
    const ignorePatterns = ['ignored', '!ignored/sub3/wanted.md', '**/f1?.js'];
    const parallel = await hashContext(dir, { ignorePatterns, inlineBudget: 0 });
    const inline = await hashContext(dir, { ignorePatterns, inline: true });
    const shape = (ctx: HashedContext) => [...ctx.index.values()].map((e) => `${e.path} ${e.kind} ${e.mode} ${e.hardlinkOf ?? ''} ${e.digest.toString('hex')}`).sort();
    assert.deepEqual(shape(parallel), shape(inline));
    assert.equal(digest(parallel), digest(inline));
    assert.equal(parallel.index.has('ignored/sub3/wanted.md'), true);
    assert.equal(parallel.index.has('ignored/sub4'), false);
    assert.equal(parallel.index.has('t0/s10/f10.js'), false);
    assert.equal(parallel.index.get('t0/s0/f0.js')!.hardlinkOf, 't0/hard.js');
  });

  it('puts together a tree that the threads scanned in many tasks, handed from one to the next', async () => {
    // More entries than one task takes (4,000), so directories are handed back and scanned by later tasks.
    const files: Record<string, string> = {};
    for (let i = 0; i < 5200; i++) files[`p${i % 7}/q${i % 13}/r${i % 29}/f${i}.txt`] = `${i}`;
    for (let i = 0; i < 40; i++) files[`p${i % 7}/q${i % 13}/l${i}`] = `->../q${(i + 1) % 13}`;
    const dir = context(files);
    linkSync(path.join(dir, 'p0/q0/r0/f0.txt'), path.join(dir, 'p6/q12/z-hard.txt'));
    const pooled = await hashContext(dir, { inlineBudget: 0 });
    const inline = await hashContext(dir, { inline: true });
    const shape = (ctx: HashedContext) => [...ctx.index.values()].map((e) => `${e.path} ${e.kind} ${e.mode} ${e.linkTarget ?? ''} ${e.hardlinkOf ?? ''} ${e.digest.toString('hex')}`).sort();
    assert.deepEqual(shape(pooled), shape(inline));
    assert.equal(digest(pooled), digest(inline));
    assert.equal(pooled.stats.files, 5201);
    assert.equal(pooled.index.get('p3/q3/l3')!.linkTarget, '../q4');
    assert.equal(pooled.index.get('p6/q12/z-hard.txt')!.hardlinkOf, 'p0/q0/r0/f0.txt');
  });

  it('takes over a stat cache check the CLI started early, for the same context and cache file only', async () => {
    // Big enough to be checked early (more than 512 rows; up to 8,192 strata-stat.node checks them at once, the helper beyond).
    const files: Record<string, string> = {};
    for (let i = 0; i < 4200; i++) files[`m${i % 40}/f${i}.js`] = `${i}`;
    const dir = context(files);
    ageTree(dir, Object.keys(files));
    const statCacheFile = path.join(dir, '..', `${path.basename(dir)}.early.cache`);
    const otherCacheFile = `${statCacheFile}.other`;
    dirs.push(statCacheFile, otherCacheFile);
    await hashContext(dir, { statCacheFile });
    writeFileSync(path.join(dir, 'm7/f7.js'), 'edited');
    utimesSync(path.join(dir, 'm7/f7.js'), PAST, PAST);
    const fresh = await hashContext(dir, { inline: true });

    startStatCacheCheck(dir, statCacheFile);
    const warm = await hashContext(dir, { statCacheFile });
    assert.equal(warm.stats.cacheHits, 4199);
    assert.equal(warm.stats.hashedFiles, 1);
    assert.equal(digest(warm), digest(fresh));

    // A check of another cache file is not this one's: the build checks its own.
    await hashContext(dir, { statCacheFile: otherCacheFile });
    startStatCacheCheck(dir, otherCacheFile);
    writeFileSync(path.join(dir, 'm8/f8.js'), 'edited too');
    utimesSync(path.join(dir, 'm8/f8.js'), PAST, PAST);
    const again = await hashContext(dir, { statCacheFile });
    assert.equal(again.stats.hashedFiles, 1);
    assert.equal(digest(again), digest(await hashContext(dir, { inline: true })));

    // The rows the no-change check of strata build found (checkContext) are taken as the early check's own...
    writeFileSync(path.join(dir, 'm9/f9.js'), 'edited as well');
    utimesSync(path.join(dir, 'm9/f9.js'), PAST, PAST);
    const found = checkContext(dir, statCacheFile, again.statCacheId!);
    assert.equal(found?.changed.length, 1);
    startStatCacheCheck(dir, statCacheFile, found);
    const handed = await hashContext(dir, { statCacheFile });
    assert.equal(handed.stats.hashedFiles, 1);
    assert.equal(digest(handed), digest(await hashContext(dir, { inline: true })));
    // ... unless the cache file was written again since (here by that hash): then they are the check of another file.
    writeFileSync(path.join(dir, 'm10/f10.js'), 'and this');
    utimesSync(path.join(dir, 'm10/f10.js'), PAST, PAST);
    startStatCacheCheck(dir, statCacheFile, found);
    const own = await hashContext(dir, { statCacheFile });
    assert.equal(own.stats.hashedFiles, 1, 'the edit the stale check never saw is found');
    assert.equal(digest(own), digest(await hashContext(dir, { inline: true })));
  });

  it('keeps names with spaces, newlines and bytes that are not UTF-8, each its own, through the stat cache and updates', async () => {
    const dir = context({ 'with space.txt': 'a', 'new\nline.txt': 'b' });
    const raw = (name: number[]) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name)]);
    writeFileSync(raw([0xff, 0x41]), 'c');
    writeFileSync(raw([0xfe, 0x41]), 'd'); // would be the same name as the one above if bad bytes became U+FFFD
    mkdirSync(raw([0x64, 0xe9]));
    writeFileSync(Buffer.concat([raw([0x64, 0xe9]), Buffer.from('/inner')]), 'e');
    // Written long ago, as far as the stat cache can tell: a fresh file is racily clean and read again anyway.
    for (const p of [raw([0xff, 0x41]), raw([0xfe, 0x41]), Buffer.concat([raw([0x64, 0xe9]), Buffer.from('/inner')]), raw([0x64, 0xe9])]) utimesSync(p, PAST, PAST);
    ageTree(dir, ['with space.txt', 'new\nline.txt', '']);
    const ctx = await hashContext(dir, { inline: true });
    assert.equal(ctx.stats.files, 5);
    assert.deepEqual([...ctx.index.keys()].sort(), ['', 'd\uDCE9', 'd\uDCE9/inner', 'new\nline.txt', 'with space.txt', '\uDCFEA', '\uDCFFA']);
    assert.equal(ctx.index.get('\uDCFFA')!.digest.toString('hex'), xxh128(Buffer.from('c')).toString('hex'));
    const pooled = await hashContext(dir, { inlineBudget: 0 });
    assert.equal(digest(pooled), digest(ctx));
    const statCacheFile = path.join(dir, '..', `${path.basename(dir)}.names.cache`);
    dirs.push(statCacheFile);
    await hashContext(dir, { statCacheFile });
    const warm = await hashContext(dir, { statCacheFile });
    assert.equal(warm.stats.cacheHits, 5);
    assert.equal(digest(warm), digest(ctx));
    assert.equal(warm.index.get('d\uDCE9/inner')!.digest.toString('hex'), xxh128(Buffer.from('e')).toString('hex'));
    writeFileSync(raw([0xff, 0x41]), 'changed');
    const update = await updateContext(ctx, ['\uDCFFA']);
    assert.deepEqual(update.changed, ['\uDCFFA']);
    assert.equal(digest(ctx), digest(await hashContext(dir, { inline: true })));
  });

  it('hashes a tree 1,000 directories deep, cold, warm and after an update', async () => {
    const dir = context({});
    const deep = Array.from({ length: 1000 }, () => 'd').join('/');
    mkdirSync(path.join(dir, deep), { recursive: true });
    writeFileSync(path.join(dir, deep, 'bottom.txt'), 'deep');
    const inline = await hashContext(dir, { inline: true });
    const pooled = await hashContext(dir, { inlineBudget: 0 });
    assert.equal(inline.stats.dirs, 1000);
    assert.equal(digest(pooled), digest(inline));
    assert.equal(inline.index.get(`${deep}/bottom.txt`)!.digest.toString('hex'), xxh128(Buffer.from('deep')).toString('hex'));
    const statCacheFile = path.join(dir, '..', `${path.basename(dir)}.deep.cache`);
    dirs.push(statCacheFile);
    await hashContext(dir, { statCacheFile });
    writeFileSync(path.join(dir, deep, 'bottom.txt'), 'deeper');
    const warm = await hashContext(dir, { statCacheFile });
    await updateContext(inline, [`${deep}/bottom.txt`]);
    assert.equal(digest(warm), digest(inline));
    assert.notEqual(digest(warm), digest(pooled));
  });

  it('leaves out sockets and FIFOs with a warning, as Docker does, cold or from the stat cache', async () => {
    const dir = context({ 'app.js': '1' });
    const statCacheFile = path.join(dir, '..', `${path.basename(dir)}.fifo.cache`);
    dirs.push(statCacheFile);
    const plain = digest(await hashContext(dir, { statCacheFile }));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'pipe')]).status, 0);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));
    try {
      // Warm: the root's listing changed, so it is read again, and what it has that is no file is said.
      const warm = await hashContext(dir, { statCacheFile });
      assert.equal(digest(warm), plain);
      assert.match(warm.warnings.join('\n'), /skipped 2 socket\(s\), FIFO\(s\) or device\(s\), as Docker does: pipe, sock/);
      const ctx = await hashContext(dir);
      assert.equal(digest(ctx), plain);
      assert.equal(ctx.index.has('pipe'), false);
      assert.equal(ctx.index.has('sock'), false);
      assert.match(ctx.warnings.join('\n'), /skipped 2 socket\(s\), FIFO\(s\) or device\(s\), as Docker does: pipe, sock/);
      const before = await hashContext(dir, { inline: true });
      rmSync(path.join(dir, 'pipe'));
      assert.equal(spawnSync('mkfifo', [path.join(dir, 'pipe2')]).status, 0);
      await updateContext(before, [path.join(dir, 'pipe'), path.join(dir, 'pipe2')]);
      assert.equal(before.index.has('pipe2'), false);
      assert.equal(digest(before), plain);
    } finally {
      server.close();
    }
  });

  it('reports progress as batches finish', async () => {
    const dir = context(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, String(i)])));
    const seen: number[] = [];
    await hashContext(dir, { onProgress: (p) => seen.push(p.filesDone) });
    assert.equal(seen.at(-1), 300);
    assert.ok(seen.every((n, i) => i === 0 || n >= seen[i - 1]!));
  });

  it('refuses a file that keeps changing while read, and a missing context', async () => {
    // procfs files report size 0 but read as text: every attempt sees a size mismatch.
    assert.equal(hashOneFile('/proc/self/status').status, HashStatus.Unstable);
    // Reading /proc/self/mem at offset 0 fails with EIO, for root too: an unreadable file.
    assert.equal(hashOneFile('/proc/self/mem').status, HashStatus.Unreadable);
    await assert.rejects(hashContext(path.join(tempDir(), 'nope')), ContextError);
  });

  it('reports an unreadable file as an error naming it (exit 1), and never touches an ignored one', async () => {
    const dir = context({ secret: 's', 'skipped/also-secret': 'x', 'app.js': '1' });
    chmodSync(path.join(dir, 'secret'), 0);
    chmodSync(path.join(dir, 'skipped/also-secret'), 0);
    if (process.getuid?.() !== 0) {
      await assert.rejects(hashContext(dir), /secret cannot be read/);
      const ignored = await hashContext(dir, { ignorePatterns: ['secret', 'skipped'] });
      assert.equal(ignored.stats.files, 1);
      return;
    }
    // Root reads every file: the CLI runs as root without the capabilities that override file permissions
    // (setpriv, from util-linux), so the file is unreadable to it as it would be to a user.
    assert.equal(spawnSync('sh', ['-c', 'command -v setpriv']).status, 0, 'setpriv (util-linux) is needed to test an unreadable file as root');
    const asUser = (args: string[]) => spawnSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, bin, 'hash', '--no-stat-cache', ...args, dir], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const r = asUser([]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /secret cannot be read[\s\S]*hint: fix its permissions, or exclude it in \.dockerignore/);
    writeFileSync(path.join(dir, '.dockerignore'), 'secret\nskipped\n');
    const ignored = asUser(['--json']);
    assert.equal(ignored.status, 0, ignored.stderr);
    assert.equal((JSON.parse(ignored.stdout) as { files: number }).files, 2); // app.js and .dockerignore
  });
});

describe('the stat cache', () => {
  it('reuses digests for unchanged files and re-reads changed ones', async () => {
    const dir = context(APP);
    const cacheFile = path.join(dir, '..', path.basename(dir) + '.statcache');
    dirs.push(cacheFile);
    const first = await hashContext(dir, { statCacheFile: cacheFile });
    assert.equal(first.stats.cacheHits, 0);
    const second = await hashContext(dir, { statCacheFile: cacheFile });
    assert.equal(second.stats.cacheHits, 4);
    assert.equal(second.stats.hashedFiles, 0);
    assert.equal(digest(second), digest(first));
    writeFileSync(path.join(dir, 'README.md'), '# changed\n');
    ageTree(dir, ['README.md']);
    const third = await hashContext(dir, { statCacheFile: cacheFile });
    assert.equal(third.stats.hashedFiles, 1);
    assert.notEqual(digest(third), digest(first));
  });

  it('never trusts a racily clean entry: a same-size rewrite right after hashing is seen', async () => {
    const dir = context({ a: 'one' });
    const cacheFile = path.join(dir, '..', path.basename(dir) + '.racy');
    dirs.push(cacheFile);
    writeFileSync(path.join(dir, 'a'), 'two');
    const before = await hashContext(dir, { statCacheFile: cacheFile });
    writeFileSync(path.join(dir, 'a'), 'six');
    const mtime = before.index.get('a')!.stat.mtimeNs;
    utimesSync(path.join(dir, 'a'), Number(mtime) / 1e9, Number(mtime) / 1e9);
    const after = await hashContext(dir, { statCacheFile: cacheFile });
    assert.equal(after.index.get('a')!.digest.toString('hex'), xxh128(Buffer.from('six')).toString('hex'));
  });

  it('discards a damaged, truncated or foreign cache with a warning and still gets every digest right', async () => {
    const dir = context(APP);
    const cacheFile = path.join(dir, '..', path.basename(dir) + '.bad');
    dirs.push(cacheFile);
    const good = await hashContext(dir, { statCacheFile: cacheFile });
    const damage: ((f: string) => void)[] = [
      (f) => truncateSync(f, 40),
      (f) => { const b = readFileSync(f); b[b.length - 30]! ^= 0xff; writeFileSync(f, b); },
      (f) => writeFileSync(f, 'not a cache at all'),
      (f) => { const b = readFileSync(f); b.writeUInt32LE(99, 8); writeFileSync(f, b); },
      (f) => writeFileSync(f, ''),
    ];
    for (const d of damage) {
      await hashContext(dir, { statCacheFile: cacheFile });
      d(cacheFile);
      const ctx = await hashContext(dir, { statCacheFile: cacheFile });
      assert.equal(ctx.warnings.length, 1, String(d));
      assert.match(ctx.warnings[0]!, /discarded/);
      assert.equal(ctx.stats.cacheHits, 0);
      assert.equal(digest(ctx), digest(good));
    }
  });

  it('survives a missing cache directory and writes the file atomically', async () => {
    const dir = context(APP);
    const cacheFile = path.join(dir, '..', path.basename(dir) + '-store', 'nested', 'cache.bin');
    dirs.push(path.dirname(path.dirname(cacheFile)));
    await hashContext(dir, { statCacheFile: cacheFile });
    assert.ok(readFileSync(cacheFile).length > 0);
    rmSync(cacheFile);
    const ctx = await hashContext(dir, { statCacheFile: cacheFile });
    assert.deepEqual(ctx.warnings, []);
  });
});

describe('COPY source selection', () => {
  const TREE = { ...APP, 'src/a.txt': 'a', 'src/b.md': 'b', 'assets/logo.png': 'png', '.env': 'SECRET=1' };

  it('gives a directory source its tree digest, with or without a trailing slash or ./', async () => {
    const ctx = await hashContext(context(TREE));
    const a = selectSources(ctx, { sources: ['src'] });
    assert.equal(a.digest, digest(ctx, 'src'));
    assert.equal(selectSources(ctx, { sources: ['src/'] }).digest, a.digest);
    assert.equal(selectSources(ctx, { sources: ['./src'] }).digest, a.digest);
    assert.equal(selectSources(ctx, { sources: ['/src/'] }).digest, a.digest);
    assert.deepEqual(a.files, ['src/a.txt', 'src/b.md', 'src/index.js', 'src/lib/util.js']);
  });

  it('matches wildcards per path segment, and equal selections have equal digests', async () => {
    const ctx = await hashContext(context(TREE));
    assert.deepEqual(selectSources(ctx, { sources: ['src/*.js'] }).files, ['src/index.js']);
    assert.deepEqual(selectSources(ctx, { sources: ['*/[a-b].*'] }).files, ['src/a.txt', 'src/b.md']);
    assert.deepEqual(selectSources(ctx, { sources: ['s?c/lib'] }).files, ['src/lib/util.js']);
    const listed = selectSources(ctx, { sources: ['src/a.txt', 'src/b.md'] });
    assert.equal(selectSources(ctx, { sources: ['src/[ab].*'] }).digest, listed.digest);
    assert.notEqual(selectSources(ctx, { sources: ['src/a.txt'] }).digest, listed.digest);
  });

  it('applies --exclude and --parents', async () => {
    const ctx = await hashContext(context(TREE));
    assert.deepEqual(selectSources(ctx, { sources: ['.'], exclude: ['**/*.md', 'src/lib'] }).files, ['.env', 'assets/logo.png', 'link', 'package.json', 'src/a.txt', 'src/index.js']);
    const flat = selectSources(ctx, { sources: ['src/lib/util.js'] });
    const kept = selectSources(ctx, { sources: ['src/lib/util.js'], parents: true });
    assert.notEqual(flat.digest, kept.digest);
    assert.deepEqual(kept.files, ['src/lib/util.js']);
  });

  it('changes a selection digest only when what it selects changes', async () => {
    const dir = context(TREE);
    const before = await hashContext(dir);
    writeFileSync(path.join(dir, 'assets/logo.png'), 'new png');
    ageTree(dir, ['assets/logo.png']);
    const after = await hashContext(dir);
    assert.equal(selectSources(after, { sources: ['src'] }).digest, selectSources(before, { sources: ['src'] }).digest);
    assert.notEqual(selectSources(after, { sources: ['assets'] }).digest, selectSources(before, { sources: ['assets'] }).digest);
  });

  it('refuses a missing source, an empty wildcard and a path outside the context, naming them', async () => {
    const ctx = await hashContext(context(TREE), { ignorePatterns: ['.env'] });
    assert.throws(() => selectSources(ctx, { sources: ['nope.txt'] }), /nope.txt is not in the build context/);
    assert.throws(() => selectSources(ctx, { sources: ['.env'] }), (e: ContextError) => /excluded by \.dockerignore/.test(e.hint ?? ''));
    assert.throws(() => selectSources(ctx, { sources: ['*.zip'] }), /no files match \*\.zip/);
    assert.throws(() => selectSources(ctx, { sources: ['src/[a'] }), /bad wildcard/);
    assert.throws(() => selectSources(ctx, { sources: ['../README.md'] }), /\.\.\/README\.md is outside the build context/);
    assert.throws(() => selectSources(ctx, { sources: ['src/../../README.md'] }), /outside the build context/);
  });

  it('follows a symlink named as a source, inside the context only; one inside a copied directory stays a link', async () => {
    const dir = context({
      'real/app.js': 'app', 'real/nested/n.txt': 'n', 'notes.txt': 'notes',
      'link.txt': '->notes.txt', 'dirlink': '->real', 'abs': '->/notes.txt', 'climb': '->../../notes.txt',
      'out': '->/etc/passwd', 'real/inner': '->../notes.txt', 'via/x': '->../dirlink/nested',
    });
    const ctx = await hashContext(dir);
    const file = selectSources(ctx, { sources: ['link.txt'] });
    assert.deepEqual(file.placed.map((p) => [p.src, p.dest, p.entry.kind]), [['notes.txt', 'link.txt', 'file']]);
    assert.equal(file.named[0]!.kind, 'file');
    // Keyed by what the link leads to: the same as copying that file under the link's name.
    assert.notEqual(file.digest, selectSources(ctx, { sources: ['notes.txt'] }).digest);
    for (const other of ['abs', 'climb']) assert.deepEqual(selectSources(ctx, { sources: [other] }).placed.map((p) => p.src), ['notes.txt']);
    const dirSel = selectSources(ctx, { sources: ['dirlink'] });
    assert.equal(dirSel.digest, selectSources(ctx, { sources: ['real'] }).digest);
    assert.equal(dirSel.named[0]!.kind, 'dir');
    assert.equal(dirSel.placed.find((p) => p.dest === 'inner')!.entry.kind, 'symlink');
    assert.deepEqual(selectSources(ctx, { sources: ['dirlink/nested/n.txt'] }).files, ['real/nested/n.txt']);
    assert.deepEqual(selectSources(ctx, { sources: ['via/x'] }).files, ['real/nested/n.txt']);
    assert.throws(() => selectSources(ctx, { sources: ['out'] }), /out is a symlink to \/etc\/passwd, which is not in the build context/);
    writeFileSync(path.join(dir, 'notes.txt'), 'changed');
    ageTree(dir, ['notes.txt']);
    assert.notEqual(selectSources(await hashContext(dir), { sources: ['link.txt'] }).digest, file.digest);
  });
});

void PAST;
