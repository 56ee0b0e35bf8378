/**
 * tar-stream, loaded on first use: a build whose every step comes from the
 * cache writes and reads no tar, and should not pay for loading it.
 */
import { createRequire } from 'node:module';
import type { Extract, Pack } from 'tar-stream';

const load = createRequire(import.meta.url);
let tarStream: typeof import('tar-stream') | undefined;
const module = () => (tarStream ??= load('tar-stream') as typeof import('tar-stream'));

export function tarPack(): Pack {
  return module().pack();
}

export function tarExtract(): Extract {
  return module().extract();
}
