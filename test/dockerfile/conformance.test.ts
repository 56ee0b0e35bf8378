import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DockerfileParseError } from '../../lib/errors/index.js';
import { dumpDockerfile, parseDockerfile } from '../../lib/dockerfile/index.js';
import { conformanceDir, skipReason } from '../helpers/conformance.js';

const root = conformanceDir('dockerfile-parser');

describe('BuildKit parser fixtures', { skip: root ? false : skipReason('dockerfile-parser') }, () => {
  const positive = root ? path.join(root, 'testfiles') : '';
  const negative = root ? path.join(root, 'testfiles-negative') : '';

  for (const name of root ? readdirSync(positive).sort() : []) {
    const dir = path.join(positive, name);
    if (!existsSync(path.join(dir, 'result'))) continue;
    it(`parses ${name} to its result dump`, () => {
      const parsed = parseDockerfile(readFileSync(path.join(dir, 'Dockerfile')), { file: `${name}/Dockerfile` });
      assert.equal(dumpDockerfile(parsed), readFileSync(path.join(dir, 'result'), 'utf8'));
    });
  }

  for (const name of root ? readdirSync(negative).sort() : []) {
    it(`rejects ${name}`, () => {
      const bytes = readFileSync(path.join(negative, name, 'Dockerfile'));
      assert.throws(() => parseDockerfile(bytes, { file: `${name}/Dockerfile` }), DockerfileParseError);
    });
  }

  it('records instruction line spans (testfile-line)', () => {
    const parsed = parseDockerfile(readFileSync(path.join(root!, 'testfile-line', 'Dockerfile')));
    assert.deepEqual(
      parsed.nodes.map((n) => [n.startLine, n.endLine]),
      [[5, 5], [11, 12], [17, 31]],
    );
  });
});
