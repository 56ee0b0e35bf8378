/**
 * Cache keys: sha256 over a canonical JSON of everything a step's result
 * depends on (the parent's key, the parsed instruction after expansion, and
 * the step's inputs). Pure: the same inputs give the same key on any
 * machine, whatever the order the fields were written in.
 */
import { createHash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function canonicalJSONOf(value: unknown): string {
  return JSON.stringify(canonical(value));
}

export function cacheKey(parts: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(canonicalJSONOf(parts)).digest('hex')}`;
}
