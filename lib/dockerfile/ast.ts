/** The syntax tree the parser produces: one node per instruction, BuildKit's shape. */

export interface Heredoc {
  /** The delimiter word, quotes removed. */
  readonly name: string;
  /** File descriptor prefix (`3<<EOF`), 0 when absent. */
  readonly fileDescriptor: number;
  /** False when the delimiter was quoted: the body is then taken literally. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from body lines and the terminator. */
  readonly chomp: boolean;
  /** Body as written, each line with its line ending; see heredocBody(). */
  readonly content: string;
}

export interface Position {
  /** 1-based line where the instruction starts. */
  readonly startLine: number;
  /** 1-based column of the keyword's first character. */
  readonly startColumn: number;
  /** 1-based last line (continuations and heredoc bodies included). */
  readonly endLine: number;
  /** 1-based column of the last character on endLine. */
  readonly endColumn: number;
}

export interface InstructionNode extends Position {
  /** The keyword exactly as written (`run`, `RUN`, `Run`). */
  readonly keyword: string;
  /** The keyword in lower case: `run`. */
  readonly command: string;
  /** `--name=value` words before the arguments, as written. */
  readonly flags: readonly string[];
  /**
   * Arguments as the parser splits them: exec-form elements, the shell-form
   * command as one string, ENV/LABEL as (key, value, separator) triples.
   */
  readonly args: readonly string[];
  /** True for the JSON (exec) form. */
  readonly json: boolean;
  /** ONBUILD's wrapped instruction. */
  readonly trigger: InstructionNode | undefined;
  /** The logical line: continuations joined, comments dropped. */
  readonly original: string;
  readonly heredocs: readonly Heredoc[];
  /** Comment lines directly above the instruction. */
  readonly comments: readonly string[];
}

export interface Directives {
  readonly syntax?: string;
  readonly escape?: string;
  readonly check?: string;
}

export interface ParsedDockerfile {
  readonly file: string;
  readonly nodes: readonly InstructionNode[];
  readonly escapeToken: string;
  readonly directives: Directives;
  readonly warnings: readonly ParseWarning[];
  /** The source split into lines (no line endings), for error excerpts. */
  readonly lines: readonly string[];
}

export interface ParseWarning {
  readonly line: number;
  readonly message: string;
}

/** A heredoc body as the instruction uses it (`<<-` strips leading tabs). */
export function heredocBody(doc: Heredoc): string {
  return doc.chomp ? doc.content.replace(/^\t+/gm, '') : doc.content;
}
