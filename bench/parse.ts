/**
 * Dockerfiles parsed per second on the parser fixtures (and the examples),
 * against a floor measured in the same run: splitting the same text into
 * lines and testing each with one regular expression, the least any
 * line-oriented parser must do. No threshold: it is here to catch regressions.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDockerfile, parseDockerfile, planBuild } from '../lib/dockerfile/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function corpus(): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  const fixtures = path.join(process.env.STRATA_CONFORMANCE ?? path.join(root, '..', 'shared', 'conformance'), 'dockerfile-parser', 'testfiles');
  if (existsSync(fixtures)) {
    for (const name of readdirSync(fixtures).sort()) {
      const file = path.join(fixtures, name, 'Dockerfile');
      if (existsSync(file)) out.push({ name, bytes: readFileSync(file) });
    }
  }
  for (const name of readdirSync(path.join(root, 'examples')).sort()) {
    const file = path.join(root, 'examples', name, 'Dockerfile');
    if (existsSync(file)) out.push({ name: `examples/${name}`, bytes: readFileSync(file) });
  }
  return out;
}

/** Runs `fn` over the corpus repeatedly for about `ms`; returns files per second. */
function rate(files: { bytes: Buffer }[], ms: number, fn: (bytes: Buffer) => unknown): number {
  for (let i = 0; i < 3; i++) for (const f of files) fn(f.bytes); // warm up the JIT
  let count = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (const f of files) fn(f.bytes);
    count += files.length;
    now = process.hrtime.bigint();
  }
  return count / (Number(now - start) / 1e9);
}

const INSTRUCTION = /^\s*([A-Za-z]+)\s/;

export function benchParse(ms = 1500): string[] {
  const files = corpus();
  let sink = 0;
  const floor = rate(files, ms, (bytes) => {
    for (const line of bytes.toString('utf8').split('\n')) if (INSTRUCTION.test(line)) sink++;
  });
  const parse = rate(files, ms, (bytes) => parseDockerfile(bytes));
  const frontend = rate(files, ms, (bytes) => {
    try {
      planBuild(loadDockerfile(bytes));
    } catch {
      // A few fixtures use instructions without a FROM; they still count.
    }
  });
  if (sink < 0) console.log(sink);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
  return [
    `parse: ${files.length} Dockerfiles (BuildKit fixtures + examples), ${ms} ms per measurement`,
    `  floor (split lines + one regex per line) ${fmt(floor)} files/s`,
    `  parse (syntax tree)                      ${fmt(parse)} files/s   ${(floor / parse).toFixed(1)}x floor`,
    `  parse + typed instructions + plan        ${fmt(frontend)} files/s   ${(floor / frontend).toFixed(1)}x floor`,
  ];
}
