/** `strata cache ls|prune`: the cache mounts RUN --mount=type=cache keeps in the store, and what COPY keeps for its next run. */
import { parseArgs } from 'node:util';
import { listCacheMounts, pruneCacheMounts, pruneCopyRecords, resolveStoreDir } from '../cache/index.js';
import { UsageError } from '../errors/index.js';
import { formatBytes, renderCacheMounts, writeOut } from '../ui/index.js';
import { oneOf } from './inputs.js';
import type { Session } from './session.js';

export const cacheUsage = `usage: strata cache ls [--format text|json] [--store DIR]
       strata cache prune (--mounts | --copies) [--store DIR]

ls: the cache mounts (RUN --mount=type=cache) in the store, with their
sizes. prune --mounts: empties them all (a step holding one with
sharing=locked is waited for). prune --copies: forgets what each COPY kept
to share with its next run (its files' signatures and its layer's tar);
the next run of each COPY copies and reads every file again. Layers and
the cache of steps stay.`;

export async function cacheCommand(argv: string[], _session: Session): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: { format: { type: 'string' }, mounts: { type: 'boolean' }, copies: { type: 'boolean' }, store: { type: 'string' } },
  });
  const store = resolveStoreDir(values.store);
  switch (sub) {
    case 'ls': {
      const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
      const mounts = listCacheMounts(store);
      writeOut(format === 'json' ? JSON.stringify(mounts, null, 2) : renderCacheMounts(mounts));
      return 0;
    }
    case 'prune': {
      if (!values.mounts && !values.copies) {
        throw new UsageError('cache prune needs --mounts or --copies', { hint: 'strata cache prune --mounts empties the cache mounts, --copies the tars COPY keeps; layers stay' });
      }
      if (values.mounts) {
        const removed = await pruneCacheMounts(store);
        writeOut(`removed ${removed.length} cache mount${removed.length === 1 ? '' : 's'} (${formatBytes(removed.reduce((n, m) => n + m.bytes, 0))})`);
      }
      if (values.copies) {
        const { records, bytes } = pruneCopyRecords(store);
        writeOut(`removed what ${records} COPY instruction${records === 1 ? '' : 's'} kept for their next run (${formatBytes(bytes)})`);
      }
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown cache command "${sub}"` : 'cache needs a command', { hint: 'strata cache ls, or strata cache prune --mounts|--copies' });
  }
}
