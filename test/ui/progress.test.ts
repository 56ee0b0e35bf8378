import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { devPlainReporter, formatBytes, progressBar } from '../../lib/ui/index.js';

function terminal(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, write: (s: string) => written.push(s), written };
}

describe('progress bar', () => {
  it('stays silent for the first half second, then draws and erases itself', () => {
    let clock = 1000;
    const term = terminal(true);
    const bar = progressBar('hashing', term, () => clock);
    bar.update(10, 100, 1024, 10240);
    assert.deepEqual(term.written, []);
    clock += 600;
    bar.update(50, 100, 5 * 1024 * 1024, 10 * 1024 * 1024);
    assert.equal(term.written.length, 1);
    assert.match(term.written[0]!, /^\rhashing \[#{14}\.{14}\]  50%  50\/100 files  5\.0 MiB\/10 MiB/);
    bar.finish();
    assert.equal(term.written.at(-1), '\r\x1b[K');
  });

  it('never draws when the output is not a terminal', () => {
    let clock = 0;
    const pipe = terminal(false);
    const bar = progressBar('hashing', pipe, () => clock);
    clock = 5000;
    bar.update(1, 2, 3, 4);
    bar.finish();
    assert.deepEqual(pipe.written, []);
  });

  it('formats byte counts', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes), ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 MiB', '3.0 GiB']);
  });
});

describe('the dev loop\'s plain lines', () => {
  it('says how many of the oldest records a trim of the cache took, what it freed and what the cache holds', () => {
    const lines: string[] = [];
    const report = devPlainReporter((line) => lines.push(line), { color: false }, () => undefined);
    report({ type: 'cache-trimmed', records: 3, bytes: 5 * 1024 * 1024, cacheBytes: 1024 });
    report({ type: 'cache-trimmed', records: 1, bytes: 0, cacheBytes: 0 });
    assert.deepEqual(lines, [
      '#0 cache: the 3 oldest records went (5.0 MiB freed); it holds 1.0 KiB beyond the images',
      '#0 cache: the oldest record went (0 B freed); it holds 0 B beyond the images',
    ]);
  });
});
