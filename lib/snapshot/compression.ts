/**
 * The compressions a layer or an ADD archive may come in, told by their
 * magic bytes as Docker does: gzip in-process (node:zlib); bzip2, xz and
 * zstd through the system's own tools (Debian's bzip2, xz-utils, zstd),
 * streamed, so an archive is never held in memory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib';
import { SnapshotError } from '../errors/index.js';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd';

const TOOLS: Record<Exclude<Compression, 'gzip'>, { command: string; pkg: string }> = {
  bzip2: { command: 'bzip2', pkg: 'bzip2' },
  xz: { command: 'xz', pkg: 'xz-utils' },
  zstd: { command: 'zstd', pkg: 'zstd' },
};

export function compressionOf(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return undefined;
}

function readHead(file: string, bytes: number): Buffer {
  const head = Buffer.alloc(bytes);
  const fd = openSync(file, 'r');
  try {
    return head.subarray(0, readSync(fd, head, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

const isTarHeader = (b: Buffer) => b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';

function missingTool(kind: Exclude<Compression, 'gzip'>, file: string): SnapshotError {
  return new SnapshotError(`${file} is ${kind}-compressed, and the ${TOOLS[kind].command} command is not installed`, file, { hint: `install it: apt-get install ${TOOLS[kind].pkg}` });
}

/** Whether a file is a tar archive, plain or compressed (what ADD unpacks, decided by content, never by name). */
export function isTarArchive(file: string): boolean {
  const head = readHead(file, 64 * 1024);
  const kind = compressionOf(head);
  if (!kind) return isTarHeader(head);
  if (kind === 'gzip') {
    try {
      return isTarHeader(gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH }));
    } catch {
      return false;
    }
  }
  // The start of the stream decompresses on its own; the tool complains about the missing rest, which is expected.
  const r = spawnSync(TOOLS[kind].command, ['-dc'], { input: head, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw missingTool(kind, file);
  return isTarHeader(r.stdout ?? Buffer.alloc(0));
}

/** The file's bytes, decompressed if it is compressed. */
export function openDecompressed(file: string): Readable {
  const kind = compressionOf(readHead(file, 8));
  const source = createReadStream(file);
  if (!kind) return source;
  if (kind === 'gzip') return source.pipe(createGunzip());
  const child = spawn(TOOLS[kind].command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('error', () => child.stdout.destroy(missingTool(kind, file)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) child.stdout.destroy(new SnapshotError(`cannot decompress ${file}: ${stderr.trim() || `${TOOLS[kind].command} exited with ${code}`}`, file, { hint: 'the archive is damaged or truncated' }));
  });
  source.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the tool may stop reading early; its exit status tells
  return child.stdout;
}
