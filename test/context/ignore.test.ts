import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { compileIgnore, goClean, IgnorePatternError, parseIgnoreFile } from '../../lib/context/index.js';
import { conformanceDir, skipReason } from '../helpers/conformance.js';

const dir = conformanceDir('dockerignore');

interface Case { pattern?: string; patterns?: string[]; path: string; match: boolean; error?: string | boolean | null; posixOnly?: boolean }
type Cases = Record<string, { cases: Case[]; patternListChecks?: unknown[] }> & Record<string, unknown>;

/**
 * MatchesOrParentMatches as the conformance tables call it: the matcher's
 * method on the path as given, or the package function that first cleans it
 * and never matches "."; a pattern error counts as no match.
 */
function matches(patterns: string[], file: string, packageLevel: boolean): { match: boolean; error: boolean } {
  try {
    const matcher = compileIgnore(patterns);
    if (packageLevel && goClean(file) === '.') return { match: false, error: false };
    return { match: matcher.ignores(packageLevel ? goClean(file) : file), error: false };
  } catch (e) {
    if (e instanceof IgnorePatternError) return { match: false, error: true };
    throw e;
  }
}

describe('.dockerignore conformance (moby/patternmatcher)', { skip: dir ? false : skipReason('dockerignore') }, () => {
  const data = dir ? (JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8')) as Cases) : ({} as Cases);

  for (const section of ['single', 'multi', 'glob', 'behaviour'] as const) {
    it(`passes every "${section}" case`, () => {
      const failures: string[] = [];
      for (const c of data[section]!.cases) {
        const patterns = c.patterns ?? [c.pattern!];
        const got = matches(patterns, c.path, section === 'glob' || section === 'behaviour');
        const wantError = c.error === true || c.error === 'ErrBadPattern';
        if (got.match !== c.match || got.error !== wantError) {
          failures.push(`${JSON.stringify(patterns)} vs ${JSON.stringify(c.path)}: got match=${got.match} error=${got.error}, want match=${c.match} error=${wantError}`);
        }
      }
      assert.deepEqual(failures, []);
    });
  }

  it('parses .dockerignore files as ignorefile.ReadAll does', () => {
    for (const c of (data.ignorefile as unknown as { cases: { input: string | null; expected: string[] }[] }).cases) {
      assert.deepEqual(parseIgnoreFile(c.input ?? undefined), c.expected);
    }
  });
});

describe('.dockerignore matching', () => {
  it('excludes a directory and everything below it, with exceptions', () => {
    const m = compileIgnore(parseIgnoreFile('node_modules\n*.log\n!keep.log\ndocs/**\n!docs/README.md\n'));
    assert.equal(m.ignores('node_modules/a/b.js'), true);
    assert.equal(m.ignores('app.log'), true);
    assert.equal(m.ignores('keep.log'), false);
    assert.equal(m.ignores('src/app.log'), false);
    assert.equal(m.ignores('docs/guide.md'), true);
    assert.equal(m.ignores('docs/README.md'), false);
    assert.equal(m.hasExclusions, true);
  });

  it('matches ** across directories and cleans patterns', () => {
    const m = compileIgnore(['**/*.tmp', './build/', '/abs']);
    assert.equal(m.ignores('a/b/c.tmp'), true);
    assert.equal(m.ignores('c.tmp'), true);
    assert.equal(m.ignores('build/out.js'), true);
    assert.equal(m.ignores('abs'), false);
    assert.equal(compileIgnore(parseIgnoreFile('/abs\n')).ignores('abs'), true);
  });

  it('parses comments, blank lines, CRLF and a BOM', () => {
    assert.deepEqual(parseIgnoreFile('\uFEFF# c\r\n\r\n  spaced  \r\n !x\r\n  # not a comment\n'), ['spaced', '!x', '# not a comment']);
  });

  it('rejects a lone ! and malformed patterns', () => {
    assert.throws(() => compileIgnore(['!']), /illegal exclusion pattern/);
    for (const bad of ['[', 'a[', '[]a]', '[-]', '[x-]', 'a\\']) assert.throws(() => compileIgnore([bad]), IgnorePatternError, bad);
  });

  it('cleans paths as Go does', () => {
    assert.deepEqual(['', 'a/', 'a//b', './a', 'a/../..', '/..', '/a/./b/'].map(goClean), ['.', 'a', 'a/b', 'a', '..', '/', '/a/b']);
  });
});
