/** `strata cache ls|prune`: the cache mounts RUN --mount=type=cache keeps in the store, and what COPY keeps for its next run. */
import { parseArgs } from 'node:util';
import { cacheUsage, pruneBuildCache } from '../build/index.js';
import { listCacheMounts, pruneCacheMounts, pruneCopyRecords, resolveStoreDir, withoutBuilds, type ExclusiveOptions } from '../cache/index.js';
import { parseGoDuration } from '../dockerfile/index.js';
import { UsageError } from '../errors/index.js';
import { formatBytes, renderCacheMounts, renderStoreUsage, writeErr, writeOut, type StoreUsage } from '../ui/index.js';
import { byteSizeOption, oneOf } from './inputs.js';
import type { Session } from './session.js';

export const cacheUsageText = `usage: strata cache ls [--format text|json] [--store DIR]
       strata cache du [--format text|json] [--store DIR]
       strata cache prune (--build [--older-than DURATION] [--keep-storage SIZE] | --mounts | --copies) [--store DIR]

ls: the cache mounts (RUN --mount=type=cache) in the store, with their
sizes. du: what the store holds, as docker system df shows it: its images,
the build cache (its records, and the layers only they name: what a prune
frees and --keep-storage limits), the cache mounts. prune --build, as docker builder prune: the build cache goes (the
steps' records, older than DURATION if given, e.g. 24h; the layers and
layer directories no image in the store names; what COPY keeps), and the
images stay whole; the next build runs its steps again. With
--keep-storage SIZE (e.g. 10GB), the oldest records go only until the
layers the cache holds beyond the images' come to SIZE at most, and what
COPY keeps stays. A prune waits
(up to 5 minutes) for the builds running on the store to finish, and
builds started meanwhile wait for it; a container that strata dev --run
runs keeps its layers, and what was made in the last 15 minutes stays.
prune --mounts: empties the cache mounts (a step holding one with
sharing=locked is waited for). prune --copies: forgets what each COPY kept
to share with its next run (its files' signatures and its layer's tar);
the next run of each COPY copies and reads every file again. Layers and
the cache of steps stay.`;

/** How long a prune waits for the builds running on the store. */
const BUILD_WAIT_MS = 5 * 60 * 1000;

export async function cacheCommand(argv: string[], _session: Session): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: { format: { type: 'string' }, mounts: { type: 'boolean' }, copies: { type: 'boolean' }, build: { type: 'boolean' }, 'older-than': { type: 'string' }, 'keep-storage': { type: 'string' }, store: { type: 'string' } },
  });
  const store = resolveStoreDir(values.store);
  switch (sub) {
    case 'du': {
      const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
      const mounts = listCacheMounts(store);
      const usage: StoreUsage = { ...cacheUsage(store), cacheMounts: { count: mounts.length, bytes: mounts.reduce((n, m) => n + m.bytes, 0) } };
      writeOut(format === 'json' ? JSON.stringify(usage, null, 2) : renderStoreUsage(usage));
      return 0;
    }
    case 'ls': {
      const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
      const mounts = listCacheMounts(store);
      writeOut(format === 'json' ? JSON.stringify(mounts, null, 2) : renderCacheMounts(mounts));
      return 0;
    }
    case 'prune': {
      if (!values.mounts && !values.copies && !values.build) {
        throw new UsageError('cache prune needs --build, --mounts or --copies', { hint: 'strata cache prune --build removes the build cache (the images stay), --mounts empties the cache mounts, --copies the tars COPY keeps' });
      }
      if (values['older-than'] !== undefined && !values.build) throw new UsageError('--older-than goes with --build', { hint: 'strata cache prune --build --older-than 24h' });
      if (values['keep-storage'] !== undefined && !values.build) throw new UsageError('--keep-storage goes with --build', { hint: 'strata cache prune --build --keep-storage 10GB' });
      // A build that is running finishes first, and builds that start meanwhile wait for the prune.
      const waitForBuilds: ExclusiveOptions = {
        waitMs: BUILD_WAIT_MS,
        onWait: (pids) => writeErr(`waiting for the build${pids.length === 1 ? '' : 's'} running on this store to finish (process ${pids.join(', ')})`),
      };
      if (values.build) {
        const olderThanMs = values['older-than'] === undefined ? undefined : parseGoDuration(values['older-than']);
        if (olderThanMs === undefined && values['older-than'] !== undefined) {
          throw new UsageError(`invalid --older-than "${values['older-than']}"`, { hint: 'give a duration such as 24h or 90m (a week: 168h)' });
        }
        const keepStorageBytes = values['keep-storage'] === undefined ? undefined : byteSizeOption('--keep-storage', values['keep-storage']);
        const r = await pruneBuildCache(store, { olderThanMs, keepStorageBytes, waitForBuilds });
        writeOut(`removed ${r.records} cache record${r.records === 1 ? '' : 's'}, ${r.blobs.removed} blob${r.blobs.removed === 1 ? '' : 's'} (${formatBytes(r.blobs.bytes)}), ` +
          `${r.snapshots.removed} layer director${r.snapshots.removed === 1 ? 'y' : 'ies'} (${formatBytes(r.snapshots.bytes)}), what ${r.copies.records} COPY instruction${r.copies.records === 1 ? '' : 's'} kept (${formatBytes(r.copies.bytes)})` +
          `${keepStorageBytes === undefined ? '' : `; the cache holds ${formatBytes(r.cacheBytes)} of layers beyond the images'`}`);
      }
      if (values.mounts) {
        const removed = await withoutBuilds(store, () => pruneCacheMounts(store), waitForBuilds);
        writeOut(`removed ${removed.length} cache mount${removed.length === 1 ? '' : 's'} (${formatBytes(removed.reduce((n, m) => n + m.bytes, 0))})`);
      }
      if (values.copies && !values.build) {
        const { records, bytes } = await withoutBuilds(store, () => pruneCopyRecords(store), waitForBuilds);
        writeOut(`removed what ${records} COPY instruction${records === 1 ? '' : 's'} kept for their next run (${formatBytes(bytes)})`);
      }
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown cache command "${sub}"` : 'cache needs a command', { hint: 'strata cache ls, strata cache du, or strata cache prune --build|--mounts|--copies' });
  }
}
