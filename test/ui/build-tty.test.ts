/** The tty build reporter: what a person at a terminal sees, frame by frame. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainReporter, ttyReporter } from '../../lib/ui/index.js';

/** The last frame drawn: the text after the last "move up and clear". */
function lastFrame(written: string[]): string[] {
  const all = written.join('');
  const at = all.lastIndexOf('\x1b[J');
  return all.slice(at < 0 ? 0 : at + 3).split('\n').filter(Boolean);
}

describe('tty build progress', () => {
  it('shows running stages side by side with timers and their last output, then the finished build', () => {
    let clock = 10_000;
    const written: string[] = [];
    const tty = ttyReporter({ write: (s: string) => written.push(s), columns: 60, rows: 30 }, { color: false }, () => clock);
    tty.report({ type: 'build-start', file: 'Dockerfile', target: null, snapshotter: 'overlay', stages: 3, steps: 3 });
    tty.report({ type: 'step-start', id: 1, stage: 'a', index: 1, count: 1, text: 'RUN make a-very-long-target-name-that-does-not-fit-on-one-line', line: 2, time: clock });
    tty.report({ type: 'step-start', id: 2, stage: 'b', index: 1, count: 1, text: 'RUN make b', line: 4, time: clock });
    tty.report({ type: 'step-log', id: 1, stream: 'stdout', line: 'compiling a', time: clock });
    clock += 1500;
    tty.report({ type: 'step-cached', id: 2, time: clock });
    tty.report({ type: 'step-done', id: 2, seconds: 0, execSeconds: 0, execStartedAt: 0, cached: true, time: clock });
    tty.report({ type: 'step-error', id: 1, message: 'exit code: 2', time: clock });
    tty.close();
    const frame = lastFrame(written);
    assert.equal(frame[0], '[+] Building 1.5s (2/3)');
    assert.ok(frame.every((l) => l.length <= 59), frame.join('\n'));
    assert.match(frame[1]!, /^ => \[a 1\/1\] RUN make a-very-long-target.*… +1\.5s$/);
    assert.equal(frame[2], '    ERROR: exit code: 2');
    assert.match(frame[3]!, /^ => CACHED \[b 1\/1\] RUN make b +0\.0s$/);
    // Closing again draws nothing more.
    const count = written.length;
    tty.close();
    assert.equal(written.length, count);
  });

  it('folds the oldest finished steps when the frame would not fit the terminal', () => {
    let clock = 0;
    const written: string[] = [];
    const tty = ttyReporter({ write: (s: string) => written.push(s), columns: 80, rows: 8 }, { color: false }, () => clock);
    tty.report({ type: 'build-start', file: 'Dockerfile', target: null, snapshotter: 'copy', stages: 1, steps: 10 });
    for (let id = 1; id <= 10; id++) {
      tty.report({ type: 'step-start', id, stage: 's', index: id, count: 10, text: `RUN step ${id}`, line: id, time: clock });
      if (id < 10) tty.report({ type: 'step-done', id, seconds: 0.1, execSeconds: 0.1, execStartedAt: clock, cached: false, time: clock + 100 });
    }
    tty.report({ type: 'step-log', id: 10, stream: 'stdout', line: 'still going', time: clock });
    tty.close();
    const frame = lastFrame(written);
    assert.ok(frame.length <= 8, frame.join('\n'));
    assert.match(frame.join('\n'), / => … \d+ finished steps/);
    assert.match(frame.join('\n'), /\[s 10\/10\] RUN step 10/);
    assert.equal(frame[frame.length - 1], '    still going');
  });

  it('draws a bar for a pull: every blob announced with its size, bytes as they move; plain mode prints a line as each blob ends', () => {
    const written: string[] = [];
    const tty = ttyReporter({ write: (s: string) => written.push(s), columns: 100, rows: 30 }, { color: false }, () => 0);
    const ref = 'localhost:5000/base:1';
    tty.report({ type: 'pull', ref, digest: 'sha256:aaaaaaaaaaaa', bytes: 0, total: 1024, state: 'started' });
    tty.report({ type: 'pull', ref, digest: 'sha256:bbbbbbbbbbbb', bytes: 0, total: 3072, state: 'started' });
    tty.report({ type: 'pull', ref, digest: 'sha256:aaaaaaaaaaaa', bytes: 1024, total: 1024, state: 'done' });
    tty.report({ type: 'pull', ref, digest: 'sha256:bbbbbbbbbbbb', bytes: 1024, total: 3072, state: 'progress' });
    tty.close();
    assert.ok(lastFrame(written).includes(` => pulling ${ref} [##########..........] 2.0 KiB / 4.0 KiB, 1/2 blobs`), lastFrame(written).join('\n'));
    const lines: string[] = [];
    const plain = plainReporter((l) => lines.push(l));
    plain({ type: 'push', ref, digest: 'sha256:cccccccccccc', bytes: 0, total: 10, state: 'started' });
    plain({ type: 'push', ref, digest: 'sha256:cccccccccccc', bytes: 5, total: 10, state: 'progress' });
    plain({ type: 'push', ref, digest: 'sha256:cccccccccccc', bytes: 10, total: 10, state: 'done' });
    assert.deepEqual(lines, [`#0 pushing ${ref}: cccccccccccc 10 B done`]);
  });
});
