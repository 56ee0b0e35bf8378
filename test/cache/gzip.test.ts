/**
 * Gzip for what leaves the store: a tar as gzip members compressed at once
 * (the same bytes every time, read back whole by zlib and GNU gzip), and a
 * plain layer blob's gzip twin, made once and remembered.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { blobPath, GZIP_MEMBER_BYTES, gzipMembers, gzipTwin, putBlob } from '../../lib/cache/index.js';
import { prng } from '../helpers/prng.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'strata-gzip-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('gzip of layers', () => {
  it('compresses a tar as gzip members of 4 MiB, the same bytes every time, which zlib and GNU gzip read back whole', async () => {
    const random = prng(7);
    // Two whole members and part of a third, of bytes that compress a little (as a layer's do).
    const data = Buffer.from(Array.from({ length: GZIP_MEMBER_BYTES * 2 + 12_345 }, () => Math.floor(random() * 16)));
    const file = path.join(scratch, 'members.tar');
    writeFileSync(file, data);
    const compress = async (at: string) => {
      const parts: Buffer[] = [];
      for await (const part of gzipMembers(at)) parts.push(part);
      return Buffer.concat(parts);
    };
    const blob = await compress(file);
    assert.ok(blob.equals(await compress(file)), 'the same bytes again');
    assert.ok(gunzipSync(blob).equals(data));
    assert.ok(execFileSync('gzip', ['-dc'], { input: blob, maxBuffer: 64 << 20 }).equals(data));
    const first = gzipSync(data.subarray(0, GZIP_MEMBER_BYTES));
    assert.ok(blob.subarray(0, first.length).equals(first), 'the first member is the first 4 MiB on their own');
    // A tar under one member's size is one member: the blob one gzip stream of it always made.
    writeFileSync(file, data.subarray(0, 100_000));
    assert.ok((await compress(file)).equals(gzipSync(data.subarray(0, 100_000))));
  });

  it('makes a plain blob\'s gzip twin once, remembers it, and makes it again when a prune took it', async () => {
    const store = path.join(scratch, 'store');
    const random = prng(11);
    const tar = Buffer.from(Array.from({ length: 5 * 1024 * 1024 }, () => Math.floor(random() * 8)));
    const plain = await putBlob(store, tar);
    const twin = await gzipTwin(store, plain.digest);
    assert.notEqual(twin.digest, plain.digest);
    assert.ok(gunzipSync(readFileSync(blobPath(store, twin.digest))).equals(tar));
    assert.equal(twin.size, readFileSync(blobPath(store, twin.digest)).length);
    // Remembered: asked again, the answer comes from the record under cache/gzip.
    assert.deepEqual(JSON.parse(readFileSync(path.join(store, 'cache', 'gzip', plain.digest.slice(7)), 'utf8')), twin);
    assert.deepEqual(await gzipTwin(store, plain.digest), twin);
    // Gone (a prune removes blobs nothing names): made again, the same bytes.
    rmSync(blobPath(store, twin.digest));
    assert.deepEqual(await gzipTwin(store, plain.digest), twin);
    // A damaged record is no error: the twin is made again.
    writeFileSync(path.join(store, 'cache', 'gzip', plain.digest.slice(7)), '{');
    assert.deepEqual(await gzipTwin(store, plain.digest), twin);
  });
});
