/** What the dev loop reports, besides the events of each build it runs. */
import type { BuildEvent } from '../build/index.js';

export type DevEvent =
  | BuildEvent
  /** Reading the context (the first time, or after an ignore-file change): files and bytes done of the total. */
  /** Totals are absent while the context is still being listed. */
  | { readonly type: 'hashing'; readonly filesDone: number; readonly filesTotal: number | undefined; readonly bytesDone: number; readonly bytesTotal: number | undefined }
  | { readonly type: 'dev-start'; readonly context: string; readonly files: number; readonly digest: string; readonly watching: boolean }
  /** The watcher has taken its first look: edits from now on are seen. */
  | { readonly type: 'watch-ready'; readonly directories: number }
  /** Paths that changed in a way the context sees (first few, context-relative), how many, and whether the Dockerfile or ignore file did. */
  | { readonly type: 'change'; readonly paths: readonly string[]; readonly count: number; readonly dockerfile: boolean; readonly ignoreFile: boolean }
  /** A batch that needs no build: the content is the same, or no step reads what changed. */
  | { readonly type: 'change-skipped'; readonly reason: 'unchanged' | 'unread'; readonly paths: readonly string[]; readonly count: number }
  | { readonly type: 'rebuild'; readonly number: number; readonly cause: 'start' | 'change' | 'manual' }
  | { readonly type: 'watch-paused'; readonly paused: boolean }
  | { readonly type: 'build-cancelled'; readonly number: number }
  | { readonly type: 'build-failed'; readonly number: number; readonly error: unknown }
  | { readonly type: 'build-done'; readonly number: number; readonly digest: string; readonly seconds: number; readonly executed: number; readonly cached: number }
  | { readonly type: 'app-start'; readonly argv: readonly string[] }
  | { readonly type: 'app-log'; readonly stream: 'stdout' | 'stderr'; readonly line: string; readonly time: number }
  /** `stopped`: strata stopped it (a restart, Ctrl-C), rather than the app ending by itself. */
  | { readonly type: 'app-exit'; readonly code: number; readonly stopped: boolean }
  | { readonly type: 'app-error'; readonly error: unknown };

export type DevEventSink = (event: DevEvent) => void;
