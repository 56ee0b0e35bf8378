/**
 * `.dockerignore` patterns with Docker's exact matching rules (those of
 * moby/patternmatcher, which Docker, BuildKit and the Docker CLI share):
 * Go filepath.Clean on each pattern, `!` exceptions, the last matching
 * pattern decides, a path also matches when a pattern matches one of its
 * parent directories, and `**` spanning directories.
 */
import path from 'node:path';

export class IgnorePatternError extends Error {}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface CompiledPattern {
  readonly text: string;
  readonly exclusion: boolean;
  readonly type: MatchType;
  readonly regexp: RegExp | undefined;
}

/** Go's filepath.Clean for '/'-separated paths. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  let out = path.posix.normalize(p);
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  if (rooted && out.startsWith('/..')) out = '/' + out.replace(/^(\/\.\.)+\/?/, '');
  return out === '' ? '.' : out;
}

/** Go's filepath.Dir: all but the last element (a trailing slash makes an empty last element). */
function goDir(p: string): string {
  const slash = p.lastIndexOf('/');
  return goClean(slash < 0 ? '' : p.slice(0, slash + 1));
}

/** The patterns of a .dockerignore with their line numbers (comments, blanks, BOM and leading `/` handled as Docker does). */
export function parseIgnoreLines(text: string | undefined): { pattern: string; line: number }[] {
  if (text === undefined) return [];
  const out: { pattern: string; line: number }[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('#')) return;
    let pattern = line.trim();
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push({ pattern: invert ? '!' + pattern : pattern, line: i + 1 });
  });
  return out;
}

/** The patterns of a .dockerignore, as ignorefile.ReadAll returns them. */
export function parseIgnoreFile(text: string | undefined): string[] {
  return parseIgnoreLines(text).map((p) => p.pattern);
}

/** Go's filepath.Match syntax check: throws for a malformed pattern. */
export function validateGlob(pattern: string): void {
  const bad = () => new IgnorePatternError(`syntax error in pattern "${pattern}"`);
  const chars = Array.from(pattern);
  const readEscaped = (i: number): number => {
    // One class member starting at i; returns the index after it.
    if (i >= chars.length || chars[i] === '-' || chars[i] === ']') throw bad();
    if (chars[i] === '\\') {
      i++;
      if (i >= chars.length) throw bad();
    }
    i++;
    if (i >= chars.length) throw bad();
    return i;
  };
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '\\') {
      if (++i >= chars.length) throw bad();
    } else if (ch === '[') {
      i++;
      if (chars[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (chars[i] === ']' && ranges > 0) break;
        i = readEscaped(i);
        if (chars[i] === '-') i = readEscaped(i + 1);
        ranges++;
      }
    }
  }
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

function compile(text: string, exclusion: boolean): CompiledPattern {
  let re = '^';
  let type: MatchType = 'exact';
  const chars = Array.from(text);
  for (let i = 0, iter = 0; i < chars.length; i++, iter++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        if (i + 1 >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (iter === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (REGEX_SPECIAL.has(ch)) {
      re += '\\' + ch;
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        re += '\\' + chars[++i];
        type = 'regexp';
      } else re += '\\\\';
    } else if (ch === '[' || ch === ']') {
      re += ch;
      type = 'regexp';
    } else {
      re += ch;
    }
  }
  let regexp: RegExp | undefined;
  if (type === 'regexp') {
    try {
      regexp = new RegExp(re + '$', 'u');
    } catch {
      throw new IgnorePatternError(`syntax error in pattern "${text}"`);
    }
  }
  return { text, exclusion, type, regexp };
}

function matchOne(p: CompiledPattern, file: string): boolean {
  switch (p.type) {
    case 'exact':
      return file === p.text;
    case 'prefix':
      return file.startsWith(p.text.slice(0, -2));
    case 'suffix': {
      const suffix = p.text.slice(2);
      return file.endsWith(suffix) || (suffix.startsWith('/') && file === suffix.slice(1));
    }
    case 'regexp':
      return p.regexp!.test(file);
  }
}

export interface IgnoreMatcher {
  readonly patterns: readonly string[];
  /** True when some pattern is an exception (`!`): excluded directories must then still be walked. */
  readonly hasExclusions: boolean;
  /** Whether a '/'-separated context path is excluded (a parent directory's match counts). */
  ignores(file: string): boolean;
}

/** Compiles patterns; throws IgnorePatternError for a lone `!` or a malformed pattern. */
export function compileIgnore(patterns: readonly string[]): IgnoreMatcher {
  const compiled: CompiledPattern[] = [];
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === '') continue;
    p = goClean(p);
    let exclusion = false;
    if (p.startsWith('!')) {
      if (p.length === 1) throw new IgnorePatternError('illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    validateGlob(p);
    compiled.push(compile(p, exclusion));
  }
  return {
    patterns: compiled.map((c) => (c.exclusion ? '!' : '') + c.text),
    hasExclusions: compiled.some((c) => c.exclusion),
    ignores(file: string): boolean {
      if (compiled.length === 0) return false;
      let matched = false;
      const parent = goDir(file);
      const parentDirs = parent.split('/');
      for (const p of compiled) {
        if (p.exclusion !== matched) continue;
        let match = matchOne(p, file);
        if (!match && parent !== '.') {
          for (let i = 1; i <= parentDirs.length && !match; i++) match = matchOne(p, parentDirs.slice(0, i).join('/'));
        }
        if (match) matched = !p.exclusion;
      }
      return matched;
    },
  };
}
