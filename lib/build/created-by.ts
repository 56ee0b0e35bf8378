/**
 * What `docker history` shows as "created by" for a step, as BuildKit's
 * Dockerfile frontend words it. Several instructions are written with Go's
 * fmt verbs there (`CMD %q` of the argv, `HEALTHCHECK %q` of the config
 * struct, `EXPOSE %v` of a port map), so the few Go formats they need are
 * reproduced here: the text is part of the image config, and tools (and
 * people) compare it with Docker's.
 */
import type { PlannedStep } from '../dockerfile/index.js';
import { commandOf, exposedPorts, type StageConfig } from './config.js';

/** The text for a step; for a metadata step, read from the config it has just set. */
export function createdBy(step: PlannedStep, c: StageConfig): string {
  switch (step.instruction) {
    case 'RUN': {
      // BuildKit prefixes the stage's ARGs, counted: `RUN |2 A=1 B= /bin/sh -c make`.
      const args = step.runArgs.length ? `|${step.runArgs.length} ${step.runArgs.join(' ')} ` : '';
      return `RUN ${args}${commandOf(c, step).join(' ')} # buildkit`;
    }
    case 'COPY':
    case 'ADD':
      return `${step.instruction} ${step.args.join(' ')} # buildkit`;
    case 'CMD':
    case 'ENTRYPOINT':
      return `${step.instruction} ${goQuotedList(commandOf(c, step))}`;
    case 'HEALTHCHECK': {
      const h = c.healthcheck ?? { Test: [] };
      const durations = [h.Interval, h.Timeout, h.StartPeriod, h.StartInterval].map((ns) => goQuote(goDuration(ns ?? 0)));
      return `HEALTHCHECK &{${[goQuotedList(h.Test), ...durations, goQuoteRune(h.Retries ?? 0)].join(' ')}}`;
    }
    case 'EXPOSE':
      return `EXPOSE map[${[...exposedPorts(step.args)].sort().map((p) => `${p}:{}`).join(' ')}]`;
    case 'VOLUME':
    case 'SHELL':
      return `${step.instruction} [${step.args.join(' ')}]`;
    default:
      return `${step.instruction} ${step.args.join(' ')}`.trim();
  }
}

/** Go's %q of a []string: `["a" "b"]`. */
function goQuotedList(items: readonly string[]): string {
  return `[${items.map(goQuote).join(' ')}]`;
}

const SHORT_ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 0x5c: '\\\\' };
const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/** One character as strconv.Quote writes it inside `quote`. */
function goEscape(ch: string, quote: string): string {
  const code = ch.codePointAt(0)!;
  if (ch === quote) return `\\${quote}`;
  if (SHORT_ESCAPES[code] !== undefined) return SHORT_ESCAPES[code]!;
  if (PRINTABLE.test(ch)) return ch;
  if (code < 0x80) return `\\x${code.toString(16).padStart(2, '0')}`;
  return code < 0x10000 ? `\\u${code.toString(16).padStart(4, '0')}` : `\\U${code.toString(16).padStart(8, '0')}`;
}

/** Go's %q of a string (strconv.Quote). */
export function goQuote(s: string): string {
  return `"${[...s].map((ch) => goEscape(ch, '"')).join('')}"`;
}

/** Go's %q of an int (strconv.QuoteRune): HEALTHCHECK's retries come out as a character literal, 3 as '\x03'. */
export function goQuoteRune(n: number): string {
  const valid = Number.isInteger(n) && n >= 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff);
  return `'${valid ? goEscape(String.fromCodePoint(n), "'") : '\\ufffd'}'`;
}

/** The digits of v's last `prec` decimal places, trailing zeros dropped, after a point (nothing if all zero). */
function fraction(v: number, prec: number): string {
  const digits = String(v % 10 ** prec).padStart(prec, '0').replace(/0+$/, '');
  return digits ? `.${digits}` : '';
}

/** Go's time.Duration String() of a count of nanoseconds: 1m30s, 500ms, 1h0m0s, 0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  const u = Math.abs(ns);
  if (u < 1e3) return `${sign}${u}ns`;
  if (u < 1e6) return `${sign}${Math.floor(u / 1e3)}${fraction(u, 3)}µs`;
  if (u < 1e9) return `${sign}${Math.floor(u / 1e6)}${fraction(u, 6)}ms`;
  const seconds = Math.floor(u / 1e9);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor(seconds / 60) % 60;
  const text = `${seconds % 60}${fraction(u, 9)}s`;
  if (seconds < 60) return sign + text;
  return `${sign}${hours ? `${hours}h` : ''}${minutes}m${text}`;
}
