/**
 * The one place that calls xxhash-addon. The addon checks nothing at run
 * time (a wrong argument crashes the process), so every call goes through
 * these typed functions. XXH128, 16-byte digests.
 */
import { createRequire } from 'node:module';

interface XXHashInstance {
  update(data: Buffer): void;
  digest(): Buffer;
  reset(): void;
}
interface XXHash128Class {
  new (seed: Buffer): XXHashInstance;
  hash(data: Buffer): Buffer;
}

// Loaded at the first digest (a few ms): a build with nothing to do never computes one.
let loaded: { XXHash128: XXHash128Class } | undefined;
const addon = () => (loaded ??= createRequire(import.meta.url)('xxhash-addon') as { XXHash128: XXHash128Class });
const SEED = Buffer.alloc(8);


/** XXH128 of some bytes. */
export function xxh128(data: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return addon().XXHash128.hash(buf);
}

/** An incremental XXH128: the digest equals xxh128 of all updates concatenated. */
export interface DigestStream {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

export function xxh128Stream(): DigestStream {
  const state = new (addon().XXHash128)(SEED);
  return {
    update(data) {
      state.update(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },
    digest: () => state.digest(),
  };
}
