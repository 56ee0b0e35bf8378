/**
 * Build progress for people and tools. plain: the lines `docker build
 * --progress=plain` prints (#N [stage i/n] INSTRUCTION, log lines with the
 * time since the step started, #N CACHED, #N DONE 0.4s, #N ERROR). json:
 * one event per line, exactly as the engine emitted it.
 */
import type { BuildEvent } from '../build/index.js';
import { formatBytes, formatCount } from './progress.js';

export type Reporter = (event: BuildEvent) => void;

/** What a trim of the cache did, in words (plain lines, the terminal footer, the dashboard log). */
export function trimmedText(e: Extract<BuildEvent, { type: 'cache-trimmed' | 'cache-trim-failed' }>): string {
  if (e.type === 'cache-trim-failed') return `the cache could not be trimmed (${e.message}); the next build tries again`;
  return `cache: the ${e.records === 1 ? 'oldest record' : `${e.records} oldest records`} went (${formatBytes(e.bytes)} freed); it holds ${formatBytes(e.cacheBytes)} beyond the images`;
}

export function plainReporter(write: (line: string) => void, options: { explain?: boolean } = {}): Reporter {
  const startedAt = new Map<number, number>();
  return (e) => {
    switch (e.type) {
      case 'build-start':
        write(`#0 building ${e.file}${e.target ? ` (target ${e.target})` : ''}: ${e.stages} stage${e.stages === 1 ? '' : 's'}, ${e.steps} steps`);
        break;
      case 'context':
        write(`#0 context: ${formatCount(e.files)} files, ${formatBytes(e.bytes)} (${formatCount(e.cacheHits)} from the stat cache) ${e.seconds.toFixed(2)}s`);
        for (const w of e.warnings) write(`#0 warning: ${w}`);
        break;
      case 'step-start':
        startedAt.set(e.id, e.time);
        write(`#${e.id} [${e.stage} ${e.index}/${e.count}] ${e.text}`);
        break;
      case 'step-log':
        write(`#${e.id} ${((e.time - (startedAt.get(e.id) ?? e.time)) / 1000).toFixed(3)} ${e.line}`);
        break;
      case 'step-cached':
        write(`#${e.id} CACHED`);
        break;
      case 'cache-import-error':
        write(`#${e.id} WARNING: the imported cache ${e.source} failed: ${e.message}; building the step instead`);
        break;
      case 'step-explain':
        if (options.explain) write(`#${e.id} CACHE MISS: ${e.text}`);
        break;
      case 'step-done':
        if (!e.cached) write(`#${e.id} DONE ${e.seconds.toFixed(1)}s`);
        break;
      case 'step-error':
        write(`#${e.id} ERROR: ${e.message}`);
        break;
      case 'image':
        write(`#0 image ${e.digest}${e.tags.length ? ` named ${e.tags.join(', ')}` : ''} in ${e.seconds.toFixed(1)}s`);
        break;
      case 'pull':
      case 'push':
        // Byte counts as each blob ends; the bytes in between are for the terminal's bars.
        if (e.state !== 'started' && e.state !== 'progress') write(`#0 ${e.type === 'pull' ? 'pulling' : 'pushing'} ${e.ref}: ${e.digest.slice(7, 19)} ${formatBytes(e.bytes)} ${e.state}`);
        break;
      case 'output':
        write(e.format === 'registry' ? `#0 pushed ${e.dest}` : `#0 exported ${e.format} to ${e.dest}`);
        break;
      case 'cache-trimmed':
        write(`#0 ${trimmedText(e)}`);
        break;
      case 'cache-trim-failed':
        write(`#0 warning: ${trimmedText(e)}`);
        break;
    }
  };
}

export function jsonReporter(write: (line: string) => void): Reporter {
  return (e) => write(JSON.stringify(e));
}
