/**
 * A CI machine with an empty store: the bundled multi-stage example built
 * with --cache-from a registry cache that an earlier build pushed
 * (--cache-to type=registry,mode=max), against a full cold build and a
 * local warm rebuild, all through the CLI on loopback (Debian's
 * docker-registry on a free port). Goal: within 1.5x the local warm
 * rebuild. A no-change rebuild is now answered without the build engine
 * (lib/build/up-to-date.ts), so the warm rebuild is timed both ways: as a
 * user gets it, and with its up-to-date record removed, every step then
 * taken from the local cache by the engine, as the --cache-from build
 * takes them from the registry's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'bin', 'strata.cjs');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function timed(args: string[], store: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, STRATA_STORE: store } });
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function benchCi(): Promise<string[]> {
  if (spawnSync('sh', ['-c', 'command -v docker-registry']).status !== 0) return ['ci: docker-registry is not installed (scripts/setup-system.sh installs it); skipped'];
  const work = mkdtempSync(path.join(tmpdir(), 'strata-bench-ci-'));
  const port = await freePort();
  writeFileSync(path.join(work, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${work}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const registry = spawn('docker-registry', ['serve', path.join(work, 'config.yml')], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)); i++) await delay(100);
    const rootfs = path.join(work, 'rootfs');
    spawnSync('bash', [path.join(root, 'scripts', 'make-busybox-rootfs.sh'), rootfs]);
    const seed = path.join(work, 'seed');
    mkdirSync(seed);
    timed(['image', 'import', rootfs, '--tag', 'busybox:local'], seed);
    const example = path.join(root, 'examples', 'hello');
    const cacheRef = `127.0.0.1:${port}/cache/hello:buildcache`;
    const first = path.join(work, 'first');
    cpSync(seed, first, { recursive: true });
    const cold = timed(['build', '--progress', 'plain', '--cache-to', `type=registry,ref=${cacheRef},mode=max`, example], first);
    // Best of three, as the other benchmarks take: each --cache-from run on a store just copied from the seed.
    const best = (run: () => number) => Math.min(run(), run(), run());
    const warm = best(() => timed(['build', '--progress', 'plain', example], first));
    const warmBuilt = best(() => {
      rmSync(path.join(first, 'cache', 'up-to-date'), { recursive: true, force: true });
      return timed(['build', '--progress', 'plain', example], first);
    });
    let runs = 0;
    const fromRegistry = best(() => {
      const ci = path.join(work, `ci-${runs++}`);
      cpSync(seed, ci, { recursive: true });
      return timed(['build', '--progress', 'plain', '--cache-from', `type=registry,ref=${cacheRef}`, example], ci);
    });
    return [
      'ci: examples/hello on an empty store with --cache-from a registry cache (loopback), strata CLI',
      `  cold build (and --cache-to)       ${cold.toFixed(2)} s`,
      `  local warm rebuild (best of 3)    ${warm.toFixed(2)} s   (answered without the build engine)`,
      `  local warm rebuild by the engine (best of 3, its up-to-date record removed) ${warmBuilt.toFixed(2)} s`,
      `  empty store, --cache-from (best of 3, a fresh store each) ${fromRegistry.toFixed(2)} s   ${(fromRegistry / warm).toFixed(2)}x the warm rebuild, ` +
        `${(fromRegistry / warmBuilt).toFixed(2)}x the warm rebuild by the engine (goal <= 1.5x)`,
    ];
  } finally {
    registry.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}
