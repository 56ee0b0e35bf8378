/**
 * Pulling and pushing images. A pull negotiates OCI and Docker manifests
 * and indexes (picking the platform from an index), verifies every blob's
 * digest and size as it lands in the store (each written to a temp file
 * and renamed only once verified, so a failed pull leaves nothing
 * partial), keeps blobs it already has, and names the image last. A push
 * uploads only the blobs the registry lacks (a HEAD first), in parallel,
 * then the manifest.
 */
import { createHash } from 'node:crypto';
import { openAsBlob, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { blobOrigins, blobPath, blobWriter, hasBlob, noteBlobOrigin, putBlob, type Descriptor } from '../../cache/index.js';
import { ImageError } from '../../errors/index.js';
import { compressedManifest } from '../compressed.js';
import { MEDIA, type Manifest } from '../oci.js';
import { readManifest } from '../read.js';
import { requireImage, tagImage } from '../refs.js';
import { connectionFailure, openRepository, request, type RegistryOptions, type Repository } from './client.js';
import type { HttpResponse } from './http.js';
import { formatRemoteRef, parseRemoteRef } from './reference.js';

const MANIFEST_TYPES = [MEDIA.manifest, MEDIA.index, MEDIA.dockerManifest, 'application/vnd.docker.distribution.manifest.list.v2+json'];
const PARALLEL = 4;

export interface TransferProgress {
  readonly digest: string;
  /** Bytes moved so far (all of them once done). */
  readonly bytes: number;
  /** The blob's size. */
  readonly total: number;
  /**
   * 'started': about to move (every blob is announced first, so totals are known at once); 'progress':
   * bytes moving; 'exists': the other side had it already; 'mounted': the registry took it from another
   * repository of its own.
   */
  readonly state: 'started' | 'progress' | 'done' | 'exists' | 'mounted';
}

/** Bytes between two 'progress' reports of one blob. */
const PROGRESS_STEP = 256 * 1024;

export interface PullOptions extends RegistryOptions {
  /** os/arch[/variant] to take from an index (default: linux/amd64, the host's). */
  readonly platform?: string;
  readonly onBlob?: (progress: TransferProgress) => void;
}

/** Runs `work` on each item, at most `limit` at a time. */
async function bounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

function notFound(ref: string, what: string): ImageError {
  return new ImageError(`${ref} was not found in the registry (${what})`, ref, { hint: 'check the name and tag; strata image pull REGISTRY/NAME:TAG' });
}

export async function getManifest(repo: Repository, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const where = formatRemoteRef(repo.ref);
  const response = await request(repo, `manifests/${reference}`, { headers: { accept: MANIFEST_TYPES.join(', ') } });
  if (response.status === 404) throw notFound(where, `no manifest ${reference}`);
  if (!response.ok) throw new ImageError(`the registry answered ${response.status} for the manifest of ${where}`, where, { hint: 'try again later' });
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const claimed = response.headers.get('docker-content-digest');
  if ((reference.startsWith('sha256:') && reference !== digest) || (claimed && claimed.startsWith('sha256:') && claimed !== digest)) {
    throw new ImageError(`the manifest of ${where} does not match its digest (got ${digest})`, where, { hint: 'the registry sent something else than it names; nothing was stored' });
  }
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim() || (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType || MEDIA.manifest;
  return { bytes, mediaType, digest };
}

/** Attempts at a blob download that breaks off; each one starts again from the first byte (no Range resumption). */
export const BLOB_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

/** A download that failed in a way another attempt may not (the connection, the registry's 5xx, a short body). */
class TransientFailure extends Error {}

/**
 * Downloads a blob into the store, verified by size and digest. A transfer
 * that breaks off, a 5xx or 429 answer or a connection that fails is tried
 * again from the first byte (BLOB_ATTEMPTS in all); a 404, refused
 * credentials or a whole answer of the wrong size or digest is not: trying
 * again would get the same. Nothing partial is ever stored.
 */
export async function fetchBlob(repo: Repository, store: string, desc: Descriptor, onBytes?: (bytes: number) => void): Promise<void> {
  const where = formatRemoteRef(repo.ref);
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchBlobOnce(repo, store, desc, where, onBytes);
      return;
    } catch (e) {
      if (!(e instanceof TransientFailure)) throw e;
      if (attempt >= BLOB_ATTEMPTS) {
        throw new ImageError(`the download of ${desc.digest} from ${where} failed ${BLOB_ATTEMPTS} times: ${e.message}`, where, { hint: 'check the network and the registry, and try again; nothing partial was stored' });
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
    }
  }
}

async function fetchBlobOnce(repo: Repository, store: string, desc: Descriptor, where: string, onBytes: ((bytes: number) => void) | undefined): Promise<void> {
  let response: HttpResponse;
  try {
    response = await request(repo, `blobs/${desc.digest}`);
  } catch (e) {
    // A connection that failed is worth another try; refused credentials are not.
    const failure = connectionFailure(e);
    if (failure === undefined) throw e;
    throw new TransientFailure(`the connection failed (${failure})`);
  }
  if (response.status === 404) throw notFound(where, `no blob ${desc.digest}`);
  if (response.status >= 500 || response.status === 429) {
    await response.arrayBuffer().catch(() => undefined);
    throw new TransientFailure(`the registry answered ${response.status}`);
  }
  if (!response.ok) throw new ImageError(`the registry answered ${response.status} for blob ${desc.digest} of ${where}`, where, { hint: 'try again later' });
  const writer = blobWriter(store);
  let size = 0;
  try {
    const source = response.body;
    let reported = 0;
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (onBytes && size - reported >= PROGRESS_STEP) onBytes((reported = size));
    });
    await pipeline(source, writer.stream);
  } catch (e) {
    writer.abort();
    throw new TransientFailure(`it broke off after ${size} of ${desc.size} bytes (${(e as Error).message})`);
  }
  if (size !== desc.size) {
    // The answer was whole (a cut connection errors the stream above): the registry holds a blob of another size.
    writer.abort();
    throw new ImageError(`blob ${desc.digest} of ${where} is ${size} bytes, the manifest says ${desc.size}`, where, { hint: 'the registry holds a damaged blob; nothing was stored' });
  }
  await writer.finish(desc.digest).catch((e: unknown) => {
    throw new ImageError(`blob ${desc.digest} of ${where} does not match its digest`, where, { cause: e, hint: 'the registry holds a damaged blob; nothing was stored' });
  });
}

function hostPlatformName(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
  return `linux/${arch}`;
}

/** Pulls `ref` into the store and names it `localName` (default: the reference as written). Returns the manifest's descriptor. */
export async function pullImage(store: string, ref: string, localName: string, options: PullOptions = {}): Promise<Descriptor> {
  const remote = parseRemoteRef(ref);
  const repo = openRepository(remote, 'pull', options);
  let top = await getManifest(repo, remote.digest ?? remote.tag!);
  let parsed = JSON.parse(top.bytes.toString('utf8')) as Manifest & { manifests?: (Descriptor & { platform?: { os: string; architecture: string; variant?: string } })[] };
  if (parsed.manifests) {
    const want = options.platform ?? hostPlatformName();
    const [os, arch, variant] = want.split('/');
    const pick = parsed.manifests.find((m) => m.platform?.os === os && m.platform?.architecture === arch && (!variant || m.platform?.variant === variant));
    if (!pick) {
      const offered = parsed.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : '?')).join(', ');
      throw new ImageError(`${ref} has no image for ${want}`, ref, { hint: `it offers ${offered || 'none'}; pass --platform` });
    }
    top = await getManifest(repo, pick.digest);
    parsed = JSON.parse(top.bytes.toString('utf8')) as typeof parsed;
  }
  if (!parsed.config || !Array.isArray(parsed.layers)) throw new ImageError(`${ref} is not an image manifest`, ref, { hint: 'strata pulls container images' });
  const blobs = [parsed.config, ...parsed.layers];
  const missing = blobs.filter((b) => !hasBlob(store, b.digest));
  for (const desc of missing) options.onBlob?.({ digest: desc.digest, bytes: 0, total: desc.size, state: 'started' });
  await bounded(missing, PARALLEL, async (desc) => {
    await fetchBlob(repo, store, desc, (bytes) => options.onBlob?.({ digest: desc.digest, bytes, total: desc.size, state: 'progress' }));
    options.onBlob?.({ digest: desc.digest, bytes: desc.size, total: desc.size, state: 'done' });
  });
  for (const b of blobs) noteBlobOrigin(store, b.digest, `${remote.registry}/${remote.repository}`);
  const manifest = { mediaType: top.mediaType, ...(await putBlob(store, top.bytes, top.digest)) };
  // Named only now: a pull that broke off left blobs, never a name that points at half an image.
  await tagImage(store, localName, manifest);
  return manifest;
}

export interface PushOptions extends RegistryOptions {
  readonly onBlob?: (progress: TransferProgress) => void;
}

/**
 * Pushes the local image `localRef` as `destRef`, its layers gzip-compressed
 * (compressedManifest); returns the manifest digest the registry holds.
 */
export async function pushImage(store: string, localRef: string, destRef: string, options: PushOptions = {}): Promise<string> {
  const image = requireImage(store, localRef);
  const remote = parseRemoteRef(destRef);
  const repo = openRepository(remote, 'pull,push', options);
  const sent = await compressedManifest(store, image.manifest, readManifest(store, image.manifest));
  const blobs = [sent.manifest.config, ...sent.manifest.layers];
  // One cheap request first, so the token is in hand before the parallel uploads.
  await request(repo, `blobs/${blobs[0]!.digest}`, { method: 'HEAD' });
  await uploadBlobs(repo, store, blobs, options.onBlob);
  await putManifest(repo, remote.tag ?? sent.desc.digest, sent.desc.mediaType || MEDIA.manifest, sent.bytes ?? readFileSync(blobPath(store, sent.desc.digest)));
  return sent.desc.digest;
}

/** Uploads the blobs the repository lacks (a HEAD first), a few at a time. */
export async function uploadBlobs(repo: Repository, store: string, blobs: readonly Descriptor[], onBlob?: (progress: TransferProgress) => void): Promise<void> {
  const where = formatRemoteRef(repo.ref);
  await bounded(blobs, PARALLEL, async (desc) => {
    const head = await request(repo, `blobs/${desc.digest}`, { method: 'HEAD' });
    if (head.ok) {
      onBlob?.({ digest: desc.digest, bytes: desc.size, total: desc.size, state: 'exists' });
      return;
    }
    onBlob?.({ digest: desc.digest, bytes: 0, total: desc.size, state: 'started' });
    // A repository of the same registry known to hold it: ask for a cross-repository mount, no bytes sent.
    const from = blobOrigins(store, desc.digest).find((o) => o.startsWith(`${repo.ref.registry}/`) && o !== `${repo.ref.registry}/${repo.ref.repository}`);
    const query = from ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from.slice(repo.ref.registry.length + 1))}` : '';
    // A mount the registry will not grant (no pull right on the other repository) is no failure: the blob is uploaded.
    const start = await request(repo, `blobs/uploads/${query}`, { method: 'POST' }).catch((e: unknown) => {
      if (query && e instanceof ImageError) return request(repo, 'blobs/uploads/', { method: 'POST' });
      throw e;
    });
    if (start.status === 201) {
      noteBlobOrigin(store, desc.digest, `${repo.ref.registry}/${repo.ref.repository}`);
      onBlob?.({ digest: desc.digest, bytes: desc.size, total: desc.size, state: 'mounted' });
      return;
    }
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new ImageError(`the registry refused to start an upload to ${where} (${start.status})`, where, { hint: 'check that you may push there (strata login)' });
    const url = new URL(location, repo.base);
    url.searchParams.set('digest', desc.digest);
    const put = await request(repo, url.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: await openAsBlob(blobPath(store, desc.digest)) });
    if (put.status !== 201) throw new ImageError(`the registry refused blob ${desc.digest} for ${where} (${put.status}: ${(await put.text()).slice(0, 200)})`, where, { hint: 'check that you may push there (strata login)' });
    noteBlobOrigin(store, desc.digest, `${repo.ref.registry}/${repo.ref.repository}`);
    onBlob?.({ digest: desc.digest, bytes: desc.size, total: desc.size, state: 'done' });
  });
}

export async function putManifest(repo: Repository, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
  const where = formatRemoteRef(repo.ref);
  const put = await request(repo, `manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes });
  if (put.status !== 201) throw new ImageError(`the registry refused the manifest of ${where} (${put.status}: ${(await put.text()).slice(0, 200)})`, where, { hint: 'check that you may push there (strata login)' });
}
