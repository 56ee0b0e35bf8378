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

/** A file or directory the user named cannot be used. */
export class InputError extends StrataError {
  readonly path: string;
  constructor(message: string, path: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.path = path;
  }
}

/** A build context that cannot be hashed: unreadable files, bad ignore patterns, missing COPY sources. */
export class ContextError extends StrataError {
  /** The context path (or ignore file) concerned. */
  readonly path: string;
  constructor(message: string, path: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.path = path;
  }
}

/** The store cannot be read or written, or holds something it should not. */
export class StoreError extends StrataError {
  readonly store: string;
  constructor(message: string, store: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.store = store;
  }
}

/** An image reference that is not in the store, or an image that cannot be read. */
export class ImageError extends StrataError {
  readonly ref: string;
  constructor(message: string, ref: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.ref = ref;
  }
}

/** A layer or root filesystem that cannot be applied or read. */
export class SnapshotError extends StrataError {
  readonly layer: string;
  constructor(message: string, layer: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.layer = layer;
  }
}

/** A step that could not run, or that failed. */
export class ExecError extends StrataError {}

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
