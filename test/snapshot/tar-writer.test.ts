/**
 * The layer tar writer, read back by GNU tar and by tar-stream (what strata
 * itself extracts with): long names split into ustar's prefix or carried in
 * a PAX header, long link targets, owners and sizes beyond ustar's fields,
 * non-ASCII names, and the index of where each file's entry is; the same
 * tar written on the tar thread, and its errors brought back from there.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeEntries, writeTar } from '../../lib/snapshot/layer-tar.js';
import { writeTarInThread } from '../../lib/snapshot/tar-thread.js';
import { encodeHeader, paddingOf, tarFile } from '../../lib/snapshot/tar-writer.js';
import { tarExtract } from '../../lib/snapshot/index.js';
import { repoRoot } from '../helpers/conformance.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-tar-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Every entry tar-stream reads: name, type, link target, uid, size and content. */
async function readBack(file: string): Promise<{ name: string; type: string; linkname: string | null; uid: number; size: number; body: string }[]> {
  const extract = tarExtract();
  const out: { name: string; type: string; linkname: string | null; uid: number; size: number; body: string }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ name: header.name, type: header.type ?? 'file', linkname: header.linkname ?? null, uid: header.uid ?? 0, size: header.size ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(readFileSync(file));
  await done;
  return out;
}

describe('layer tar writer', () => {
  it('writes names, long or not ASCII, link targets and big numbers that GNU tar and tar-stream read back', async () => {
    const root = path.join(scratch, 'tree');
    const splittable = `${'a'.repeat(60)}/${'b'.repeat(80)}`; // 141 bytes: ustar's prefix and name
    const unsplittable = 'c'.repeat(120); // no slash to split at: a PAX path
    mkdirSync(path.join(root, 'a'.repeat(60)), { recursive: true });
    writeFileSync(path.join(root, splittable), 'split');
    writeFileSync(path.join(root, unsplittable), 'pax');
    writeFileSync(path.join(root, 'café.txt'), 'accent');
    symlinkSync('t'.repeat(150), path.join(root, 'link'));
    const rels = ['a'.repeat(60), splittable, unsplittable, 'café.txt', 'link'];
    const file = path.join(scratch, 'layer.tar');
    const tar = tarFile(file);
    const index = writeEntries(tar, root, rels, ['gone.txt']);
    const { size } = await tar.finish();
    assert.equal(readFileSync(file).length, size);

    const listed = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(listed.sort(), [`${'a'.repeat(60)}/`, splittable, '.wh.gone.txt', unsplittable, 'café.txt', 'link'].sort());
    const entries = await readBack(file);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get(splittable)?.body, 'split');
    assert.equal(byName.get(unsplittable)?.body, 'pax');
    assert.equal(byName.get('café.txt')?.body, 'accent');
    assert.equal(byName.get('link')?.linkname, 't'.repeat(150));
    assert.equal(byName.get('.wh.gone.txt')?.size, 0);

    // The index says where each file's entry (header and data) is.
    const bytes = readFileSync(file);
    const [at, length] = index[splittable]!;
    assert.equal(length, 512 + 512);
    assert.equal(bytes.subarray(at + 512, at + 512 + 5).toString(), 'split');
    const [paxAt, paxLength] = index[unsplittable]!;
    assert.ok(paxLength > 1024, 'a PAX header comes first');
    assert.equal(bytes.subarray(paxAt, paxAt + paxLength).includes(Buffer.from('path=' + unsplittable)), true);
  });

  it('writes many megabytes, small entries and big ones mixed, as one tar whose diffID is its sha256', async () => {
    const root = mkdtempSync(path.join(scratch, 'big-'));
    const rels: string[] = [];
    for (let i = 0; i < 300; i++) {
      const rel = `f${String(i).padStart(3, '0')}`;
      // Mostly small files, every fiftieth bigger than the 1 MiB write size.
      writeFileSync(path.join(root, rel), i % 50 === 7 ? Buffer.alloc(2_500_000 + i, i) : `small ${i}\n`.repeat(i));
      rels.push(rel);
    }
    const file = path.join(scratch, 'big.tar');
    const tar = tarFile(file);
    writeEntries(tar, root, rels);
    const { diffId, size } = await tar.finish();
    const bytes = readFileSync(file);
    assert.equal(bytes.length, size);
    assert.equal(diffId, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    const out = mkdtempSync(path.join(scratch, 'big-out-'));
    execFileSync('tar', ['-xf', file, '-C', out]);
    for (const rel of rels) assert.ok(readFileSync(path.join(out, rel)).equals(readFileSync(path.join(root, rel))), rel);
  });

  it('carries owners and sizes that ustar cannot hold in PAX records', async () => {
    const header = encodeHeader({ name: 'big-owner', type: 'file', mode: 0o644, uid: 3_000_000, gid: 5, mtime: 0, size: 3 });
    const file = path.join(scratch, 'owner.tar');
    const tar = tarFile(file);
    tar.write(header);
    tar.write(Buffer.from('abc'));
    tar.write(Buffer.alloc(paddingOf(3)));
    await tar.finish();
    const [entry] = await readBack(file);
    assert.equal(entry?.body, 'abc');
    // GNU tar applies the PAX owner (as Go's archive/tar, which container runtimes use, does).
    assert.match(execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' }), /3000000\/5 /);
  });

  it('writes the same tar on the tar thread as inline, a delta\'s entries found down its chain, and brings its errors back', async () => {
    const top = mkdtempSync(path.join(scratch, 'top-'));
    const below = mkdtempSync(path.join(scratch, 'below-'));
    writeFileSync(path.join(top, 'changed.txt'), 'new');
    writeFileSync(path.join(below, 'changed.txt'), 'old');
    writeFileSync(path.join(below, 'kept.txt'), 'kept');
    const job = (name: string) => ({ tarPath: path.join(scratch, name), root: top, rels: ['changed.txt', 'kept.txt'], deleted: ['gone'], opaque: [], locateIn: [top, below] });
    const inline = await writeTar(job('inline.tar'));
    const threaded = await writeTarInThread(job('thread.tar'));
    assert.deepEqual(threaded, inline);
    assert.ok(readFileSync(path.join(scratch, 'thread.tar')).equals(readFileSync(path.join(scratch, 'inline.tar'))));
    assert.deepEqual((await readBack(path.join(scratch, 'thread.tar'))).map((e) => `${e.name}=${e.body}`), ['.wh.gone=', 'changed.txt=new', 'kept.txt=kept']);
    // A file missing: the error names it, and no half-written tar is left.
    await assert.rejects(writeTarInThread({ ...job('broken.tar'), rels: ['missing.txt'] }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && /missing\.txt/.test(e.message));
    assert.equal(readdirSync(scratch).includes('broken.tar'), false);
  });

  it('leaves a process free to exit once the tar thread has nothing to do, whatever Node options the process has', () => {
    const module = path.join(repoRoot, 'dist', 'lib', 'snapshot', 'tar-thread.js');
    const root = mkdtempSync(path.join(scratch, 'exit-'));
    writeFileSync(path.join(root, 'f'), 'f');
    const run = (body: string) => spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(module)}); ${body}`], { encoding: 'utf8', timeout: 20_000 });
    // Started (as strata dev does) and never sent a job.
    const idle = run('m.startTarThread(); await new Promise((r) => setTimeout(r, 300));');
    assert.equal(idle.signal, null, 'the process exited by itself');
    assert.equal(idle.status, 0, idle.stderr);
    // --input-type is refused by a worker thread: the thread must not take the process's options.
    const busy = run(`const w = await m.writeTarInThread({ tarPath: ${JSON.stringify(path.join(root, 'out.tar'))}, root: ${JSON.stringify(root)}, rels: ['f'], deleted: [], opaque: [] }); console.log(w.diffId);`);
    assert.equal(busy.signal, null, 'the process exited by itself');
    assert.equal(busy.status, 0, busy.stderr);
    assert.match(busy.stdout, /^sha256:[0-9a-f]{64}$/m);
  });
});
