/** What `strata image ls` and `strata history` print. */
import type { HistoryEntry } from '../image/index.js';
import { formatBytes } from './progress.js';

export interface ImageRow {
  readonly name: string;
  readonly id: string;
  readonly created: string | undefined;
  readonly size: number;
  readonly layers: number;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}

export function renderImageList(rows: readonly ImageRow[]): string {
  if (rows.length === 0) return 'no images in the store (strata image import ROOTFS --tag NAME adds one)';
  return table(
    ['NAME', 'IMAGE ID', 'CREATED', 'SIZE', 'LAYERS'],
    rows.map((r) => [r.name, r.id.slice(7, 19), r.created ?? '-', formatBytes(r.size), String(r.layers)]),
  );
}

export interface HistoryRow {
  readonly entry: HistoryEntry;
  readonly layer: string | undefined;
  readonly size: number | undefined;
}

export function renderHistory(rows: readonly HistoryRow[]): string {
  return table(
    ['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
    [...rows].reverse().map((r) => [
      r.layer ? r.layer.slice(7, 19) : '<none>',
      r.entry.created ?? '-',
      (r.entry.created_by ?? '').replace(/\s+/g, ' ').slice(0, 60),
      r.size === undefined ? '0 B' : formatBytes(r.size),
      r.entry.comment ?? '',
    ]),
  );
}

export interface CacheMountRow {
  readonly id: string;
  readonly bytes: number;
  readonly files: number;
  readonly lastUsed: string;
}

/** `strata cache du`: what the store holds, as `docker system df` shows it. */
export interface StoreUsage {
  readonly images: { readonly count: number; readonly bytes: number };
  readonly buildCache: { readonly records: number; readonly bytes: number };
  readonly cacheMounts: { readonly count: number; readonly bytes: number };
}

export function renderStoreUsage(u: StoreUsage): string {
  return table(['TYPE', 'COUNT', 'SIZE'], [
    ['images', String(u.images.count), formatBytes(u.images.bytes)],
    ['build cache', `${u.buildCache.records} record${u.buildCache.records === 1 ? '' : 's'}`, `${formatBytes(u.buildCache.bytes)} beyond the images`],
    ['cache mounts', String(u.cacheMounts.count), formatBytes(u.cacheMounts.bytes)],
  ]);
}

export function renderCacheMounts(rows: readonly CacheMountRow[]): string {
  if (rows.length === 0) return 'no cache mounts in the store (RUN --mount=type=cache,target=DIR makes one)';
  return table(['ID', 'SIZE', 'FILES', 'LAST USED'], rows.map((r) => [r.id, formatBytes(r.bytes), String(r.files), r.lastUsed]));
}
