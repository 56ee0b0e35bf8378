/**
 * Why a step missed the cache: its inputs this time against the inputs it
 * had in the last build of the same Dockerfile and context (kept in the
 * store), reduced to the one cause a person can act on: the instruction's
 * text, the files it copies (which ones, added, removed or modified), a
 * build arg or ENV value, USER/WORKDIR/network, the base or the step
 * before it, or --no-cache.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../cache/index.js';

/** What entered a step's key, in a form worth comparing and showing. */
export interface StepInputs {
  readonly text: string;
  readonly line: number;
  readonly parent: string;
  /** Build args (ARG values in scope) a RUN sees. */
  readonly args?: Readonly<Record<string, string>>;
  /** ENV values a RUN sees. */
  readonly env?: Readonly<Record<string, string>>;
  /** USER, WORKDIR, network and the like. */
  readonly settings?: Readonly<Record<string, string>>;
  /** COPY/ADD: each source file's path and content digest (with its mode). */
  readonly files?: Readonly<Record<string, string>>;
  /** Anything else that entered the key (mount contents, a URL's checksum...), as one digest. */
  readonly other?: string;
}

export type MissCause =
  | { readonly kind: 'new' }
  | { readonly kind: 'no-cache' }
  | { readonly kind: 'instruction'; readonly line: number; readonly before: string; readonly after: string }
  | { readonly kind: 'files'; readonly added: readonly string[]; readonly removed: readonly string[]; readonly modified: readonly string[] }
  | { readonly kind: 'arg' | 'env' | 'setting'; readonly name: string; readonly before: string | undefined; readonly after: string | undefined }
  | { readonly kind: 'base' }
  | { readonly kind: 'parent' }
  | { readonly kind: 'inputs' }
  | { readonly kind: 'gone' };

const SHOWN = 5;

function changedValue(kind: 'arg' | 'env' | 'setting', before: Readonly<Record<string, string>> | undefined, after: Readonly<Record<string, string>> | undefined): MissCause | undefined {
  const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  const name = names.find((n) => before?.[n] !== after?.[n]);
  return name === undefined ? undefined : { kind, name, before: before?.[name], after: after?.[name] };
}

/** The cause of a miss, `first` telling whether this is the stage's first filesystem step (its parent is the base). */
export function explainMiss(before: StepInputs | undefined, now: StepInputs, options: { noCache: boolean; first: boolean }): MissCause {
  if (options.noCache) return { kind: 'no-cache' };
  if (!before) return { kind: 'new' };
  if (before.text !== now.text) return { kind: 'instruction', line: now.line, before: before.text, after: now.text };
  // (Compared key by key, not as two JSON texts: a COPY of 30,000 files made that two 3 MB strings.)
  const was = before.files ?? {};
  const is = now.files ?? {};
  const added = Object.keys(is).filter((p) => !(p in was)).sort();
  const removed = Object.keys(was).filter((p) => !(p in is)).sort();
  const modified = Object.keys(is).filter((p) => p in was && was[p] !== is[p]).sort();
  if (added.length || removed.length || modified.length) return { kind: 'files', added, removed, modified };
  const value = changedValue('arg', before.args, now.args) ?? changedValue('env', before.env, now.env) ?? changedValue('setting', before.settings, now.settings);
  if (value) return value;
  if (before.other !== now.other) return { kind: 'inputs' };
  if (before.parent !== now.parent) return options.first ? { kind: 'base' } : { kind: 'parent' };
  // Same inputs, yet no cache record: it was pruned, or its layer is gone from the store.
  return { kind: 'gone' };
}

const list = (label: string, paths: readonly string[]) =>
  paths.length ? `${label} ${paths.slice(0, SHOWN).join(', ')}${paths.length > SHOWN ? ` and ${paths.length - SHOWN} more` : ''}` : '';

/** One line for people. */
export function describeCause(cause: MissCause): string {
  switch (cause.kind) {
    case 'new': return 'no earlier build of this step';
    case 'no-cache': return '--no-cache';
    case 'instruction': return `line ${cause.line} changed: "${cause.before}" -> "${cause.after}"`;
    case 'files': return `files changed: ${[list('modified', cause.modified), list('added', cause.added), list('removed', cause.removed)].filter(Boolean).join('; ')}`;
    case 'arg': return `build arg ${cause.name} changed: ${JSON.stringify(cause.before ?? null)} -> ${JSON.stringify(cause.after ?? null)}`;
    case 'env': return `ENV ${cause.name} changed: ${JSON.stringify(cause.before ?? null)} -> ${JSON.stringify(cause.after ?? null)}`;
    case 'setting': return `${cause.name} changed: ${JSON.stringify(cause.before ?? null)} -> ${JSON.stringify(cause.after ?? null)}`;
    case 'base': return 'the base image or stage changed';
    case 'parent': return 'a step before it changed';
    case 'inputs': return 'what it reads changed (directories, mounts or a download)';
    case 'gone': return 'its cached result is no longer in the store';
  }
}

/** The inputs of every step of the last build, by `stage#ordinal`. */
export type InputsRecord = Record<string, StepInputs>;

function readJSON<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // none yet, or damaged: explanations say "no earlier build", nothing worse
  }
}

function writeJSON(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value));
}

export const readInputsRecord = (file: string): InputsRecord => readJSON<InputsRecord>(file) ?? {};
export const writeInputsRecord = (file: string, record: InputsRecord): void => writeJSON(file, record);
/** Each step's key in the last build (small: read every build to see which inputs to record anew). */
export const readKeysRecord = (file: string): Record<string, string> => readJSON<Record<string, string>>(file) ?? {};
export const writeKeysRecord = (file: string, keys: Record<string, string>): void => writeJSON(file, keys);
