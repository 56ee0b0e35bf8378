#!/usr/bin/env node
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Modification time of a file next to this one, or undefined. */
const mtime = (rel: string) => statSync(fileURLToPath(new URL(rel, import.meta.url)), { throwIfNoEntry: false })?.mtimeMs;

// The bundled CLI (scripts/bundle.mjs) starts faster. It is used unless it is missing or older than the
// last tsc run (a bare `tsc` after a change): then the modules tsc wrote, the same code, are.
const bundle = mtime('../lib/strata/main.js');
const compiled = mtime('../.tsbuildinfo');
const entry = bundle !== undefined && (compiled === undefined || bundle >= compiled) ? '../lib/strata/main.js' : '../lib/cli/main.js';
const { main } = (await import(entry)) as typeof import('../lib/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
