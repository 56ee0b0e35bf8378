/** `strata dev`: build, and with --watch rebuild on every change; --run runs the image. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveStoreDir, statCachePath, stepInputsPath } from '../cache/index.js';
import { closeHashPool, findIgnoreFile, loadIgnoreFile } from '../context/index.js';
import { UsageError } from '../errors/index.js';
import { RUN_NETWORKS } from '../exec/index.js';
import { normalizeRef } from '../image/index.js';
import { SNAPSHOTTER_CHOICES } from '../snapshot/index.js';
import { devJsonReporter, devPlainReporter, openDashboard, writeErr, writeOut } from '../ui/index.js';
import { runDev, type DevController } from '../watch/index.js';
import { keepStorage, loadPlan, oneOf, parseSecrets } from './inputs.js';
import type { Session } from './session.js';

export const devUsage = `usage: strata dev [--watch] [-f FILE] [--target STAGE] [-t NAME]... [--build-arg K=V]...
                  [--debounce MS] [--run] [--run-cmd CMD] [--stop-timeout S] [--keep-storage SIZE]
                  [--progress auto|plain|json] [--secret id=ID,src=FILE|env=VAR]... [--network default|none|host]
                  [--snapshotter auto|overlay|copy] [--store DIR] CONTEXT

Builds the image; with --watch keeps watching the context, the Dockerfile
and the ignore file, and rebuilds from the first step an edit invalidates
(a burst of edits within --debounce ms, default 50, is one rebuild; an edit
during a build cancels it). Every rebuild says what changed and why its
first missed step missed. --run starts the image after each good build
(its ENTRYPOINT/CMD, or --run-cmd through /bin/sh -c) on the host network,
and restarts it on the next one: STOPSIGNAL, --stop-timeout seconds
(default 10), then SIGKILL. Without --watch, the app runs once and its
exit status is the command's. Ctrl-C stops everything and leaves nothing
behind. Every edit leaves a new version of the layers it changed: while
watching, the oldest cache records go after a build once the layers the
cache holds beyond the images pass --keep-storage (default a tenth of the
store's disk, as BuildKit's garbage collection keeps; STRATA_KEEP_STORAGE
sets it for every command).`;

export async function devCommand(argv: string[], session: Session): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      watch: { type: 'boolean' },
      file: { type: 'string', short: 'f' },
      target: { type: 'string' },
      tag: { type: 'string', short: 't', multiple: true },
      'build-arg': { type: 'string', multiple: true },
      debounce: { type: 'string' },
      run: { type: 'boolean' },
      'run-cmd': { type: 'string' },
      'stop-timeout': { type: 'string' },
      'keep-storage': { type: 'string' },
      progress: { type: 'string' },
      secret: { type: 'string', multiple: true },
      snapshotter: { type: 'string' },
      network: { type: 'string' },
      store: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('dev needs exactly one CONTEXT', { hint: 'strata dev --watch .' });
  const number = (flag: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`invalid ${flag} "${value}"`, { hint: `give a number, e.g. ${flag} ${fallback}` });
    return n;
  };
  const debounceMs = number('--debounce', values.debounce, 50);
  const graceMs = number('--stop-timeout', values['stop-timeout'], 10) * 1000;
  const progress = oneOf('--progress', values.progress, ['auto', 'plain', 'json'] as const, 'auto');
  const snapshotter = oneOf('--snapshotter', values.snapshotter ?? process.env.STRATA_SNAPSHOTTER, SNAPSHOTTER_CHOICES, 'auto');
  const store = resolveStoreDir(values.store);
  const keepStorageBytes = keepStorage(store, values['keep-storage']);
  const secrets = parseSecrets(values.secret ?? []);
  const args = { context: positionals[0], file: values.file, target: values.target, buildArgs: values['build-arg'], store };
  const first = loadPlan(session, args);
  if (first.input.path === undefined && values.watch) throw new UsageError('strata dev --watch needs a Dockerfile on disk', { hint: 'pass -f PATH rather than -f -' });
  const contextDir = first.input.contextDir;
  const ignoreFile = findIgnoreFile(contextDir, first.input.path);
  const abort = new AbortController();
  const controller: DevController = {};
  // On a terminal, watching: the dashboard. Otherwise (or asked for) plain lines or JSON, nothing of blessed.
  const dashboard = progress === 'auto' && values.watch && process.stdout.isTTY && process.stdin.isTTY && process.env.TERM !== 'dumb'
    ? openDashboard({ controller, running: Boolean(values.run || values['run-cmd']), onQuit: () => abort.abort() })
    : undefined;
  const report = dashboard ? dashboard.report : progress === 'json' ? devJsonReporter(writeOut) : devPlainReporter(writeErr, session.err, () => session.sourceLines);
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let firstLoad = true;
  try {
    return await runDev({
      store,
      contextDir,
      dockerfilePath: first.input.path ? path.resolve(first.input.path) : undefined,
      loadPlan: () => {
        if (firstLoad) {
          firstLoad = false;
          return first;
        }
        return loadPlan(session, args);
      },
      ignoreFile,
      loadIgnore: () => (ignoreFile ? loadIgnoreFile(ignoreFile) : []),
      tags: (values.tag ?? []).map(normalizeRef),
      statCacheFile: statCachePath(store, contextDir),
      inputsFile: stepInputsPath(store, contextDir, first.input.path ?? 'stdin'),
      snapshotter,
      secrets,
      jobs: undefined,
      network: oneOf('--network', values.network, RUN_NETWORKS, 'default'),
      watch: values.watch === true,
      keepStorageBytes,
      debounceMs,
      run: values.run || values['run-cmd'] ? { command: values['run-cmd'], graceMs } : undefined,
      onEvent: report,
      signal: abort.signal,
      controller,
    });
  } finally {
    dashboard?.destroy();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await closeHashPool();
  }
}
