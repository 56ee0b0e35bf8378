// Bundles the CLI (dist/lib/cli/main.js and what it imports) into
// dist/lib/strata/: one file per command, loaded when that command runs.
// Node's ES module loader costs about a millisecond per file, and `strata
// build` reaches some eighty of them: bundled, the CLI starts 30 to 70 ms
// sooner. The bundle sits at the same depth under dist/ as the modules it
// replaces, so paths they take from import.meta.url (../../libexec,
// ../../workers, the package.json) still hold. Packages stay external.
// The worker threads load dist/workers/ unbundled, and the tests import
// dist/lib/ directly.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'lib', 'strata');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'dist', 'lib', 'cli', 'main.js')],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir,
  sourcemap: true,
  logLevel: 'warning',
});
