import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerfileParseError } from '../../lib/errors/index.js';
import { dumpDockerfile, heredocBody, loadDockerfile, parseDockerfile } from '../../lib/dockerfile/index.js';

const dump = (text: string) => dumpDockerfile(parseDockerfile(text));

function parseError(input: string | Uint8Array, load = false): DockerfileParseError {
  try {
    if (load) loadDockerfile(input, { file: 'Dockerfile' });
    else parseDockerfile(input, { file: 'Dockerfile' });
  } catch (e) {
    assert.ok(e instanceof DockerfileParseError, `expected DockerfileParseError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a DockerfileParseError');
}

describe('parser: lines and continuations', () => {
  it('joins continuations, keeps indentation, drops comment and blank lines inside', () => {
    assert.equal(
      dump('FROM a\nRUN echo hello \\\n  world \\\n# a comment\n\n  again\n'),
      '(from "a")\n(run "echo hello   world   again")\n',
    );
  });

  it('accepts whitespace after the continuation character', () => {
    assert.equal(dump('FROM a\nRUN echo a \\  \t\nb\n'), '(from "a")\n(run "echo a b")\n');
  });

  it('treats an escaped escape character at line end as literal', () => {
    assert.equal(dump('FROM a\nRUN echo a\\\\\nRUN b\n'), '(from "a")\n(run "echo a\\\\\\\\")\n(run "b")\n');
  });

  it('ends a continuation at end of file', () => {
    assert.equal(dump('FROM a\nRUN x \\'), '(from "a")\n(run "x")\n');
  });

  it('handles CRLF endings, a BOM and tabs', () => {
    assert.equal(dump('\uFEFFFROM\ta\r\nRUN echo 1 \\\r\n\techo 2\r\n'), '(from "a")\n(run "echo 1 \\techo 2")\n');
  });

  it('switches the escape character with # escape=`', () => {
    const parsed = parseDockerfile('# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\n');
    assert.equal(parsed.escapeToken, '`');
    assert.equal(dumpDockerfile(parsed), '(from "a")\n(run "dir c:\\\\   /w")\n');
  });

  it('reads directives only at the top', () => {
    const parsed = parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a\n# escape=`\nRUN a \\\nb\n');
    assert.deepEqual(parsed.directives, { syntax: 'docker/dockerfile:1', check: 'skip=all' });
    assert.equal(parsed.escapeToken, '\\');
    const late = parseDockerfile('FROM a\n# escape=`\n');
    assert.deepEqual(late.directives, {});
  });

  it('rejects a repeated directive and a bad escape token', () => {
    assert.match(parseError('# escape=`\n# escape=\\\nFROM a\n').message, /only one escape parser directive/);
    const bad = parseError('# escape=x\nFROM a\n');
    assert.match(bad.message, /invalid escape token/);
    assert.equal(bad.line, 1);
  });

  it('keeps start and end lines and columns', () => {
    const parsed = parseDockerfile('\n  FROM a\nRUN one \\\n  two\n\nCOPY x y\n');
    assert.deepEqual(
      parsed.nodes.map((n) => [n.startLine, n.startColumn, n.endLine, n.endColumn]),
      [[2, 3, 2, 8], [3, 1, 4, 5], [6, 1, 6, 8]],
    );
  });

  it('collects the comments directly above an instruction', () => {
    const parsed = parseDockerfile('FROM a\n# install\n# deps\nRUN x\n');
    assert.deepEqual(parsed.nodes[1]!.comments, ['install', 'deps']);
  });

  it('warns about empty continuation lines', () => {
    const parsed = parseDockerfile('FROM a\nRUN a \\\n\n  b\n');
    assert.equal(parsed.warnings.length, 1);
    assert.equal(parsed.warnings[0]!.line, 2);
  });
});

describe('parser: forms and flags', () => {
  it('parses exec form and falls back to shell form on invalid JSON', () => {
    assert.equal(dump('FROM a\nCMD ["a", "b c"]\nCMD [\'a\']\nCMD ["a"\n'), '(from "a")\n(cmd "a" "b c")\n(cmd "[\'a\']")\n(cmd "[\\"a\\"")\n');
  });

  it('rejects JSON that is not an array of strings', () => {
    assert.match(parseError('FROM a\nCMD ["a", 1]\n').message, /only strings/);
  });

  it('separates flags, honours --, and keeps quoted flag values', () => {
    assert.equal(
      dump('FROM a\nCOPY --chown="a b" --link -- --weird /dst\n'),
      '(from "a")\n(copy ["--chown=a b" "--link"] "--weird" "/dst")\n',
    );
  });

  it('splits ENV and LABEL into key, value, separator', () => {
    assert.equal(dump('FROM a\nENV A=1 B="two words"\nLABEL k v w\n'), '(from "a")\n(env "A" "1" "=" "B" "\\"two words\\"" "=")\n(label "k" "v w" "")\n');
  });

  it('rejects ENV with a missing value and a word without =', () => {
    assert.match(parseError('FROM a\nENV PATH\n').message, /ENV must have two arguments/);
    const e = parseError('FROM a\nENV A=1 oops\n');
    assert.match(e.message, /can't find = in "oops"/);
    assert.equal(e.column, 9);
  });

  it('nests ONBUILD triggers', () => {
    assert.equal(dump('FROM a\nONBUILD RUN ["x"]\n'), '(from "a")\n(onbuild (run "x"))\n');
  });
});

describe('parser: heredocs', () => {
  it('reads a RUN heredoc body and ends the node at its terminator', () => {
    const parsed = parseDockerfile('FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN b\n');
    const run = parsed.nodes[1]!;
    assert.deepEqual(run.args, ['<<EOF']);
    assert.equal(run.heredocs.length, 1);
    assert.deepEqual({ ...run.heredocs[0]!, content: heredocBody(run.heredocs[0]!) }, { name: 'EOF', fileDescriptor: 0, expand: true, chomp: false, content: 'echo $HOME\n' });
    assert.equal(run.endLine, 4);
    assert.equal(parsed.nodes[2]!.startLine, 5);
  });

  it('reads several heredocs on one line, in order', () => {
    const parsed = parseDockerfile('FROM a\nCOPY <<one.txt <<two.txt /dst/\n1\none.txt\n2\ntwo.txt\n');
    assert.deepEqual(parsed.nodes[1]!.heredocs.map((h) => [h.name, h.content]), [['one.txt', '1\n'], ['two.txt', '2\n']]);
  });

  it('strips tabs with <<- and turns expansion off for a quoted delimiter', () => {
    const parsed = parseDockerfile('FROM a\nRUN <<-"EOF" 3<<\'X\'\n\tindented\n\tEOF\nx\nX\n');
    const [first, second] = parsed.nodes[1]!.heredocs;
    assert.equal(first!.chomp, true);
    assert.equal(first!.expand, false);
    assert.equal(heredocBody(first!), 'indented\n');
    assert.equal(second!.fileDescriptor, 3);
    assert.equal(second!.expand, false);
  });

  it('does not look for heredocs in exec form or in other instructions', () => {
    const parsed = parseDockerfile('FROM a\nRUN ["cat", "<<EOF"]\nLABEL x=<<EOF\n');
    assert.equal(parsed.nodes[1]!.heredocs.length, 0);
    assert.equal(parsed.nodes.length, 3);
  });

  it('rejects an unterminated heredoc, naming where it opened', () => {
    const e = parseError('FROM a\nRUN <<EOF\necho hi\n');
    assert.match(e.message, /unterminated heredoc/);
    assert.equal(e.line, 2);
    assert.match(e.hint ?? '', /EOF/);
  });
});

describe('parser: bad input', () => {
  it('rejects an empty file and a file of comments', () => {
    assert.match(parseError('').message, /no instructions/);
    assert.match(parseError('# just a comment\n\n').message, /no instructions/);
  });

  it('rejects a binary file', () => {
    const e = parseError(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
    assert.match(e.message, /binary/);
  });

  it('rejects text that is not UTF-8, naming the line', () => {
    const e = parseError(Buffer.concat([Buffer.from('FROM a\nRUN '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
    assert.match(e.message, /UTF-8/);
    assert.equal(e.line, 2);
  });

  it('rejects a 10 MB Dockerfile before parsing it', () => {
    const big = 'FROM a\n' + 'RUN echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n'.repeat(100_000);
    assert.ok(big.length >= 10_000_000);
    assert.match(parseError(big).message, /at most 4 MiB/);
  });

  it('rejects a line longer than BuildKit allows', () => {
    assert.match(parseError('FROM a\nRUN ' + 'x'.repeat(70_000) + '\n').message, /max allowed size/);
  });

  it('rejects an instruction with no arguments, with a usage hint', () => {
    for (const keyword of ['RUN', 'COPY', 'ENV', 'WORKDIR', 'EXPOSE', 'LABEL', 'USER']) {
      const e = parseError(`FROM a\n${keyword}\n`, true);
      assert.equal(e.line, 2, keyword);
      assert.match(e.message, new RegExp(keyword), keyword);
      assert.ok(e.hint, keyword);
    }
  });

  it('rejects an unknown instruction with a suggestion', () => {
    const e = parseError('FROM a\nRUNN echo\n', true);
    assert.equal(e.message, 'unknown instruction: RUNN (did you mean RUN?)');
    assert.deepEqual([e.line, e.column], [2, 1]);
  });
});
