/**
 * Dockerfile text → syntax tree, line for line what BuildKit's parser does:
 * parser directives at the top, the escape character, line continuations
 * (with comment and blank lines inside them), heredoc bodies, and one node
 * per instruction with its position. Instruction semantics live in
 * instructions.ts; this file only knows the shape of lines.
 */
import { DockerfileParseError } from '../errors/index.js';
import type { Directives, Heredoc, InstructionNode, ParsedDockerfile, ParseWarning } from './ast.js';
import { LineSyntaxError, extractBuilderFlags, lineParsers, type SplitArgs } from './line-parsers.js';
import { expandWord, emptyEnv } from './shell-lexer.js';
import { INLINE_WHITESPACE, splitOnce, trimLeftSpace, trimSpace } from './text.js';

/** Longest line BuildKit's scanner accepts. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Dockerfiles larger than this are refused before parsing: no real one comes near it. */
export const MAX_DOCKERFILE_BYTES = 4 * 1024 * 1024;

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const HEREDOC_COMMANDS = new Set(['add', 'copy', 'run']);

export interface ParseOptions {
  /** Name used in error messages and positions. */
  readonly file?: string;
}

interface SourceLine {
  /** The line without its ending. */
  readonly text: string;
  /** The line with its ending as read (heredoc bodies keep it). */
  readonly raw: string;
}

function splitLines(text: string): SourceLine[] {
  const lines: SourceLine[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    const raw = text.slice(start, end);
    lines.push({ raw, text: raw.replace(/[\r\n]+$/, '') });
    start = end;
  }
  return lines;
}

function continuationPattern(escape: string): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes the file and refuses what is not a Dockerfile at all. */
export function decodeDockerfile(source: string | Uint8Array, file: string): string {
  const where = { file, line: 0, column: 0 };
  const size = typeof source === 'string' ? Buffer.byteLength(source) : source.byteLength;
  if (size > MAX_DOCKERFILE_BYTES) {
    throw new DockerfileParseError(
      `${file} is ${(size / 1024 / 1024).toFixed(1)} MiB; a Dockerfile may be at most ${MAX_DOCKERFILE_BYTES / 1024 / 1024} MiB`,
      where,
      { hint: 'check that -f names the Dockerfile and not a data file' },
    );
  }
  let text: string;
  if (typeof source === 'string') {
    text = source;
  } else {
    try {
      text = UTF8.decode(source);
    } catch {
      const bad = firstInvalidUtf8Line(source);
      throw new DockerfileParseError(`${file} is not UTF-8 text`, { file, line: bad, column: 0 }, {
        hint: 'a Dockerfile is a text file; check that -f names the right file, or re-save it as UTF-8',
      });
    }
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const line = text.slice(0, nul).split('\n').length;
    throw new DockerfileParseError(`${file} is a binary file (it contains a NUL byte)`, { file, line, column: 0 }, {
      hint: 'check that -f names the Dockerfile',
    });
  }
  return text;
}

function firstInvalidUtf8Line(bytes: Uint8Array): number {
  let line = 1;
  let start = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
  }
  return 0;
}

function splitCommand(line: string): { keyword: string; flags: string[]; rest: string } {
  const parts = splitOnce(trimSpace(line), INLINE_WHITESPACE);
  if (parts.length === 1) return { keyword: parts[0], flags: [], rest: '' };
  const { rest, flags } = extractBuilderFlags(parts[1]);
  return { keyword: parts[0], flags, rest: trimSpace(rest) };
}

function splitArgs(command: string, rest: string, escapeToken: string): SplitArgs {
  switch (command) {
    case 'add':
    case 'copy':
    case 'volume':
      return lineParsers.maybeJSONToList(rest);
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return lineParsers.maybeJSON(rest);
    case 'arg':
      return lineParsers.nameOrNameVal(rest, escapeToken);
    case 'env':
      return lineParsers.nameVal('ENV', rest, escapeToken);
    case 'label':
      return lineParsers.nameVal('LABEL', rest, escapeToken);
    case 'expose':
    case 'from':
      return lineParsers.whitespaceDelimited(rest);
    case 'healthcheck':
      return lineParsers.healthcheck(rest);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return lineParsers.string(rest);
    default:
      // Unknown keywords parse to nothing here; instructions.ts rejects them
      // with a suggestion, as BuildKit's instruction layer does.
      return { args: [], json: false };
  }
}

type NodeShape = Omit<InstructionNode, 'startLine' | 'startColumn' | 'endLine' | 'endColumn' | 'heredocs' | 'comments'>;

function nodeFromLine(line: string, escapeToken: string): NodeShape {
  const { keyword, flags, rest } = splitCommand(line);
  const command = keyword.toLowerCase();
  let trigger: InstructionNode | undefined;
  let split: SplitArgs;
  if (command === 'onbuild') {
    split = { args: [], json: false };
    if (rest !== '') {
      const inner = nodeFromLine(rest, escapeToken);
      trigger = { ...inner, startLine: 0, startColumn: 0, endLine: 0, endColumn: 0, heredocs: [], comments: [] };
    }
  } else {
    split = splitArgs(command, rest, escapeToken);
  }
  return { keyword, command, flags, args: split.args, json: split.json, trigger, original: line };
}

function canContainHeredoc(node: NodeShape): boolean {
  const target = node.command === 'onbuild' && node.trigger ? node.trigger : node;
  return HEREDOC_COMMANDS.has(target.command) && !target.json;
}

/** One heredoc opener (`<<EOF`, `<<-"EOF"`, `3<<EOF`) or undefined. */
export function parseHeredocWord(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === '') return undefined;
  const rest = m[3]!;
  const plain = expandWord(rest, emptyEnv, { skipUnsetEnv: true });
  if (!plain.ok) throw new LineSyntaxError(plain.error, undefined, word);
  if (plain.expansion.words.length !== 1) return undefined;
  const raw = expandWord(rest, emptyEnv, { skipUnsetEnv: true, rawQuotes: true });
  if (!raw.ok) throw new LineSyntaxError(raw.error, undefined, word);
  const name = plain.expansion.words[0]!;
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return {
    name,
    fileDescriptor: m[1] ? Number(m[1]) : 0,
    expand: quotes(name) === quotes(raw.expansion.words[0] ?? ''),
    chomp: m[2] === '-',
  };
}

function heredocOpeners(line: string): Omit<Heredoc, 'content'>[] {
  const words = expandWord(line, emptyEnv, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  if (!words.ok) return [];
  const out: Omit<Heredoc, 'content'>[] = [];
  for (const word of words.expansion.words) {
    const doc = parseHeredocWord(word);
    if (doc) out.push(doc);
  }
  return out;
}

function columnOf(lines: readonly SourceLine[], startLine: number, endLine: number, near: string | undefined): { line: number; column: number } | undefined {
  if (!near) return undefined;
  for (let n = startLine; n <= endLine; n++) {
    const idx = lines[n - 1]?.text.indexOf(near) ?? -1;
    if (idx >= 0) return { line: n, column: idx + 1 };
  }
  return undefined;
}

/** Parses Dockerfile text into instruction nodes. Throws DockerfileParseError. */
export function parseDockerfile(source: string | Uint8Array, options: ParseOptions = {}): ParsedDockerfile {
  const file = options.file ?? 'Dockerfile';
  let text = decodeDockerfile(source, file);
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const lines = splitLines(text);

  let escapeToken = '\\';
  let continuation = continuationPattern(escapeToken);
  const directives: { syntax?: string; escape?: string; check?: string } = {};
  let directivesDone = false;

  const fail = (message: string, line: number, column: number, extra: { endLine?: number; text?: string; hint?: string } = {}): never => {
    throw new DockerfileParseError(message, { file, line, column, endLine: extra.endLine ?? line, text: extra.text }, { hint: extra.hint });
  };

  const seeDirective = (token: string, lineNo: number): void => {
    if (directivesDone) return;
    const m = DIRECTIVE.exec(token);
    const name = m?.[1]?.toLowerCase();
    if (!m || !name || !KNOWN_DIRECTIVES.has(name)) {
      directivesDone = true;
      return;
    }
    if (name in directives) {
      fail(`only one ${name} parser directive can be used`, lineNo, 1, { text: token, hint: 'remove the repeated directive' });
    }
    const value = m[2]!;
    if (name === 'escape') {
      if (value !== '`' && value !== '\\') {
        fail(`invalid escape token '${value}' does not match \` or \\`, lineNo, 1, { text: token, hint: 'use # escape=\\ or # escape=`' });
      }
      escapeToken = value;
      continuation = continuationPattern(value);
    }
    directives[name as keyof typeof directives] = value;
  };

  /** processLine: newline trimmed, optionally left-trimmed, comments blanked. */
  const processLine = (raw: string, stripLeft: boolean, lineNo: number): string => {
    const token = stripLeft ? trimLeftSpace(raw) : raw;
    seeDirective(token, lineNo);
    return token.startsWith('#') ? '' : token;
  };
  const isComment = (s: string) => trimLeftSpace(s).startsWith('#');

  const nodes: InstructionNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const lineNo = ++i;
    if (first.raw.length > MAX_LINE_BYTES) {
      fail(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, lineNo, 1, { hint: 'split the line with continuations' });
    }
    if (isComment(first.text)) {
      const comment = trimSpace(trimLeftSpace(first.text).slice(1));
      comments.push(comment);
    }
    const token = processLine(first.text, true, lineNo);
    let joined = token;
    let ended = !continuation.test(joined);
    if (!ended) joined = joined.replace(continuation, '$1');
    if (ended && joined === '') {
      if (trimSpace(first.text) === '') comments = [];
      continue;
    }
    const startLine = lineNo;
    const startColumn = first.text.length - trimLeftSpace(first.text).length + 1;
    let hasEmptyContinuation = false;
    while (!ended && i < lines.length) {
      const line = lines[i]!;
      const n = ++i;
      if (line.raw.length > MAX_LINE_BYTES) {
        fail(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, n, 1, { hint: 'split the line with continuations' });
      }
      const part = processLine(line.text, false, n);
      if (isComment(line.text)) continue;
      if (trimLeftSpace(part) === '') {
        hasEmptyContinuation = true;
        continue;
      }
      ended = !continuation.test(part);
      joined += ended ? part : part.replace(continuation, '$1');
    }
    let endLine = i;
    if (hasEmptyContinuation) {
      warnings.push({ line: startLine, message: `empty continuation line found in: ${joined}` });
    }

    let shape: NodeShape;
    try {
      shape = nodeFromLine(joined, escapeToken);
    } catch (e) {
      if (!(e instanceof LineSyntaxError)) throw e;
      const at = columnOf(lines, startLine, endLine, e.near);
      return fail(e.message, at?.line ?? startLine, at?.column ?? startColumn, { endLine, text: e.near ?? joined, hint: e.hint });
    }

    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(shape) && joined.includes('<<')) {
      let openers: Omit<Heredoc, 'content'>[];
      try {
        openers = heredocOpeners(joined);
      } catch (e) {
        if (!(e instanceof LineSyntaxError)) throw e;
        return fail(e.message, startLine, startColumn, { endLine, text: e.near, hint: e.hint });
      }
      for (const opener of openers) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const line = lines[i++]!;
          const candidate = opener.chomp ? line.text.replace(/^\t+/, '') : line.text;
          if (candidate === opener.name) {
            terminated = true;
            break;
          }
          content += line.raw;
        }
        if (!terminated) {
          fail(`unterminated heredoc: no line "${opener.name}" closes the heredoc opened here`, startLine, startColumn, {
            endLine: i,
            text: `<<${opener.chomp ? '-' : ''}${opener.name}`,
            hint: `end the heredoc body with a line containing only ${opener.name}`,
          });
        }
        heredocs.push({ ...opener, content });
      }
      endLine = i;
    }

    const last = lines[endLine - 1]?.text ?? '';
    nodes.push({
      ...shape,
      heredocs,
      comments,
      startLine,
      startColumn,
      endLine,
      endColumn: Math.max(1, last.length),
    });
    comments = [];
  }

  if (nodes.length === 0) {
    fail('file with no instructions', lines.length, 0, {
      hint: 'a Dockerfile needs at least a FROM instruction',
    });
  }
  return { file, nodes, escapeToken, directives: directives as Directives, warnings, lines: lines.map((l) => l.text) };
}
