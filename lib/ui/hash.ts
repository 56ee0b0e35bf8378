/** What `strata hash` prints. */
import type { BenchReport, ContextStats } from '../context/index.js';
import { formatBytes, formatCount } from './progress.js';
import { paint, type Style } from './terminal.js';

export interface SourceDigest {
  readonly line: number;
  readonly instruction: string;
  readonly sources: readonly string[];
  readonly digest: string;
  readonly files: number;
}

export interface HashReport {
  readonly context: string;
  readonly digest: string;
  readonly stats: ContextStats;
  readonly seconds: number;
  readonly threads: number;
  readonly ignoreFile: string | undefined;
  readonly sources: readonly SourceDigest[];
  readonly warnings: readonly string[];
  /** The process's peak resident memory so far (worker threads included). */
  readonly peakRssBytes: number;
}

const n = formatCount;

export function renderHashText(r: HashReport, style: Style): string {
  const out = [
    `context  ${r.context}${r.ignoreFile ? paint(style, 'dim', `  (ignoring per ${r.ignoreFile})`) : ''}`,
    `digest   ${paint(style, 'bold', 'xxh128:' + r.digest)}`,
    `files    ${n(r.stats.files)} (${formatBytes(r.stats.bytes)}), ${n(r.stats.dirs)} directories, ${n(r.stats.symlinks)} symlinks`,
    `cache    ${n(r.stats.cacheHits)} stat-cache hits, ${n(r.stats.hashedFiles)} files read (${formatBytes(r.stats.hashedBytes)})`,
    `time     ${r.seconds.toFixed(3)} s (${r.threads} hashing threads)`,
  ];
  if (r.sources.length) {
    out.push('', 'COPY/ADD sources:');
    for (const s of r.sources) {
      out.push(`  ${paint(style, 'dim', String(s.line).padStart(4))}  ${s.instruction} ${s.sources.join(' ')}  ${paint(style, 'cyan', s.digest)}  (${n(s.files)} files)`);
    }
  }
  for (const w of r.warnings) out.push(`${paint(style, 'yellow', 'warning')}: ${w}`);
  return out.join('\n');
}

export function hashReportJSON(r: HashReport): unknown {
  return {
    context: r.context,
    digest: r.digest,
    files: r.stats.files,
    bytes: r.stats.bytes,
    dirs: r.stats.dirs,
    symlinks: r.stats.symlinks,
    cacheHits: r.stats.cacheHits,
    hashedFiles: r.stats.hashedFiles,
    hashedBytes: r.stats.hashedBytes,
    seconds: r.seconds,
    threads: r.threads,
    ignoreFile: r.ignoreFile ?? null,
    sources: r.sources,
    warnings: r.warnings,
    peakRssBytes: r.peakRssBytes,
  };
}

export function renderBenchTable(r: BenchReport, style: Style): string {
  const byName = new Map(r.rows.map((row) => [row.name, row]));
  const floorOf = (name: string | undefined) => (name ? [...byName.values()].find((row) => row.name.startsWith(name)) : undefined);
  const header = ['', 'wall', 'files/s', 'GB/s', 'x floor'];
  const lines = r.rows.map((row) => {
    const floor = floorOf(row.floor);
    return [
      row.name,
      `${(row.seconds * 1000).toFixed(1)} ms`,
      n(Math.round(row.files / row.seconds)),
      (row.bytes / row.seconds / 1e9).toFixed(2),
      floor ? `${(row.seconds / floor.seconds).toFixed(2)}x ${row.floor}` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `${paint(style, 'bold', 'strata hash --bench')} ${r.root}`,
    `${n(r.files)} files, ${formatBytes(r.bytes)}; ${r.threads} hashing threads; best of 3 runs each`,
    '',
    paint(style, 'dim', fmt(header)),
    ...lines.map(fmt),
    '',
    `peak RSS of this process over every run above: ${formatBytes(r.peakRssBytes)} (one run alone: the peakRssBytes of strata hash --json)`,
  ].join('\n');
}
