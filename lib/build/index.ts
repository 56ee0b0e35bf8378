/** lib/build: turning a plan and a context into an image. */
export { build, type BuildOptions, type BuildResult } from './build.js';
export type { BuildEvent, EventSink } from './events.js';
export { isRemoteSource } from './remote.js';
export { describeCause, type MissCause, type StepInputs } from './explain.js';
export { contextReads, mayRead, type ContextRead } from './selectors.js';
export { stageLabel } from './step-kinds.js';
export { resolveUser, type RunUser } from './users.js';
export { cacheUsage, pruneBuildCache, PRUNE_GRACE_MS, trimBuildCache, type CacheUsage, type PruneOptions, type PruneResult } from './prune.js';
export { replayUpToDate, saveUpToDate, upToDate, upToDateRecord, type BuildQuestion, type UpToDateRecord } from './up-to-date.js';
