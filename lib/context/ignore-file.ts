/** Which ignore file applies to a build, as Docker and BuildKit choose it, and reading it. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ContextError } from '../errors/index.js';
import { compileIgnore, IgnorePatternError, parseIgnoreLines } from './ignore.js';

/**
 * `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's
 * `.dockerignore`. Returns the path, or undefined when neither exists.
 */
export function findIgnoreFile(contextDir: string, dockerfilePath: string | undefined): string | undefined {
  if (dockerfilePath) {
    const beside = dockerfilePath + '.dockerignore';
    if (existsSync(beside)) return beside;
  }
  const standard = path.join(contextDir, '.dockerignore');
  return existsSync(standard) ? standard : undefined;
}

/** The patterns of an ignore file; a bad pattern is a ContextError naming its line. */
export function loadIgnoreFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ContextError(`cannot read the ignore file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file, { hint: 'check the --ignore-file path' });
  }
  const lines = parseIgnoreLines(text);
  for (const { pattern, line } of lines) {
    try {
      compileIgnore([pattern]);
    } catch (e) {
      if (!(e instanceof IgnorePatternError)) throw e;
      throw new ContextError(`line ${line}: ${e.message}`, file, {
        hint: pattern === '!' ? 'a lone ! excludes nothing: remove it or add a pattern after it' : 'close the [...] class, or escape [ as \\[',
      });
    }
  }
  return lines.map((l) => l.pattern);
}
