/** `strata cache ls|prune`: the cache mounts RUN --mount=type=cache keeps in the store. */
import { parseArgs } from 'node:util';
import { listCacheMounts, pruneCacheMounts, resolveStoreDir } from '../cache/index.js';
import { UsageError } from '../errors/index.js';
import { formatBytes, renderCacheMounts, writeOut } from '../ui/index.js';
import { oneOf } from './inputs.js';
import type { Session } from './session.js';

export const cacheUsage = `usage: strata cache ls [--format text|json] [--store DIR]
       strata cache prune --mounts [--store DIR]

ls: the cache mounts (RUN --mount=type=cache) in the store, with their
sizes. prune --mounts: empties them all (a step holding one with
sharing=locked is waited for).`;

export async function cacheCommand(argv: string[], _session: Session): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: { format: { type: 'string' }, mounts: { type: 'boolean' }, store: { type: 'string' } },
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
      if (!values.mounts) throw new UsageError('cache prune needs --mounts', { hint: 'strata cache prune --mounts empties the cache mounts; layers stay' });
      const removed = await pruneCacheMounts(store);
      writeOut(`removed ${removed.length} cache mount${removed.length === 1 ? '' : 's'} (${formatBytes(removed.reduce((n, m) => n + m.bytes, 0))})`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown cache command "${sub}"` : 'cache needs a command', { hint: 'strata cache ls, or strata cache prune --mounts' });
  }
}
