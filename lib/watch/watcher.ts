/**
 * Watching a context (and the Dockerfile and ignore file, wherever they
 * are) with chokidar, and turning its events into batches: a quiet window
 * (the debounce) collects a burst, so an editor's atomic save, a checkout
 * of thousands of files or a deleted directory each end in one batch that
 * sees the final state. A directory excluded by .dockerignore is not
 * watched at all when no `!` pattern could bring part of it back, so an
 * excluded node_modules costs no watcher per file.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { IgnoreMatcher } from '../context/index.js';

export interface TreeWatcher {
  /** Resolves once the initial scan is done and events mean changes. */
  readonly ready: Promise<void>;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export interface WatchOptions {
  readonly root: string;
  /** Files outside the context (or inside and ignored) whose changes matter too: the Dockerfile, the ignore file. */
  readonly extraFiles: readonly string[];
  /** The ignore rules in force (they change when the ignore file does). */
  readonly matcher: () => IgnoreMatcher;
  readonly debounceMs: number;
  /** A batch of absolute paths that changed (files, directories, deleted paths). */
  readonly onBatch: (paths: string[]) => void;
}

export function watchTree(options: WatchOptions): TreeWatcher {
  const root = path.resolve(options.root);
  const extra = new Set(options.extraFiles.map((f) => path.resolve(f)));
  const ignored = (p: string): boolean => {
    if (extra.has(p)) return false;
    const rel = path.relative(root, p);
    if (rel === '' || rel.startsWith('..')) return false;
    // With a `!` pattern an excluded directory may hold included files: watch it, filter later.
    const matcher = options.matcher();
    return !matcher.hasExclusions && matcher.ignores(rel.split(path.sep).join('/'));
  };
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let paused = false;
  const flush = () => {
    timer = undefined;
    if (paused || pending.size === 0) return;
    const batch = [...pending];
    pending = new Set();
    options.onBatch(batch);
  };
  const note = (p: string) => {
    pending.add(path.resolve(p));
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, options.debounceMs);
  };
  const watcher: FSWatcher = watch([root, ...extra], { ignored, ignoreInitial: true, persistent: true, followSymlinks: false, atomic: false });
  for (const event of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) watcher.on(event, note);
  const ready = new Promise<void>((resolve, reject) => {
    watcher.once('ready', () => resolve());
    watcher.once('error', reject);
  });
  return {
    ready,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      if (pending.size && !timer) timer = setTimeout(flush, options.debounceMs);
    },
    async close() {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
