/**
 * How each instruction's argument text is split into words, exactly as
 * BuildKit's parser does it. Pure functions on one logical line.
 */
import { INLINE_WHITESPACE, isSpace, splitOnce, trimLeftSpace } from './text.js';

/** A syntax problem found inside one logical line; the parser adds the location. */
export class LineSyntaxError {
  constructor(
    readonly message: string,
    readonly hint?: string,
    /** Text to point at within the line, when more precise than the keyword. */
    readonly near?: string,
  ) {}
}

export interface SplitArgs {
  readonly args: string[];
  readonly json: boolean;
}

const NONE: SplitArgs = { args: [], json: false };

/**
 * Leading `--flag` words. A bare `--` ends them; quotes inside a flag word
 * group and are removed; a backslash escapes the next character.
 */
export function extractBuilderFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  while (pos < line.length) {
    while (pos < line.length && isSpace(line[pos]!)) pos++;
    if (pos >= line.length) return { rest: '', flags };
    if (!(line[pos] === '-' && line[pos + 1] === '-')) return { rest: line.slice(pos), flags };
    let word = '';
    let quote = '';
    let blankOK = false;
    for (; pos < line.length; pos++) {
      const ch = line[pos]!;
      if (quote) {
        if (ch === quote) {
          quote = '';
          continue;
        }
        if (ch === '\\') {
          if (pos + 1 === line.length) {
            quote = '';
            continue;
          }
          word += line[++pos];
          continue;
        }
        word += ch;
        continue;
      }
      if (isSpace(ch)) break;
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        word += line[++pos];
        continue;
      }
      word += ch;
    }
    if (word === '--') return { rest: pos >= line.length ? '' : line.slice(pos), flags };
    if (blankOK || word.length > 0) flags.push(word);
  }
  return { rest: '', flags };
}

/**
 * Words of ARG, ENV and LABEL: split on whitespace outside quotes; quotes and
 * escapes are kept in the word (the word expander removes them later).
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOK = false;
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i]!;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote) {
      if (ch === quote) quote = '';
      if (ch === escapeToken && quote !== "'" && ch !== quote) {
        if (i + 1 === chars.length) continue;
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    if (isSpace(ch)) {
      if (blankOK || word.length > 0) words.push(word);
      word = '';
      blankOK = false;
      inWord = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOK = true;
    }
    if (ch === escapeToken) {
      if (i + 1 === chars.length) continue;
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOK || word.length > 0)) words.push(word);
  return words;
}

function splitWhitespace(rest: string): SplitArgs {
  if (rest === '') return NONE;
  return { args: rest.split(INLINE_WHITESPACE), json: false };
}

/** `[ "a", "b" ]`; undefined when the text is not valid JSON (shell form then). */
function parseJSONArray(rest: string): SplitArgs | undefined {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v): v is string => typeof v === 'string')) {
    throw new LineSyntaxError(
      'the JSON array must contain only strings',
      'write exec form as a flat list of strings, e.g. ["echo", "hello"]',
    );
  }
  return { args: value, json: true };
}

export const lineParsers = {
  /** RUN, CMD, ENTRYPOINT, SHELL: exec form if valid JSON, else the whole text. */
  maybeJSON(rest: string): SplitArgs {
    if (rest === '') return NONE;
    return parseJSONArray(rest) ?? { args: [rest], json: false };
  },
  /** COPY, ADD, VOLUME: exec form if valid JSON, else whitespace-separated. */
  maybeJSONToList(rest: string): SplitArgs {
    return parseJSONArray(rest) ?? splitWhitespace(rest);
  },
  whitespaceDelimited: splitWhitespace,
  string(rest: string): SplitArgs {
    return rest === '' ? NONE : { args: [rest], json: false };
  },
  nameOrNameVal(rest: string, escapeToken: string): SplitArgs {
    return { args: parseWords(rest, escapeToken), json: false };
  },
  healthcheck(rest: string): SplitArgs {
    let sep = 0;
    while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
    if (sep === 0) return NONE;
    const type = rest.slice(0, sep);
    const command = lineParsers.maybeJSON(trimLeftSpace(rest.slice(sep)));
    return { args: [type, ...command.args], json: command.json };
  },
  nameVal(keyword: 'ENV' | 'LABEL', rest: string, escapeToken: string): SplitArgs {
    const words = parseWords(rest, escapeToken);
    if (words.length === 0) return NONE;
    if (!words[0]!.includes('=')) {
      const parts = splitOnce(rest, INLINE_WHITESPACE);
      if (parts.length < 2 || parts[1] === '') {
        throw new LineSyntaxError(
          `${keyword} must have two arguments`,
          `write ${keyword} ${parts[0]}=VALUE (or ${keyword} ${parts[0]} VALUE)`,
        );
      }
      return { args: [parts[0], parts[1]!, ''], json: false };
    }
    const args: string[] = [];
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        throw new LineSyntaxError(
          `Syntax error - can't find = in "${word}". Must be of the form: name=value`,
          `quote a value that contains spaces: ${keyword} NAME="a b"`,
          word,
        );
      }
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return { args, json: false };
  },
};
