/** Formats an error once, at the CLI edge: where, what, and what to do. */
import { BuildError, DockerfileParseError, StrataError, SubjectError } from '../errors/index.js';
import { paint, type Style } from './terminal.js';

/** The source line with a caret under the column, when the lines are known. */
function excerpt(lines: readonly string[] | undefined, line: number, column: number, style: Style): string[] {
  const text = lines?.[line - 1];
  if (text === undefined || line <= 0) return [];
  const shown = text.length > 160 ? text.slice(0, 157) + '...' : text;
  const gutter = String(line).padStart(4) + ' | ';
  const out = [paint(style, 'dim', gutter) + shown.replace(/\t/g, ' ')];
  if (column > 0 && column <= shown.length + 1) out.push(' '.repeat(gutter.length + column - 1) + paint(style, 'red', '^'));
  return out;
}

export function formatError(err: unknown, style: Style, sourceLines?: readonly string[]): string {
  const label = paint(style, 'red', 'error');
  if (err instanceof DockerfileParseError) {
    const where = err.line > 0 ? `${err.file}:${err.line}${err.column > 0 ? ':' + err.column : ''}` : err.file;
    const lines = [`${label}: ${where}: ${err.message}`, ...excerpt(sourceLines, err.line, err.column, style)];
    if (err.hint) lines.push(`${paint(style, 'cyan', 'hint')}: ${err.hint}`);
    return lines.join('\n');
  }
  if (err instanceof BuildError) {
    const where = err.line > 0 ? `${err.file}:${err.line}` : err.file;
    const lines = [`${label}: ${where}: ${err.message}`, ...excerpt(sourceLines, err.line, 0, style)];
    if (err.hint) lines.push(`${paint(style, 'cyan', 'hint')}: ${err.hint}`);
    return lines.join('\n');
  }
  if (err instanceof SubjectError) {
    return [`${label}: ${err.subject}: ${err.message}`, ...(err.hint ? [`${paint(style, 'cyan', 'hint')}: ${err.hint}`] : [])].join('\n');
  }
  if (err instanceof StrataError) {
    return [`${label}: ${err.message}`, ...(err.hint ? [`${paint(style, 'cyan', 'hint')}: ${err.hint}`] : [])].join('\n');
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return `${label}: internal error in strata (please report it with the command you ran):\n${detail}`;
}
