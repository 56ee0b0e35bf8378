/**
 * What `strata dev` prints. plain: a line for each thing the loop does
 * (what changed, why nothing was built, each build as `strata build
 * --progress plain` prints it, always with its cache-miss explanations,
 * and the app's output prefixed with `app |`). json: one event per line,
 * errors as { message, hint, file, line }.
 */
import type { DevEvent } from '../watch/index.js';
import { plainReporter } from './build-progress.js';
import { formatError } from './errors.js';
import { paint, type Style } from './terminal.js';
import { formatCount } from './progress.js';

const more = (paths: readonly string[], count: number) => `${paths.join(', ')}${count > paths.length ? ` and ${count - paths.length} more` : ''}`;

export function devPlainReporter(write: (line: string) => void, style: Style, sourceLines: () => readonly string[] | undefined): (e: DevEvent) => void {
  const builds = plainReporter(write, { explain: true });
  let lastHashLine = 0;
  return (e) => {
    switch (e.type) {
      case 'hashing':
        // A line every two seconds at most while a large context is read the first time.
        if (Date.now() - lastHashLine >= 2000) {
          lastHashLine = Date.now();
          const of = e.filesTotal === undefined ? '' : `/${formatCount(e.filesTotal)}`;
          write(`#0 reading the context: ${formatCount(e.filesDone)}${of} files`);
        }
        break;
      case 'dev-start':
        write(`#0 ${e.watching ? 'watching' : 'building'} ${e.context}: ${formatCount(e.files)} files, context ${e.digest.slice(0, 12)}`);
        break;
      case 'watch-paused':
        write(e.paused ? '#0 watching paused' : '#0 watching again');
        break;
      case 'watch-ready':
        write(`#0 watching ${formatCount(e.directories)} directories for changes (Ctrl-C to stop)`);
        break;
      case 'change':
        write(`#0 changed: ${[e.dockerfile ? 'the Dockerfile' : '', e.ignoreFile ? 'the ignore file' : '', e.count ? more(e.paths, e.count) : ''].filter(Boolean).join(', ')}`);
        break;
      case 'change-skipped':
        write(`#0 nothing to build: ${e.reason === 'unchanged' ? 'the content is the same' : 'no step reads'} ${more(e.paths, e.count)}`);
        break;
      case 'rebuild':
        write(paint(style, 'bold', `#0 build ${e.number}${e.cause === 'change' ? ' (after a change)' : e.cause === 'manual' ? ' (asked for)' : ''}`));
        break;
      case 'build-cancelled':
        write(`#0 build ${e.number} cancelled: a newer change replaces it`);
        break;
      case 'build-failed':
        write(formatError(e.error, style, sourceLines()));
        write(`#0 build ${e.number} failed; waiting for the next change`);
        break;
      case 'build-done':
        write(paint(style, 'green', `#0 build ${e.number} done in ${e.seconds.toFixed(2)}s: ${e.digest} (${e.executed} ran, ${e.cached} cached)`));
        break;
      case 'app-start':
        write(`#0 app started: ${e.argv.join(' ')}`);
        break;
      case 'app-log':
        write(`app | ${e.line}`);
        break;
      case 'app-exit':
        write(e.stopped ? `#0 app stopped (exit status ${e.code})` : `#0 app exited with status ${e.code}`);
        break;
      case 'app-error':
        write(formatError(e.error, style));
        break;
      default:
        builds(e);
    }
  };
}

/** An error as plain JSON (its class, message, hint and place, where it has them). */
function errorJSON(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const { hint, file, line } = error as Error & { hint?: string; file?: string; line?: number };
  return { name: error.name, message: error.message, hint, file, line };
}

export function devJsonReporter(write: (line: string) => void): (e: DevEvent) => void {
  return (e) => {
    if (e.type === 'build-failed' || e.type === 'app-error') write(JSON.stringify({ ...e, error: errorJSON(e.error) }));
    else write(JSON.stringify(e));
  };
}
