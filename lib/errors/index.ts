/**
 * Typed errors. Each is thrown once where the problem is found and formatted
 * once at the CLI edge (lib/ui), so every message carries what a person needs
 * to act: where (file, line, column), what, and a hint.
 */

export interface SourceLocation {
  /** Path as the user named it (or "-" for stdin). */
  readonly file: string;
  /** 1-based line; 0 when the problem concerns the whole file. */
  readonly line: number;
  /** 1-based column; 0 when unknown. */
  readonly column: number;
  /** Last line the problem spans (same as line for one-line problems). */
  readonly endLine?: number;
}

export class StrataError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** A Dockerfile that cannot be read, parsed, expanded or planned. */
export class DockerfileParseError extends StrataError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  /** The offending source text (an instruction, a word, a flag), when known. */
  readonly text: string | undefined;

  constructor(
    message: string,
    where: SourceLocation & { text?: string | undefined },
    options: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, options);
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.endLine = where.endLine ?? where.line;
    this.text = where.text;
  }
}

/** Wrong command-line usage: an unknown flag, a missing operand. */
export class UsageError extends StrataError {
  override readonly exitCode = 2;
}

/**
 * An error about one named thing (a path, an image, a store, a layer),
 * which the CLI prints first: `error: SUBJECT: message`.
 */
export class SubjectError extends StrataError {
  readonly subject: string;
  constructor(message: string, subject: string, options: { hint?: string | undefined; cause?: unknown } = {}) {
    super(message, options);
    this.subject = subject;
  }
}

/** A file or directory the user named cannot be used. */
export class InputError extends SubjectError {}

/** A build context that cannot be hashed: unreadable files, bad ignore patterns, missing COPY sources (subject: the path). */
export class ContextError extends SubjectError {}

/** The store cannot be read or written, or holds something it should not (subject: the store). */
export class StoreError extends SubjectError {}

/** An image reference that is not in the store, or an image that cannot be read (subject: the reference). */
export class ImageError extends SubjectError {}

/** A layer or root filesystem that cannot be applied or read (subject: the layer). */
export class SnapshotError extends SubjectError {}

/** Watching the context for strata dev broke (a directory could not be watched). */
export class WatchError extends SubjectError {}

/** A step that could not run, or that failed. */
export class ExecError extends StrataError {}

/** The build was stopped (Ctrl-C, SIGTERM, a failing sibling stage, a newer build): not a failure of its own. */
export class CancelledError extends StrataError {}

/** A build that failed: names the stage and step. */
export class BuildError extends StrataError {
  readonly file: string;
  readonly line: number;
  constructor(message: string, where: { file: string; line: number }, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.file = where.file;
    this.line = where.line;
  }
}
