/**
 * Mutation fuzzing of the whole frontend: whatever bytes come in, the only
 * thing that may escape parse → instructions → plan → lint is a
 * DockerfileParseError (which the CLI prints as one clear message).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DockerfileParseError } from '../../lib/errors/index.js';
import { lintDockerfile, loadDockerfile, planBuild } from '../../lib/dockerfile/index.js';
import { conformanceDir, repoRoot } from '../helpers/conformance.js';
import { prng } from '../helpers/prng.js';

const OWN_CORPUS = [
  '# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=alpine\nFROM ${BASE} AS deps\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN --mount=type=cache,target=/root/.npm npm ci\n',
  'FROM a AS one\nRUN <<EOF\necho "$HOME"\nEOF\nCOPY <<-"X" <<Y /dst/\n\tx\n\tX\ny\nY\nFROM one\nCOPY --from=one --chown=1:1 --chmod=0755 /a /b\n',
  'FROM scratch\nENV A=1 B="two words" C=\'q\'\nLABEL a=b "c d"=e\nARG X Y=${A:-z}\nHEALTHCHECK --interval=5s CMD ["true"]\nONBUILD RUN echo hi\n',
  '# escape=`\nFROM mcr/windows\nRUN dir c:\\ `\n  /w\nSHELL ["powershell", "-c"]\nCMD ["a", "b"]\nENTRYPOINT run.sh\n',
  'FROM a\nEXPOSE 80/tcp 443\nVOLUME ["/data", "/logs"]\nUSER app:app\nSTOPSIGNAL SIGTERM\nMAINTAINER me\nWORKDIR ${W:-/w}\nADD --checksum=sha256:aa https://x/y.tgz /y\n',
];

function corpus(): string[] {
  const texts = [...OWN_CORPUS];
  const fixtures = conformanceDir('dockerfile-parser');
  if (fixtures) {
    for (const sub of ['testfiles', 'testfiles-negative']) {
      for (const name of readdirSync(path.join(fixtures, sub))) {
        const file = path.join(fixtures, sub, name, 'Dockerfile');
        if (existsSync(file)) texts.push(readFileSync(file, 'latin1'));
      }
    }
  }
  for (const name of readdirSync(path.join(repoRoot, 'examples'))) {
    const file = path.join(repoRoot, 'examples', name, 'Dockerfile');
    if (existsSync(file)) texts.push(readFileSync(file, 'latin1'));
  }
  return texts;
}

const INTERESTING = ['\\', '`', '$', '${', '}', '{', '"', "'", '<<', '<<-', '[', ']', ',', '=', '--', '\n', '\r\n', '\t', ' ', '#', '\0', '\u00ff', ':', '/', '*'];

function mutate(input: Buffer, rand: () => number): Buffer {
  // Every branch returns a fresh or sliced copy; the seed corpus is never modified.
  const bytes = Buffer.from(input);
  const pick = (n: number) => Math.floor(rand() * n);
  switch (pick(6)) {
    case 0: {
      // Flip a few bytes.
      for (let i = 0, n = 1 + pick(4); i < n && bytes.length; i++) {
        const at = pick(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << pick(8));
      }
      return bytes;
    }
    case 1:
      return bytes.subarray(0, pick(bytes.length + 1));
    case 2: {
      const lines = bytes.toString('latin1').split('\n');
      const i = pick(lines.length);
      lines.splice(i, 0, ...Array(1 + pick(3)).fill(lines[i]));
      return Buffer.from(lines.join('\n'), 'latin1');
    }
    case 3: {
      const lines = bytes.toString('latin1').split('\n');
      lines.splice(pick(lines.length), 1 + pick(2));
      return Buffer.from(lines.join('\n'), 'latin1');
    }
    case 4: {
      const at = pick(bytes.length + 1);
      const token = Buffer.from(INTERESTING[pick(INTERESTING.length)]!, 'latin1');
      return Buffer.concat([bytes.subarray(0, at), token, bytes.subarray(at)]);
    }
    default: {
      const a = pick(bytes.length + 1);
      const b = pick(bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, Math.min(a, b)), bytes.subarray(Math.max(a, b))]);
    }
  }
}

describe('frontend fuzzing', () => {
  it('throws nothing but DockerfileParseError on 10,000 mutated Dockerfiles', () => {
    const seeds = corpus().map((t) => Buffer.from(t, 'latin1'));
    const rand = prng(0x5eed);
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 10_000; i++) {
      let input: Buffer = seeds[i % seeds.length]!;
      for (let m = 0, n = 1 + Math.floor(rand() * 3); m < n; m++) input = mutate(input, rand);
      try {
        const typed = loadDockerfile(input, { file: 'Dockerfile' });
        const plan = planBuild(typed, { buildArgs: { BASE: 'x' } });
        lintDockerfile(typed, plan, { hasIgnoreFile: false, topLevelNames: new Set(['node_modules']) });
        accepted++;
      } catch (e) {
        if (!(e instanceof DockerfileParseError)) {
          assert.fail(`input #${i} threw ${e instanceof Error ? e.stack : String(e)}\n--- input (latin1) ---\n${input.toString('latin1')}`);
        }
        assert.ok(e.line >= 0 && e.column >= 0 && e.message.length > 0, `input #${i}: error without a location`);
        rejected++;
      }
    }
    assert.equal(accepted + rejected, 10_000);
    assert.ok(accepted > 1000 && rejected > 100, `mutations should both pass and fail (accepted ${accepted}, rejected ${rejected})`);
  });
});
