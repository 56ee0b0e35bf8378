/**
 * Checking a big stat cache with the strata-stat helper (native/stat.c):
 * it lstats every row's path on every core and hands back packed records,
 * which are compared with the cache here exactly as verifyRange compares
 * an lstat. strata-stat.node (native/stat-addon.c) makes the same lstats
 * inside this process. Where neither was built (no C compiler), or they
 * fail, the caller checks the rows itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { KIND_CODES, RACY_MARGIN_NS, type StatCache } from './stat-cache.js';

const HELPER = fileURLToPath(new URL('../../libexec/strata-stat', import.meta.url));
const ADDON = fileURLToPath(new URL('../../libexec/strata-stat.node', import.meta.url));
/** inode, size, mtime ns, ctime ns (8 bytes each), st_mode, errno (4 each). */
const RECORD_BYTES = 40;
/** Above this many rows, starting the helper (a few ms) costs less than the lstats it takes off this thread. */
export const HELPER_ROWS = 4096;

const S_IFMT = 0o170000;
const KIND_OF_TYPE = new Map<number, (typeof KIND_CODES)[number]>([[0o100000, 'file'], [0o040000, 'dir'], [0o120000, 'symlink']]);

let available: boolean | undefined;
export function statHelperAvailable(): boolean {
  return (available ??= process.platform === 'linux' && existsSync(HELPER));
}

/** The paths of every row, NUL-terminated: what the helper reads on its standard input. */
function pathTable(cache: StatCache): Uint8Array {
  return cache.pathBytes.subarray(0, cache.count ? cache.pathEnds[cache.count - 1]! : 0);
}

/** The helper's records for every row of `cache` (paths relative to root), or undefined if it could not give them. */
function runHelper(root: string, cache: StatCache): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const child = spawn(HELPER, [root], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      const out = Buffer.concat(chunks);
      resolve(code === 0 && out.length === cache.count * RECORD_BYTES ? out : undefined);
    });
    child.stdin.on('error', () => undefined); // a helper that died early: 'close' says so
    child.stdin.end(pathTable(cache));
  });
}

/**
 * Rows of the stat cache whose entry is gone or differs (kind, mode, size,
 * mtime, ctime, inode), or is racily clean: what verifyRange finds, from
 * the helper's lstats. Undefined when the helper is missing or failed.
 */
export async function verifyWithHelper(root: string, cache: StatCache): Promise<number[] | undefined> {
  if (!statHelperAvailable()) return undefined;
  const out = await runHelper(root, cache);
  return out && changedRows(cache, out);
}

/**
 * verifyWithHelper for a process with nothing else to do meanwhile: it
 * waits for the helper without streams or sockets (some 5 ms less).
 */
export function verifyWithHelperSync(root: string, cache: StatCache): number[] | undefined {
  if (!statHelperAvailable()) return undefined;
  const run = spawnSync(HELPER, [root], { input: pathTable(cache), stdio: ['pipe', 'pipe', 'ignore'], maxBuffer: cache.count * RECORD_BYTES + 1 });
  return run.status === 0 && run.stdout.length === cache.count * RECORD_BYTES ? changedRows(cache, run.stdout) : undefined;
}

type StatAddon = { statPaths(root: string, paths: Uint8Array): Buffer };
let addon: StatAddon | null | undefined;

function statAddon(): StatAddon | null {
  if (addon === undefined) {
    try {
      addon = process.platform === 'linux' && existsSync(ADDON) ? (createRequire(import.meta.url)(ADDON) as StatAddon) : null;
    } catch {
      addon = null; // (built for another machine, say: the other ways remain)
    }
  }
  return addon;
}

/**
 * verifyWithHelper without a process of its own: for a process with
 * nothing else to do meanwhile (2,300 rows: 4 ms, against some 20 for the
 * helper, child_process, fork and exec included). Undefined when
 * strata-stat.node is missing, or failed (a root it cannot open).
 */
export function verifyInProcess(root: string, cache: StatCache): number[] | undefined {
  const loaded = statAddon();
  if (!loaded) return undefined;
  try {
    const out = loaded.statPaths(root, pathTable(cache));
    return out.length === cache.count * RECORD_BYTES ? changedRows(cache, out) : undefined;
  } catch {
    return undefined;
  }
}

/** The rows whose helper record differs from the cache, as verifyRange would find them. */
function changedRows(cache: StatCache, records: Buffer): number[] {
  let out = records;
  if (out.byteOffset % 8) out = Buffer.from(out); // typed views need aligned offsets
  const words = new BigUint64Array(out.buffer, out.byteOffset, out.length / 8);
  const small = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  const changed: number[] = [];
  for (let i = 0; i < cache.count; i++) {
    const w = i * (RECORD_BYTES / 8);
    const mode = small[i * (RECORD_BYTES / 4) + 8]!;
    const err = small[i * (RECORD_BYTES / 4) + 9]!;
    const kind = KIND_OF_TYPE.get(mode & S_IFMT) ?? 'other';
    const mtimeNs = words[w + 2]!;
    if (
      err !== 0 ||
      kind !== KIND_CODES[cache.kinds[i]!] ||
      (mode & 0o7777) !== cache.modes[i] ||
      mtimeNs !== cache.mtimes[i] ||
      words[w + 3] !== cache.ctimes[i] ||
      words[w] !== cache.inos[i] ||
      (kind === 'file' && words[w + 1] !== cache.sizes[i]) ||
      mtimeNs + RACY_MARGIN_NS >= cache.takenAtNs
    ) {
      changed.push(i);
    }
  }
  return changed;
}
