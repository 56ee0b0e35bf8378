/**
 * `strata build` answered without the build engine when the last build of
 * the same Dockerfile in the same context is still the answer
 * (lib/build/up-to-date.ts): the steps are shown as the build would show
 * them, every one CACHED, and the image's digest printed. It loads a
 * fraction of strata (bin/strata.cts runs it from a bundle of its own), so
 * a build with nothing to do costs little more than Node's start. Any
 * doubt, an error included, is left to the real build, which says it.
 */
import { replayUpToDate, upToDate } from '../build/index.js';
import { findIgnoreFile, loadIgnoreFile, type ContextCheck } from '../context/index.js';
import { styleFor, writeOut } from '../ui/index.js';
import { answerable, buildQuestion, buildReporter, parseBuildRequest, writeIidFile } from './build-request.js';
import { readDockerfileInput } from './inputs.js';
import type { Session } from './session.js';

/**
 * The exit code of a build answered here; or, when the build must run,
 * what the check of the context found, if it got that far (the build
 * starts from it: see startStatCacheCheck).
 */
export type QuickOutcome = { readonly code: number } | { readonly code: undefined; readonly contextCheck?: ContextCheck };

export async function quickBuild(argv: readonly string[], session: Session): Promise<QuickOutcome> {
  const startedAt = Date.now();
  if (argv.includes('--help') || argv.includes('-h')) return { code: undefined };
  let answer;
  try {
    const request = parseBuildRequest(argv);
    if (!answerable(request)) return { code: undefined };
    const input = readDockerfileInput(request.context, request.file);
    if (input.path === undefined) return { code: undefined };
    const ignoreFile = findIgnoreFile(input.contextDir, input.path);
    const question = buildQuestion(request, { ...input, path: input.path }, ignoreFile ? loadIgnoreFile(ignoreFile) : []);
    const { record, contextCheck } = upToDate(request.store, question, request.tags);
    if (!record) return { code: undefined, contextCheck };
    // Before anything is shown: a file that cannot be written is the real build's error to report.
    if (request.iidfile !== undefined) writeIidFile(request.iidfile, record.manifest.digest);
    answer = { request, record, file: input.displayName };
  } catch {
    return { code: undefined };
  }
  // Answered: from here on nothing falls through to the build (its lines would be shown twice).
  const { request, record, file } = answer;
  const { report, live } = buildReporter(request, session);
  replayUpToDate(record, { file, tags: request.tags, startedAt, onEvent: report });
  live?.close();
  if (request.progress !== 'json') writeOut(record.manifest.digest);
  return { code: 0 };
}

/** quickBuild as the first thing the `strata` executable tries for `build` (see bin/strata.cts). */
export function quickMain(argv: readonly string[]): Promise<QuickOutcome> {
  return quickBuild(argv, { out: styleFor(process.stdout), err: styleFor(process.stderr), sourceLines: undefined });
}
