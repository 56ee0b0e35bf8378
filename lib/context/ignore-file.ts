/** Which ignore file applies to a build, as Docker and BuildKit choose it. */
import { existsSync } from 'node:fs';
import path from 'node:path';

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
