/**
 * A progress bar for work that takes more than a moment: drawn on a
 * terminal only, only after half a second, and erased when done.
 */
export interface ProgressBar {
  /** Totals are undefined while the work is still being found (a context being listed): counts only, no bar. */
  update(done: number, total: number | undefined, bytesDone: number, bytesTotal: number | undefined): void;
  finish(): void;
}

const DELAY_MS = 500;
const WIDTH = 28;

/**
 * 12,345: a count with thousands separators. Not toLocaleString, whose
 * first call loads ICU's locale data: 18 ms of every command's start.
 */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export interface ProgressTarget {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export function progressBar(label: string, stream: ProgressTarget = process.stderr, now: () => number = Date.now): ProgressBar {
  const start = now();
  let drawn = false;
  let last = 0;
  return {
    update(done, total, bytesDone, bytesTotal) {
      if (!stream.isTTY) return;
      const t = now();
      if (t - start < DELAY_MS || t - last < 80) return;
      last = t;
      if (total === undefined || bytesTotal === undefined) {
        stream.write(`\r${label}  ${formatCount(done)} files  ${formatBytes(bytesDone)}\x1b[K`);
        drawn = true;
        return;
      }
      const frac = total === 0 ? 1 : done / total;
      const filled = Math.round(frac * WIDTH);
      const bar = '#'.repeat(filled) + '.'.repeat(WIDTH - filled);
      stream.write(`\r${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${formatCount(done)}/${formatCount(total)} files  ${formatBytes(bytesDone)}/${formatBytes(bytesTotal)}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
