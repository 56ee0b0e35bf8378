/**
 * Talking to strata-ovl (native/ovl.c): one `strata-ovl serve` process per
 * build process, started on first use and fed one command at a time over
 * its stdin, rather than a process per mount, unmount and listing. A Node
 * process that has grown to hundreds of megabytes pays 10-25 ms of its own
 * time for each fork; a RUN step made four. Where the server cannot be
 * started, or stops, each command runs as a process of its own.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const OVL_HELPER = fileURLToPath(new URL('../../libexec/strata-ovl', import.meta.url));
// (Made when first called: child_process is loaded only by a process that runs the helper.)
const runOnce = (file: string, args: readonly string[], options: { maxBuffer: number; encoding: 'utf8' }) => promisify(execFile)(file, args, options);

/** A failed command: its message, where child_process would put it. */
export class OvlError extends Error {
  constructor(readonly stderr: string) {
    super(stderr);
  }
}

interface Pending {
  readonly resolve: (out: string) => void;
  readonly reject: (e: Error) => void;
}

interface Server {
  readonly child: ChildProcessByStdio<Writable, Readable, null>;
  readonly pending: Pending[];
  buffered: Buffer;
}

let server: Server | undefined;
/** The helper speaks in the machine's byte order. */
const LE = endianness() === 'LE';
let unavailable = false;

function start(): Server | undefined {
  if (unavailable || !existsSync(OVL_HELPER)) return undefined;
  const child = spawn(OVL_HELPER, ['serve'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const s: Server = { child, pending: [], buffered: Buffer.alloc(0) };
  const stop = (why: Error) => {
    if (server === s) server = undefined;
    unavailable = true;
    for (const p of s.pending.splice(0)) p.reject(why);
  };
  child.on('error', (e) => stop(e));
  child.on('exit', () => stop(new Error('strata-ovl serve stopped')));
  child.stdin.on('error', () => undefined); // 'exit' says what happened
  child.stdout.on('data', (chunk: Buffer) => {
    s.buffered = s.buffered.length ? Buffer.concat([s.buffered, chunk]) : chunk;
    while (s.buffered.length >= 8) {
      const status = LE ? s.buffered.readUInt32LE(0) : s.buffered.readUInt32BE(0);
      const length = LE ? s.buffered.readUInt32LE(4) : s.buffered.readUInt32BE(4);
      if (s.buffered.length < 8 + length) break;
      const text = s.buffered.toString('utf8', 8, 8 + length);
      s.buffered = s.buffered.subarray(8 + length);
      const p = s.pending.shift();
      if (status === 0) p?.resolve(text);
      else p?.reject(new OvlError(text));
    }
    if (!s.pending.length) idle(s);
  });
  idle(s);
  return s;
}

/** Nothing waits for an answer: the server must not keep the process alive. */
function idle(s: Server): void {
  s.child.unref();
  (s.child.stdout as unknown as { unref(): void }).unref();
  (s.child.stdin as unknown as { unref(): void }).unref();
}

function busy(s: Server): void {
  s.child.ref();
  (s.child.stdout as unknown as { ref(): void }).ref();
}

/** Runs a strata-ovl command; resolves with what it printed, rejects with an OvlError saying why it failed. */
export async function ovl(args: readonly string[]): Promise<string> {
  server ??= start();
  const s = server;
  if (!s) {
    try {
      return (await runOnce(OVL_HELPER, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' })).stdout;
    } catch (e) {
      throw new OvlError((e as { stderr?: string }).stderr?.trim() || (e as Error).message);
    }
  }
  const payload = Buffer.concat(args.map((a) => Buffer.from(`${a}\0`)));
  const head = Buffer.alloc(4);
  if (LE) head.writeUInt32LE(payload.length);
  else head.writeUInt32BE(payload.length);
  return new Promise((resolve, reject) => {
    s.pending.push({ resolve, reject });
    busy(s);
    s.child.stdin.write(Buffer.concat([head, payload]));
  });
}
