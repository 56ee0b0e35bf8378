/**
 * ADD of an http(s) URL: the file is downloaded (never unpacked, as in
 * Docker), written with mode 0600 unless --chmod says otherwise, dated by
 * the server's Last-Modified. With --checksum the step's key is that
 * checksum, so a cache hit needs no download at all, and a download whose
 * content does not match is refused; without it the key is the content
 * downloaded.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors/index.js';

export const REMOTE_SOURCE = /^https?:\/\//i;
export const GIT_SOURCE = /^(git@|git:\/\/)|^https?:\/\/\S+\.git(#\S*)?$/i;

/** Whether an ADD source is fetched from elsewhere (a URL, a git repository) rather than read from the context. */
export function isRemoteSource(source: string): boolean {
  return REMOTE_SOURCE.test(source) || GIT_SOURCE.test(source);
}

export interface Download {
  readonly file: string;
  /** sha256:<hex> of the content. */
  readonly digest: string;
  readonly modified: Date | undefined;
}

/** The file name a URL gives ADD: the last segment of its path. */
export function remoteFileName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? '');
  return name && name !== '..' && name !== '.' ? name : '__unnamed__';
}

/** A --checksum value as BuildKit accepts it: sha256:<64 hex> (or sha384/sha512). */
export function parseChecksum(value: string, where: { file: string; line: number }): { algorithm: string; hex: string } {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(value);
  const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]!.length !== lengths[m[1]!]) {
    throw new BuildError(`invalid --checksum ${value}`, where, { hint: 'write --checksum=sha256:<64 hex digits>' });
  }
  return { algorithm: m[1]!, hex: m[2]! };
}

export async function download(url: string, dir: string, where: { file: string; line: number }, signal: AbortSignal, checksum?: { algorithm: string; hex: string }): Promise<Download> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new BuildError(`cannot download ${url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`, where, { hint: 'check the URL and the network (strata uses no proxy for ADD)' });
  }
  if (!response.ok || !response.body) {
    throw new BuildError(`cannot download ${url}: the server answered ${response.status} ${response.statusText}`, where, { hint: 'check the URL' });
  }
  const file = path.join(mkdtempSync(path.join(dir, 'download-')), 'content');
  const sha256 = createHash('sha256');
  const verify = checksum && checksum.algorithm !== 'sha256' ? createHash(checksum.algorithm) : undefined;
  await pipeline(
    Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sha256.update(chunk);
        verify?.update(chunk);
        cb(null, chunk);
      },
    }),
    createWriteStream(file),
  );
  const hex = sha256.digest('hex');
  if (checksum) {
    const got = verify ? verify.digest('hex') : hex;
    if (got !== checksum.hex) {
      throw new BuildError(`checksum mismatch for ${url}: expected ${checksum.algorithm}:${checksum.hex}, got ${checksum.algorithm}:${got}`, where, {
        hint: 'the file at that URL is not the one the Dockerfile pins; update --checksum only if the new file is trusted',
      });
    }
  }
  const lastModified = response.headers.get('last-modified');
  const modified = lastModified ? new Date(lastModified) : undefined;
  return { file, digest: `sha256:${hex}`, modified: modified && !Number.isNaN(modified.getTime()) ? modified : undefined };
}
