/**
 * The tty progress reporter: one frame redrawn in place (as buildx's tty
 * mode), every step with its state and timer, the stages that run at the
 * same time each showing their current step, and the last lines of output
 * of the steps still running. Lines are cut to the terminal's width so a
 * frame's height is known, and the oldest finished steps fold into one
 * line when the frame would not fit.
 */
import type { BuildEvent } from '../build/index.js';
import { trimmedText } from './build-progress.js';
import { formatBytes, formatCount } from './progress.js';
import { trackSteps } from './step-states.js';
import { paint, type Style } from './terminal.js';

export interface TtyTarget {
  write(text: string): unknown;
  readonly columns?: number;
  readonly rows?: number;
}

export interface TtyReporter {
  readonly report: (event: BuildEvent) => void;
  /** Draws the last frame and stops the timer. */
  close(): void;
}

const LOG_LINES = 5;
const TICK_MS = 100;

const BAR = 20;

/** "pulling REF [#####.....] 3.1 MiB / 7.3 MiB, 2/3 blobs": every blob is announced with its size before any moves. */
function transferLine(verb: string, ref: string, blobs: readonly { bytes: number; total: number; done: boolean }[]): string {
  const moved = blobs.reduce((n, b) => n + b.bytes, 0);
  const total = blobs.reduce((n, b) => n + b.total, 0);
  const filled = total ? Math.round((moved / total) * BAR) : BAR;
  const done = blobs.filter((b) => b.done).length;
  return `${verb} ${ref} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${formatBytes(moved)} / ${formatBytes(total)}, ${done}/${blobs.length} blob${blobs.length === 1 ? '' : 's'}`;
}

export function ttyReporter(out: TtyTarget, style: Style, now: () => number = Date.now, options: { explain?: boolean } = {}): TtyReporter {
  const started = now();
  const tracker = trackSteps(LOG_LINES);
  const steps = tracker.steps;
  let total = 0;
  let context: string | undefined;
  /** Per image pulled or pushed: each blob's bytes moved and size. */
  const transfers = new Map<string, Map<string, { bytes: number; total: number; done: boolean }>>();
  const footer: string[] = [];
  let drawn = 0;
  let endedAt: number | undefined;

  const seconds = (from: number, to: number | undefined) => `${(((to ?? now()) - from) / 1000).toFixed(1)}s`;

  const frame = (): string[] => {
    const width = Math.max(20, (out.columns || 80) - 1);
    const fit = (text: string, right = '') => {
      const room = width - right.length - 1;
      const body = text.length > room ? `${text.slice(0, Math.max(0, room - 1))}…` : text;
      return right ? `${body.padEnd(room)} ${right}` : body;
    };
    const finished = steps.filter((st) => st.state !== 'running').length;
    const lines = [paint(style, 'bold', fit(`[+] Building ${seconds(started, endedAt)} (${finished}/${total})`))];
    if (context) lines.push(fit(` => ${context}`));
    const stepLines = steps.map((st) => {
      const label = `[${st.stage} ${st.index}/${st.count}] ${st.text}`;
      const head = st.state === 'cached' ? ` => CACHED ${label}` : ` => ${label}`;
      const time = st.state === 'cached' ? '0.0s' : seconds(st.start, st.end);
      const line = fit(head, time);
      const body = st.state === 'error' ? paint(style, 'red', line) : st.state === 'running' ? paint(style, 'cyan', line) : line;
      const extra = st.why && options.explain ? [paint(style, 'yellow', fit(`    cache miss: ${st.why}`))] : [];
      if (st.state === 'running') extra.push(...st.logs.map((l) => paint(style, 'dim', fit(`    ${l}`))));
      if (st.state === 'error' && st.message) extra.push(paint(style, 'red', fit(`    ERROR: ${st.message}`)));
      return [body, ...extra];
    });
    // Keep the frame within the terminal: the oldest finished steps fold first.
    const room = Math.max(3, (out.rows || 40) - 2 - lines.length - footer.length);
    let folded = 0;
    while (stepLines.flat().length > room && folded < steps.length && steps[folded]!.state !== 'running') folded++;
    if (folded) lines.push(paint(style, 'dim', fit(` => … ${folded} finished step${folded === 1 ? '' : 's'}`)));
    lines.push(...stepLines.slice(folded).flat(), ...footer.map((f) => fit(f)));
    return lines;
  };

  const draw = () => {
    const lines = frame();
    const up = drawn ? `\r\x1b[${drawn}A\x1b[J` : '';
    out.write(up + lines.join('\n') + '\n');
    drawn = lines.length;
  };

  const timer = setInterval(draw, TICK_MS);
  timer.unref();

  const report = (e: BuildEvent) => {
    tracker.apply(e);
    switch (e.type) {
      case 'build-start':
        total = e.steps;
        break;
      case 'context':
        context = `context: ${formatCount(e.files)} files, ${formatBytes(e.bytes)} (${formatCount(e.cacheHits)} from the stat cache) ${e.seconds.toFixed(2)}s`;
        footer.push(...e.warnings.map((w) => ` => warning: ${w}`));
        break;
      case 'cache-trimmed':
      case 'cache-trim-failed':
        footer.push(` => ${trimmedText(e)}`);
        break;
      case 'image':
        footer.push(` => image ${e.digest}${e.tags.length ? ` named ${e.tags.join(', ')}` : ''}`);
        break;
      case 'output':
        footer.push(e.format === 'registry' ? ` => pushed ${e.dest}` : ` => exported ${e.format} to ${e.dest}`);
        break;
      case 'pull':
      case 'push': {
        const key = `${e.type} ${e.ref}`;
        const blobs = transfers.get(key) ?? new Map<string, { bytes: number; total: number; done: boolean }>();
        transfers.set(key, blobs);
        blobs.set(e.digest, { bytes: e.bytes, total: e.total, done: e.state !== 'started' && e.state !== 'progress' });
        context = transferLine(e.type === 'pull' ? 'pulling' : 'pushing', e.ref, [...blobs.values()]);
        break;
      }
    }
    // Drawn by the timer: a burst of output costs one frame, not one per line.
  };

  return {
    report,
    close() {
      if (endedAt !== undefined) return;
      clearInterval(timer);
      endedAt = now();
      draw();
    },
  };
}
