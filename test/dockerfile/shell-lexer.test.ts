import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envFrom, expandWord } from '../../lib/dockerfile/index.js';

const env = envFrom({ A: 'apple', EMPTY: '', PATHY: '/usr/local/bin/node', FILE: 'archive.tar.gz', SP: 'a b' });

function x(word: string, options = {}): string {
  const r = expandWord(word, env, options);
  if (!r.ok) throw new Error(r.error);
  return r.expansion.value;
}

function fails(word: string): string {
  const r = expandWord(word, env);
  assert.equal(r.ok, false, `expected ${word} to fail`);
  return r.ok ? '' : r.error;
}

describe('word expansion (BuildKit shell lexer)', () => {
  it('substitutes $A and ${A}, unset as empty', () => {
    assert.equal(x('$A'), 'apple');
    assert.equal(x('${A}pie'), 'applepie');
    assert.equal(x('x${NOPE}y'), 'xy');
    assert.equal(x('$NOPE'), '');
    assert.equal(x('cost: $'), 'cost: $');
  });

  it('applies default and alternative modifiers with and without the colon', () => {
    assert.equal(x('${NOPE:-dflt}'), 'dflt');
    assert.equal(x('${EMPTY:-dflt}'), 'dflt');
    assert.equal(x('${EMPTY-dflt}'), '');
    assert.equal(x('${NOPE-dflt}'), 'dflt');
    assert.equal(x('${A:-dflt}'), 'apple');
    assert.equal(x('${A:+alt}'), 'alt');
    assert.equal(x('${EMPTY:+alt}'), '');
    assert.equal(x('${EMPTY+alt}'), 'alt');
    assert.equal(x('${NOPE+alt}'), '');
    assert.equal(x('${NOPE:-$A}'), 'apple');
  });

  it('fails ${A:?msg} and ${A?msg} with the message', () => {
    assert.match(fails('${NOPE:?must be set}'), /NOPE: must be set/);
    assert.match(fails('${EMPTY:?}'), /EMPTY: is not allowed to be empty/);
    assert.match(fails('${NOPE?}'), /NOPE: is not allowed to be unset/);
    assert.equal(x('${EMPTY?oops}'), '');
    assert.equal(x('${A:?oops}'), 'apple');
  });

  it('trims shortest and longest prefixes and suffixes', () => {
    assert.equal(x('${PATHY#*/}'), 'usr/local/bin/node');
    assert.equal(x('${PATHY##*/}'), 'node');
    assert.equal(x('${FILE%.*}'), 'archive.tar');
    assert.equal(x('${FILE%%.*}'), 'archive');
    assert.equal(x('${FILE#nomatch}'), 'archive.tar.gz');
    assert.equal(x('${A%[lp]e}'), 'app');
  });

  it('replaces the first or every match', () => {
    assert.equal(x('${A/p/P}'), 'aPple');
    assert.equal(x('${A//p/P}'), 'aPPle');
    assert.equal(x('${A/p*/X}'), 'aX');
    assert.equal(x('${A/p}'), 'aple');
    assert.equal(x('${A/a/-}'), '-pple');
    assert.equal(x('${FILE//[.]/-}'), 'archive-tar-gz');
  });

  it('rejects a pattern that cannot be compiled instead of crashing', () => {
    assert.match(fails('${A/[z-a]/x}'), /invalid pattern/);
  });

  it('handles quotes and escapes as a shell would', () => {
    assert.equal(x("'$A'"), '$A');
    assert.equal(x('"$A"'), 'apple');
    assert.equal(x('"a\\"b"'), 'a"b');
    assert.equal(x('\\$A'), '$A');
    assert.equal(x('"\\$A"'), '$A');
    assert.equal(x('"\\x"'), '\\x');
    assert.equal(x('a\\ b'), 'a b');
    assert.equal(x('`$A', { escapeToken: '`' }), '$A');
  });

  it('splits words and keeps quoted spaces together', () => {
    const r = expandWord('one "two three" $SP', env);
    assert.ok(r.ok);
    assert.deepEqual(r.expansion.words, ['one', 'two three', 'a', 'b']);
  });

  it('reports which variables were unset, except where a default covers them', () => {
    const r = expandWord('$NOPE ${ALSO} ${COVERED:-x} $A', env);
    assert.ok(r.ok);
    assert.deepEqual([...r.expansion.unset].sort(), ['ALSO', 'NOPE']);
    assert.deepEqual([...r.expansion.used], ['A']);
  });

  it('rejects malformed substitutions', () => {
    assert.match(fails('${A'), /missing '}'/);
    assert.match(fails('${}'), /bad substitution/);
    assert.match(fails('${:x}'), /bad substitution/);
    assert.match(fails('${A:#x}'), /unsupported modifier/);
    assert.match(fails('${A!}'), /unsupported modifier/);
    assert.match(fails('"open'), /double-quote/);
    assert.match(fails("'open"), /single-quote/);
  });
});
