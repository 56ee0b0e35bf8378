/** Builds DockerfileParseErrors that point at the right spot of an instruction. */
import { DockerfileParseError } from '../errors/index.js';
import type { InstructionNode, ParsedDockerfile } from './ast.js';

export interface ErrorContext {
  readonly file: string;
  readonly lines: readonly string[];
}

export function errorContext(parsed: ParsedDockerfile): ErrorContext {
  return { file: parsed.file, lines: parsed.lines };
}

/** An error at `node`, pointing at `near` when it appears on one of its lines. */
export function errorAt(
  ctx: ErrorContext,
  node: Pick<InstructionNode, 'startLine' | 'startColumn' | 'endLine' | 'original'>,
  message: string,
  options: { near?: string | undefined; hint?: string | undefined } = {},
): DockerfileParseError {
  let line = node.startLine;
  let column = node.startColumn;
  if (options.near) {
    for (let n = node.startLine; n <= node.endLine; n++) {
      const idx = ctx.lines[n - 1]?.indexOf(options.near) ?? -1;
      if (idx >= 0) {
        line = n;
        column = idx + 1;
        break;
      }
    }
  }
  return new DockerfileParseError(
    message,
    { file: ctx.file, line, column, endLine: node.endLine, text: options.near ?? node.original.trim() },
    { hint: options.hint },
  );
}
