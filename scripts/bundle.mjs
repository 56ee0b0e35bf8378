// Bundles the CLI (dist/lib/cli/main.js and what it imports) into one
// CommonJS file, dist/lib/strata/main.cjs, which dist/bin/strata.js runs
// with a V8 code cache (see bin/strata.ts). Node's ES module loader costs
// about a millisecond per file, and `strata build` reaches some eighty of
// them; CommonJS loads sooner still, and only a plain script can be
// compiled from a code cache on Node 20. The worker threads' code is
// bundled beside it (hash-files.cjs, layer-tar.cjs), and the bundle starts
// its threads from those: a thread then loads its code in 10-15 ms rather
// than 50-60 ms. The bundles sit at the same depth under dist/ as the
// modules they replace, so paths taken from import.meta.url
// (../../libexec, the package.json) still hold. Packages stay external.
// The tests import dist/lib/ directly, and their threads load
// dist/workers/ unbundled.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'lib', 'strata');
rmSync(outdir, { recursive: true, force: true });
const bundles = [
  [path.join(root, 'dist', 'lib', 'cli', 'main.js'), 'main.cjs'],
  [path.join(root, 'dist', 'workers', 'hash-files.js'), 'hash-files.cjs'],
  [path.join(root, 'dist', 'workers', 'layer-tar.js'), 'layer-tar.cjs'],
];
await Promise.all(bundles.map(([entry, name]) => build({
  entryPoints: [entry],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outfile: path.join(outdir, name),
  // import.meta does not exist in CommonJS: the bundle's own URL stands in for each module's.
  define: { 'import.meta.url': '__strataBundleUrl' },
  banner: { js: 'const __strataBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: true,
  logLevel: 'warning',
})));
