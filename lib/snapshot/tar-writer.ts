/**
 * Writing layer tars ourselves, synchronously, into a file: ustar headers
 * (a PAX header before one whose name, link target, size, owner or time
 * does not fit), each entry's bytes at an offset we know. Knowing where
 * each entry starts and ends is what lets the next version of a big COPY
 * layer take its unchanged entries from the last one's tar as they are,
 * instead of reading thousands of files again (see layer-tar.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, write, writeSync } from 'node:fs';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarHeader {
  /** Path inside the archive ('/' after a directory's name is added here). */
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly size: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
}

const TYPE_FLAG: Record<TarEntryType, string> = {
  file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6',
};

const BLOCK = 512;

/** Bytes of zero padding after `size` bytes of data. */
export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** A field as zero-padded octal with a NUL, or undefined when it does not fit in `width` bytes. */
function octal(value: number, width: number): string | undefined {
  const digits = Math.floor(value).toString(8);
  return digits.length > width - 1 || value < 0 ? undefined : digits.padStart(width - 1, '0') + '\0';
}

/** ustar splits a long name into prefix/name at a slash; undefined when no split fits. */
function splitName(name: Buffer): { prefix: Buffer; rest: Buffer } | undefined {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), rest: name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    const prefix = name.subarray(0, i);
    const rest = name.subarray(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, rest };
    if (prefix.length <= 155) return undefined; // a shorter prefix only makes the rest longer
  }
  return undefined;
}

function ustarBlock(fields: {
  name: Buffer; prefix: Buffer; mode: string; uid: string; gid: string; size: string; mtime: string; flag: string; linkname: Buffer; devmajor: string; devminor: string;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  fields.name.copy(b, 0);
  b.write(fields.mode, 100, 'latin1');
  b.write(fields.uid, 108, 'latin1');
  b.write(fields.gid, 116, 'latin1');
  b.write(fields.size, 124, 'latin1');
  b.write(fields.mtime, 136, 'latin1');
  b.write(fields.flag, 156, 'latin1');
  fields.linkname.copy(b, 157);
  b.write('ustar\u000000', 257, 'latin1');
  b.write(fields.devmajor, 329, 'latin1');
  b.write(fields.devminor, 337, 'latin1');
  fields.prefix.copy(b, 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** One PAX record: "LEN key=value\n", where LEN counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/** The header block(s) of an entry: a PAX header first when ustar cannot hold it. */
export function encodeHeader(h: TarHeader): Buffer {
  const name = Buffer.from(h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name, 'utf8');
  const link = Buffer.from(h.linkname ?? '', 'utf8');
  const pax: Buffer[] = [];
  const split = splitName(name);
  if (!split) pax.push(paxRecord('path', name));
  if (link.length > 100) pax.push(paxRecord('linkpath', link));
  // A number too big for its ustar field goes in a PAX record, the field left zero.
  const numeric = (key: string, value: number, width: number): string => {
    const field = octal(value, width);
    if (field !== undefined) return field;
    pax.push(paxRecord(key, Buffer.from(String(Math.floor(value)))));
    return octal(0, width)!;
  };
  const size = numeric('size', h.size, 12);
  const uid = numeric('uid', h.uid, 8);
  const gid = numeric('gid', h.gid, 8);
  const mtime = numeric('mtime', h.mtime, 12);
  const main = ustarBlock({
    name: split?.rest ?? name.subarray(0, 100),
    prefix: split?.prefix ?? Buffer.alloc(0),
    mode: octal(h.mode & 0o7777, 8)!,
    uid,
    gid,
    size,
    mtime,
    flag: TYPE_FLAG[h.type],
    linkname: link.subarray(0, 100),
    devmajor: octal(h.devmajor ?? 0, 8)!,
    devminor: octal(h.devminor ?? 0, 8)!,
  });
  if (!pax.length) return main;
  const records = Buffer.concat(pax);
  const paxName = Buffer.from(`PaxHeader/${name.subarray(Math.max(0, name.length - 80)).toString('latin1')}`, 'latin1').subarray(0, 100);
  const paxHeader = ustarBlock({
    name: paxName, prefix: Buffer.alloc(0), mode: octal(0o644, 8)!, uid: octal(0, 8)!, gid: octal(0, 8)!, size: octal(records.length, 12)!,
    mtime: octal(0, 12)!, flag: 'x', linkname: Buffer.alloc(0), devmajor: octal(0, 8)!, devminor: octal(0, 8)!,
  });
  return Buffer.concat([paxHeader, records, Buffer.alloc(paddingOf(records.length)), main]);
}

/**
 * A tar written to a file: bytes go out in 1 MiB writes, hashed (sha256)
 * as they go. The writes run on libuv's thread pool, each at its own
 * position, while the caller goes on producing (and hashing) the next
 * megabyte: copying a layer's bytes into the page cache is as much work
 * as hashing them.
 */
export interface TarFile {
  /** Bytes written so far (the offset of the next entry). */
  readonly offset: number;
  write(bytes: Uint8Array): void;
  /** Writes the two zero blocks that end an archive, waits for the writes, closes the file; returns the tar's sha256 and size. */
  finish(): Promise<{ diffId: string; size: number }>;
  /** Closes the file (once its writes are done) without finishing it; the caller removes it. */
  abort(): void;
}

const SINK_BYTES = 1024 * 1024;
/**
 * Sink buffers whose writes are done, for the next megabytes: a fresh
 * megabyte from the allocator is 256 page faults when first filled, which
 * cost a 20 MB layer some 20 ms here.
 */
const spareSinks: Buffer[] = [];
const sink = () => spareSinks.pop() ?? Buffer.allocUnsafeSlow(SINK_BYTES);
const release = (b: Buffer) => {
  if (spareSinks.length < 4) spareSinks.push(b);
};

export function tarFile(file: string): TarFile {
  const fd = openSync(file, 'w', 0o644);
  const hash: Hash = createHash('sha256');
  let buffer = sink();
  let used = 0;
  let offset = 0;
  /** Where the next write lands in the file. */
  let position = 0;
  let inFlight: Promise<void>[] = [];
  let failed: Error | undefined;
  let closed = false;
  /** Hands `bytes` to the thread pool; the caller gives them up (they are written later). */
  const writeBehind = (bytes: Buffer, whole: Buffer) => {
    const at = position;
    position += bytes.length;
    inFlight.push(new Promise((resolve) => {
      const next = (done: number) => {
        if (done === bytes.length) {
          release(whole);
          return resolve();
        }
        write(fd, bytes, done, bytes.length - done, at + done, (e, n) => {
          if (e) {
            failed ??= e;
            return resolve();
          }
          next(done + n);
        });
      };
      next(0);
    }));
  };
  const flush = () => {
    if (!used) return;
    const full = buffer.subarray(0, used);
    hash.update(full);
    writeBehind(full, buffer);
    buffer = sink();
    used = 0;
  };
  const settled = async () => {
    await Promise.all(inFlight);
    inFlight = [];
    if (failed) throw failed;
  };
  const close = () => {
    if (!closed) {
      closed = true;
      closeSync(fd);
    }
  };
  return {
    get offset() {
      return offset;
    },
    write(bytes) {
      offset += bytes.length;
      if (used + bytes.length > SINK_BYTES) flush();
      if (bytes.length >= SINK_BYTES) {
        // A caller's own big buffer may be reused as soon as this returns: written now, in place.
        hash.update(bytes);
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, position + at);
        position += bytes.length;
      } else {
        buffer.set(bytes, used);
        used += bytes.length;
      }
    },
    async finish() {
      this.write(Buffer.alloc(2 * BLOCK));
      flush();
      release(buffer); // the next one, unused
      try {
        await settled();
      } finally {
        close();
      }
      return { diffId: `sha256:${hash.digest('hex')}`, size: offset };
    },
    abort() {
      // A write still on the thread pool must not land in whatever file next gets this descriptor.
      void Promise.allSettled(inFlight).then(close);
    },
  };
}
