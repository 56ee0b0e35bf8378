/** The typed progress events a build emits; only lib/ui turns them into text. */
import type { MissCause } from './explain.js';

export type BuildEvent =
  | { readonly type: 'build-start'; readonly file: string; readonly target: string | null; readonly snapshotter: 'overlay' | 'copy'; readonly stages: number; readonly steps: number }
  | { readonly type: 'context'; readonly files: number; readonly bytes: number; readonly cacheHits: number; readonly seconds: number; readonly warnings: readonly string[] }
  | { readonly type: 'step-start'; readonly id: number; readonly stage: string; readonly index: number; readonly count: number; readonly text: string; readonly line: number; readonly time: number }
  | { readonly type: 'step-cached'; readonly id: number; readonly time: number }
  | { readonly type: 'step-log'; readonly id: number; readonly stream: 'stdout' | 'stderr'; readonly line: string; readonly time: number }
  | {
      readonly type: 'step-done';
      readonly id: number;
      readonly seconds: number;
      /** Time the RUN command itself took (0 for other steps): the rest of `seconds` is strata's. */
      readonly execSeconds: number;
      /** When the RUN command started (ms since the epoch; 0 for other steps). */
      readonly execStartedAt: number;
      readonly cached: boolean;
      readonly time: number;
    }
  /** Why a stage's first missed step missed (see explain.ts). */
  | { readonly type: 'step-explain'; readonly id: number; readonly cause: MissCause; readonly text: string; readonly time: number }
  /** An imported cache had the step's key but its layer could not be brought in: the step is built instead. */
  | { readonly type: 'cache-import-error'; readonly id: number; readonly source: string; readonly message: string; readonly time: number }
  | { readonly type: 'step-error'; readonly id: number; readonly message: string; readonly time: number }
  | { readonly type: 'image'; readonly digest: string; readonly config: string; readonly tags: readonly string[]; readonly seconds: number }
  | { readonly type: 'output'; readonly format: string; readonly dest: string }
  /** After a build, the oldest cache records went to keep the cache within its size: how many, the bytes freed, and what the cache holds beyond the images now. */
  | { readonly type: 'cache-trimmed'; readonly records: number; readonly bytes: number; readonly cacheBytes: number }
  /** Trimming the cache after a build failed (the build itself did not): said, and tried again after the next. */
  | { readonly type: 'cache-trim-failed'; readonly message: string }
  /**
   * A base image being pulled before the build, or the image pushed after it: each blob announced
   * ('started', with its size as total), its bytes as they move ('progress'), and its end ('done',
   * 'exists': the registry had it, 'mounted': taken from another repository of the registry).
   */
  | { readonly type: 'pull' | 'push'; readonly ref: string; readonly digest: string; readonly bytes: number; readonly total: number; readonly state: string };

export type EventSink = (event: BuildEvent) => void;
