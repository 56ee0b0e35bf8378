/** COPY records: what one run of a COPY leaves for the next, read back exactly, names of every kind included. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { flushCopyRecords, readCopyRecord, writeCopyRecord, type CopyRecord } from '../../lib/cache/index.js';
import { decodeRecord, encodeRecord } from '../../lib/cache/copies.js';

describe('COPY records', () => {
  const store = mkdtempSync(path.join(tmpdir(), 'strata-copies-'));
  after(() => rmSync(store, { recursive: true, force: true }));
  const record: CopyRecord = {
    layer: 'sha256:' + 'a'.repeat(64),
    files: { 'app/a.txt': 'd1:420:0:0:1', 'app/new\nline': 'd2:420:0:0:2', 'app/tab\there': 'd3:493:0:0:3', 'app/caf\u00e9 \u{1F600}': 'd4:420:0:0:4', 'app/bad\uDCFF': 'd5:420:0:0:5' },
    tar: { file: '/store/cache/copies/x.tar', diffId: 'sha256:' + 'b'.repeat(64), index: { 'app/a.txt': [512, 1024, 'c1'], 'app/new\nline': [1536, 1024, 'c2'], 'app/caf\u00e9 \u{1F600}': [2560, 1024, 'c4'] } },
    dirs: { app: '', 'app/sub': '493:0:0' },
    others: ['app/link'],
  };

  it('reads back what was written, and leaves out a name that is not UTF-8 rather than mistake it for another', () => {
    const back = decodeRecord(encodeRecord(record))!;
    const { 'app/bad\uDCFF': _left, ...files } = record.files;
    assert.deepEqual(back, { ...record, files });
  });

  it('keeps the latest record for this process and writes it behind, or when flushed; a damaged or foreign file is no record', async () => {
    writeCopyRecord(store, 'sha256:' + '1'.repeat(64), record);
    assert.equal(readCopyRecord(store, '1'.repeat(64)), record, 'at once, before it is on disk');
    assert.equal(existsSync(path.join(store, 'cache', 'copies')), false, 'written behind');
    flushCopyRecords();
    assert.deepEqual(readdirSync(path.join(store, 'cache', 'copies')), ['1'.repeat(64)]);
    writeFileSync(path.join(store, 'cache', 'copies', '2'.repeat(64)), '{"layer":"sha256:x","files":{}}');
    assert.equal(readCopyRecord(store, '2'.repeat(64)), undefined);
    writeFileSync(path.join(store, 'cache', 'copies', '3'.repeat(64)), encodeRecord(record).slice(0, 200) + '\0X\0');
    assert.equal(readCopyRecord(store, '3'.repeat(64)), undefined);
  });
});
