// Bundles the CLI (dist/lib/cli/main.js and what it imports) into one
// CommonJS file, dist/lib/strata/main.cjs, which dist/bin/strata.cjs runs
// with a V8 code cache (see bin/strata.cts). Node's ES module loader costs
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
  [path.join(root, 'dist', 'lib', 'cli', 'quick.js'), 'quick.cjs'],
  [path.join(root, 'dist', 'workers', 'hash-files.js'), 'hash-files.cjs'],
  [path.join(root, 'dist', 'workers', 'layer-tar.js'), 'layer-tar.cjs'],
];
/**
 * Node's heavier built-in modules, required where they are first used
 * rather than when the bundle starts: esbuild hoists every import to the
 * top, and a module imported for one function would cost each start its
 * load (node:crypto alone some 7 ms, child_process and the stream classes
 * 3-4 ms each) whether or not that function runs. The stand-in has no
 * properties of its own, so esbuild's interop copies none; every name is
 * looked up through its prototype, a proxy that requires the module then.
 */
const LAZY_BUILTINS = /^node:(crypto|child_process|zlib|stream|stream\/promises|worker_threads|https|http|net|tls|readline)$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    // (The stand-in's own require is the real module.)
    b.onResolve({ filter: LAZY_BUILTINS }, (args) => (args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `let loaded;
const load = () => (loaded ??= require(${JSON.stringify(args.path)}));
module.exports = Object.create(new Proxy({}, { get: (_, name) => load()[name] }));`,
      loader: 'js',
    }));
  },
};

await Promise.all(bundles.map(([entry, name]) => build({
  plugins: [lazyBuiltins],
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
