// Bundles the CLI (dist/lib/cli/main.js and what it imports) into one
// CommonJS file, dist/lib/strata/main.cjs, which dist/bin/strata.js runs
// with a V8 code cache (see bin/strata.ts). Node's ES module loader costs
// about a millisecond per file, and `strata build` reaches some eighty of
// them; CommonJS loads sooner still, and only a plain script can be
// compiled from a code cache on Node 20. The bundle sits at the same depth
// under dist/ as the modules it replaces, so paths taken from
// import.meta.url (../../libexec, ../../workers, the package.json) still
// hold. Packages stay external. The worker threads load dist/workers/
// unbundled, and the tests import dist/lib/ directly.
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
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outfile: path.join(outdir, 'main.cjs'),
  // import.meta does not exist in CommonJS: the bundle's own URL stands in for each module's.
  define: { 'import.meta.url': '__strataBundleUrl' },
  banner: { js: 'const __strataBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: true,
  logLevel: 'warning',
});
