/**
 * Word expansion as BuildKit's shell lexer performs it on Dockerfile words
 * (not on RUN commands, which the shell expands at run time): quotes, the
 * escape character, `$A`, `${A}` and the modifiers `:- - :+ + :? ? # ## % %% / //`.
 */
import { isSpace } from './text.js';

export type EnvLookup = (name: string) => string | undefined;

export interface LexOptions {
  /** `\` or a backtick, from the `# escape=` directive. */
  readonly escapeToken?: string;
  /** Keep quote characters in the result (used to find heredoc words). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Leave `$NAME` untouched when NAME is unset instead of expanding to "". */
  readonly skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies). */
  readonly skipProcessQuotes?: boolean;
}

export interface Expansion {
  readonly value: string;
  /** Every word split as the shell would (for instructions taking several words). */
  readonly words: string[];
  /** Names that were referenced and set. */
  readonly used: ReadonlySet<string>;
  /** Names that were referenced but not set. */
  readonly unset: ReadonlySet<string>;
}

export type ExpansionResult = { ok: true; expansion: Expansion } | { ok: false; error: string };

class LexFailure {
  constructor(readonly message: string) {}
}

const EOF = '';

class WordCollector {
  words: string[] = [];
  word = '';
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.word.length > 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  addRaw(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

interface LexState {
  readonly chars: string[];
  pos: number;
  readonly env: EnvLookup;
  readonly escape: string;
  readonly rawQuotes: boolean;
  rawEscapes: boolean;
  readonly skipUnset: boolean;
  readonly quotes: boolean;
  readonly used: Set<string>;
  readonly unset: Set<string>;
}

function peek(st: LexState): string {
  return st.pos < st.chars.length ? st.chars[st.pos]! : EOF;
}

function next(st: LexState): string {
  return st.pos < st.chars.length ? st.chars[st.pos++]! : EOF;
}

function lookup(st: LexState, name: string): string | undefined {
  const value = st.env(name);
  if (value === undefined) st.unset.add(name);
  else st.used.add(name);
  return value;
}

/** Reads until one of `stops` (consumed and returned) or the end of input. */
function processUntil(
  st: LexState,
  stops: readonly string[],
  rawEscapesInside: boolean,
): { value: string; words: string[]; stoppedAt: string } {
  let result = '';
  const words = new WordCollector();
  const savedRaw = st.rawEscapes;
  if (stops.length > 0) st.rawEscapes = rawEscapesInside;
  try {
    while (peek(st) !== EOF) {
      const ch = peek(st);
      if (stops.includes(ch)) {
        next(st);
        return { value: result, words: words.finish(), stoppedAt: ch };
      }
      if (ch === '$') {
        const v = processDollar(st);
        result += v;
        words.addString(v);
      } else if (ch === "'" && st.quotes) {
        const v = processSingleQuote(st);
        result += v;
        words.addRaw(v);
      } else if (ch === '"' && st.quotes) {
        const v = processDoubleQuote(st);
        result += v;
        words.addRaw(v);
      } else {
        let c = next(st);
        if (c === st.escape) {
          if (st.rawEscapes) {
            words.addRaw(c);
            result += c;
          }
          c = next(st);
          if (c === EOF) break;
          words.addRaw(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
  } finally {
    st.rawEscapes = savedRaw;
  }
  if (stops.length > 0) {
    throw new LexFailure(`unexpected end of statement while looking for matching ${stops.join(' or ')}`);
  }
  return { value: result, words: words.finish(), stoppedAt: EOF };
}

/** processUntil inside `${...}`: running out of input means the `}` is missing. */
function untilClosing(st: LexState, stops: readonly string[], rawEscapes: boolean): ReturnType<typeof processUntil> {
  try {
    return processUntil(st, stops, rawEscapes);
  } catch (e) {
    if (e instanceof LexFailure && peek(st) === EOF) throw new LexFailure("syntax error: missing '}'");
    throw e;
  }
}

function processSingleQuote(st: LexState): string {
  let result = '';
  const open = next(st);
  if (st.rawQuotes) result += open;
  for (;;) {
    const ch = next(st);
    if (ch === EOF) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
    if (ch === "'") {
      if (st.rawQuotes) result += ch;
      return result;
    }
    result += ch;
  }
}

function processDoubleQuote(st: LexState): string {
  let result = '';
  const open = next(st);
  if (st.rawQuotes) result += open;
  for (;;) {
    const ch = peek(st);
    if (ch === EOF) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
    if (ch === '"') {
      next(st);
      if (st.rawQuotes) result += ch;
      return result;
    }
    if (ch === '$') {
      result += processDollar(st);
      continue;
    }
    let c = next(st);
    if (c === st.escape) {
      if (st.rawEscapes) result += c;
      const after = peek(st);
      if (after === EOF) continue;
      if (after === '"' || after === '$' || after === st.escape) c = next(st);
    }
    result += c;
  }
}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

function isNameChar(ch: string): boolean {
  return ch === '_' || /[\p{L}\p{Nd}]/u.test(ch);
}

function processName(st: LexState): string {
  let name = '';
  while (peek(st) !== EOF) {
    const ch = peek(st);
    if (name.length === 0 && /\p{Nd}/u.test(ch)) {
      while (peek(st) !== EOF && /\p{Nd}/u.test(peek(st))) name += next(st);
      return name;
    }
    if (name.length === 0 && SPECIAL_PARAMS.has(ch)) return next(st);
    if (!isNameChar(ch)) break;
    name += next(st);
  }
  return name;
}

function processDollar(st: LexState): string {
  next(st); // '$'
  if (peek(st) !== '{') {
    const name = processName(st);
    if (name === '') return '$';
    const value = lookup(st, name);
    if (value === undefined && st.skipUnset) return '$' + name;
    return value ?? '';
  }
  next(st); // '{'
  const first = peek(st);
  if (first === EOF) throw new LexFailure("syntax error: missing '}'");
  if (first === '{' || first === '}' || first === ':') throw new LexFailure('syntax error: bad substitution');
  const name = processName(st);
  let ch = next(st);
  let modifier = ch;
  switch (ch) {
    case '}': {
      const value = lookup(st, name);
      if (value === undefined && st.skipUnset) return '${' + name + '}';
      return value ?? '';
    }
    case ':':
    case '+':
    case '-':
    case '?':
    case '#':
    case '%': {
      const nullIsUnset = ch === ':';
      if (nullIsUnset) {
        ch = next(st);
        modifier += ch;
      }
      const trims = ch === '#' || ch === '%';
      if (nullIsUnset && !['+', '-', '?'].includes(ch)) {
        throw new LexFailure(`unsupported modifier (${modifier}) in substitution`);
      }
      const word = untilClosing(st, ['}'], trims).value;
      // A default, alternative or error message covers the unset case, so
      // only the trimming modifiers count an unset name as a problem.
      const value = trims ? lookup(st, name) : st.env(name);
      if (!trims && value !== undefined) st.used.add(name);
      if (value === undefined && st.skipUnset) return '${' + name + modifier + word + '}';
      const isUnset = value === undefined || (nullIsUnset && value === '');
      switch (ch) {
        case '-':
          return isUnset ? word : value!;
        case '+':
          return isUnset ? '' : word;
        case '?':
          if (value === undefined) throw new LexFailure(`${name}: ${word || 'is not allowed to be unset'}`);
          if (nullIsUnset && value === '') throw new LexFailure(`${name}: ${word || 'is not allowed to be empty'}`);
          return value;
        default: {
          const greedy = word.startsWith(ch);
          const pattern = greedy ? word.slice(1) : word;
          return ch === '%' ? trimSuffix(value ?? '', pattern, greedy) : trimPrefix(value ?? '', pattern, greedy);
        }
      }
    }
    case '/': {
      const replaceAll = peek(st) === '/';
      if (replaceAll) next(st);
      const { value: pattern, stoppedAt } = untilClosing(st, ['/', '}'], true);
      const replacement = stoppedAt === '/' ? untilClosing(st, ['}'], true).value : '';
      const value = lookup(st, name);
      if (value === undefined && st.skipUnset) return '${' + name + '/' + pattern + '/' + replacement + '}';
      return replacePattern(value ?? '', pattern, replacement, replaceAll);
    }
    case EOF:
      throw new LexFailure("syntax error: missing '}'");
    default:
      throw new LexFailure(`unsupported modifier (${modifier}) in substitution`);
  }
}

/** A shell glob (`*`, `?`, `[...]`, `\x`) as a regular-expression source. */
export function shellPatternToRegex(pattern: string): string {
  let out = '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') out += '[\\s\\S]*';
    else if (ch === '?') out += '[\\s\\S]';
    else if (ch === '\\' && i + 1 < chars.length) out += escapeRegex(chars[++i]!);
    else if (ch === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, close);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      out += '[' + (negate ? '^' : '') + body.map((c) => (c === '\\' || c === ']' || c === '[' ? '\\' + c : c)).join('') + ']';
      i = close;
    } else out += escapeRegex(ch);
  }
  return out;
}

function escapeRegex(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? '\\' + ch : ch;
}

function compile(pattern: string, source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch {
    throw new LexFailure(`invalid pattern (${pattern}) in substitution`);
  }
}

function fullMatcher(pattern: string): RegExp {
  return compile(pattern, '^(?:' + shellPatternToRegex(pattern) + ')$', 'u');
}

function trimPrefix(value: string, pattern: string, greedy: boolean): string {
  const re = fullMatcher(pattern);
  const chars = Array.from(value);
  const order = greedy ? range(chars.length, -1) : range(0, chars.length + 1);
  for (const i of order) {
    if (re.test(chars.slice(0, i).join(''))) return chars.slice(i).join('');
  }
  return value;
}

function trimSuffix(value: string, pattern: string, greedy: boolean): string {
  const re = fullMatcher(pattern);
  const chars = Array.from(value);
  const order = greedy ? range(0, chars.length + 1) : range(chars.length, -1);
  for (const i of order) {
    if (re.test(chars.slice(i).join(''))) return chars.slice(0, i).join('');
  }
  return value;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  if (from <= to) for (let i = from; i < to; i++) out.push(i);
  else for (let i = from; i > to; i--) out.push(i);
  return out;
}

function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  if (pattern === '') return value;
  const re = compile(pattern, shellPatternToRegex(pattern), all ? 'gu' : 'u');
  return value.replace(re, () => replacement);
}

function run(source: string, env: EnvLookup, options: LexOptions): ExpansionResult {
  const st: LexState = {
    chars: Array.from(source),
    pos: 0,
    env,
    escape: options.escapeToken ?? '\\',
    rawQuotes: options.rawQuotes ?? false,
    rawEscapes: options.rawEscapes ?? false,
    skipUnset: options.skipUnsetEnv ?? false,
    quotes: !(options.skipProcessQuotes ?? false),
    used: new Set(),
    unset: new Set(),
  };
  try {
    const { value, words } = processUntil(st, [], false);
    return { ok: true, expansion: { value, words, used: st.used, unset: st.unset } };
  } catch (e) {
    if (e instanceof LexFailure) return { ok: false, error: `failed to process "${source}": ${e.message}` };
    throw e;
  }
}

/** Expands one word: quotes removed, variables substituted. */
export function expandWord(source: string, env: EnvLookup, options: LexOptions = {}): ExpansionResult {
  return run(source, env, options);
}

/** An environment lookup over a plain map. */
export function envFrom(map: ReadonlyMap<string, string> | Record<string, string>): EnvLookup {
  if (map instanceof Map) return (name) => map.get(name);
  const rec = map as Record<string, string>;
  return (name) => (Object.prototype.hasOwnProperty.call(rec, name) ? rec[name] : undefined);
}

export const emptyEnv: EnvLookup = () => undefined;
