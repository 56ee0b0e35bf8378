/**
 * `strata image import`: a root filesystem (directory or tar, gzip or not),
 * an OCI image layout (directory or tar) or a `docker save` archive, into
 * the store under a name. Every blob copied in is checked against its
 * digest; a docker archive's layers are checked against its config's
 * diff_ids. Nothing is named until every blob is in place.
 */
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { putBlobFile, tempPath, type Descriptor } from '../cache/index.js';
import { hostPlatform } from '../dockerfile/index.js';
import { ImageError } from '../errors/index.js';
import { tarExtract, writeDirectoryLayer, writeLayer, type LayerBlob } from '../snapshot/index.js';
import { REF_NAME, type ImageConfig, type ImageIndex, type Manifest } from './oci.js';
import { normalizeRef, tagImage } from './refs.js';
import { writeImage } from './write.js';

export type SourceKind = 'rootfs-dir' | 'rootfs-tar' | 'oci-layout' | 'docker-archive';

export interface Imported {
  readonly name: string;
  readonly manifest: Descriptor;
  readonly source: SourceKind;
}

function isGzip(file: string): boolean {
  const head = Buffer.alloc(2);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return head[0] === 0x1f && head[1] === 0x8b;
}

function tarStream(file: string) {
  const raw = createReadStream(file);
  return isGzip(file) ? raw.pipe(createGunzip()) : raw;
}

/** Names at the top of a tar (enough to tell a layout or an archive from a root filesystem). */
async function topNames(file: string): Promise<Set<string>> {
  const names = new Set<string>();
  const ex = tarExtract();
  ex.on('entry', (header, stream, next) => {
    names.add(header.name.replace(/^\.\//, '').split('/')[0]!);
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(tarStream(file), ex);
  return names;
}

/** Extracts a tar of an image layout or archive (plain files and dirs only) into a temp dir. */
async function extractMetadataTar(file: string, into: string): Promise<void> {
  const ex = tarExtract();
  ex.on('entry', (header, stream, next) => {
    const rel = path.posix.normalize(header.name.replace(/^\.\//, ''));
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      stream.resume();
      next(new ImageError(`the archive entry ${header.name} points outside the archive`, file, { hint: 'the archive is damaged or hostile' }));
      return;
    }
    const dest = path.join(into, rel);
    if (header.type === 'directory') {
      mkdir(dest, { recursive: true }).then(() => { stream.resume(); stream.on('end', next); }, next);
      return;
    }
    if (header.type !== 'file') {
      stream.on('end', next);
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      mkdir(path.dirname(dest), { recursive: true })
        .then(() => writeFile(dest, Buffer.concat(chunks)))
        .then(() => next(), next);
    });
  });
  await pipeline(tarStream(file), ex);
}

function platformConfig(): Pick<ImageConfig, 'architecture' | 'os' | 'variant'> {
  const p = hostPlatform();
  return { architecture: p.architecture, os: p.os, ...(p.variant && { variant: p.variant }) };
}

async function importRootfs(store: string, src: string, kind: 'rootfs-dir' | 'rootfs-tar', created = new Date().toISOString()): Promise<Descriptor> {
  const layer = kind === 'rootfs-dir' ? await writeDirectoryLayer(store, src) : await writeLayer(store, (out) => pipeline(tarStream(src), out));
  const config: ImageConfig = {
    created,
    ...platformConfig(),
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `strata image import ${path.basename(src)}`, comment: 'imported root filesystem' }],
  };
  return writeImage(store, [layer], config);
}

function pickManifest(index: ImageIndex, layoutDir: string, wanted: string | undefined): Descriptor {
  let candidates = index.manifests;
  if (wanted) {
    const named = candidates.filter((m) => m.annotations?.[REF_NAME] === wanted || m.annotations?.[REF_NAME] === wanted.split(':').pop());
    if (named.length) candidates = named;
  }
  if (candidates.length !== 1) {
    const names = index.manifests.map((m) => m.annotations?.[REF_NAME] ?? m.digest).join(', ');
    throw new ImageError(`the image layout holds ${index.manifests.length} images; say which with --from-name`, layoutDir, { hint: `names in it: ${names}` });
  }
  return candidates[0]!;
}

/** Copies one blob of a layout into the store, verifying its digest. */
async function copyBlob(store: string, layoutDir: string, desc: Descriptor): Promise<void> {
  const [, hex] = desc.digest.split(':');
  const file = path.join(layoutDir, 'blobs', 'sha256', hex ?? '');
  if (!existsSync(file)) throw new ImageError(`blob ${desc.digest} is missing from the image layout`, layoutDir, { hint: 'the layout is incomplete' });
  await putBlobFile(store, file, desc.digest);
}

async function importLayout(store: string, layoutDir: string, wanted: string | undefined): Promise<Descriptor> {
  const index = JSON.parse(readFileSync(path.join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
  let desc = pickManifest(index, layoutDir, wanted);
  await copyBlob(store, layoutDir, desc);
  let doc = JSON.parse(readFileSync(path.join(layoutDir, 'blobs', 'sha256', desc.digest.split(':')[1]!), 'utf8')) as Manifest & ImageIndex;
  if (doc.manifests) {
    // An index of platforms: take this machine's.
    const p = hostPlatform();
    const match = doc.manifests.find((m) => {
      const plat = (m as Descriptor & { platform?: { os: string; architecture: string } }).platform;
      return plat?.os === p.os && plat.architecture === p.architecture;
    });
    if (!match) throw new ImageError(`the image has no ${p.os}/${p.architecture} variant`, layoutDir, { hint: 'import an image built for this platform' });
    desc = match;
    await copyBlob(store, layoutDir, desc);
    doc = JSON.parse(readFileSync(path.join(layoutDir, 'blobs', 'sha256', desc.digest.split(':')[1]!), 'utf8')) as Manifest & ImageIndex;
  }
  await copyBlob(store, layoutDir, doc.config);
  for (const layer of doc.layers) await copyBlob(store, layoutDir, layer);
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}

interface DockerArchiveEntry {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

async function importDockerArchive(store: string, dir: string, wanted: string | undefined): Promise<Descriptor> {
  const entries = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as DockerArchiveEntry[];
  const entry = (wanted && entries.find((e) => e.RepoTags?.includes(wanted))) || (entries.length === 1 ? entries[0] : undefined);
  if (!entry) {
    throw new ImageError(`the archive holds ${entries.length} images; say which with --from-name`, dir, { hint: `tags in it: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ')}` });
  }
  const configBytes = readFileSync(path.join(dir, entry.Config));
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  const layers: LayerBlob[] = [];
  for (const [i, rel] of entry.Layers.entries()) {
    const layer = await writeLayer(store, (out) => pipeline(tarStream(path.join(dir, rel)), out));
    const expected = config.rootfs.diff_ids[i];
    if (layer.diffId !== expected) {
      throw new ImageError(`layer ${rel} does not match the image config (diff_id ${expected}, content ${layer.diffId})`, dir, { hint: 'the archive is damaged' });
    }
    layers.push(layer);
  }
  // The config goes in byte for byte: its digest is the image ID docker knows it by.
  return writeImage(store, layers, configBytes);
}

/** Imports `src` and names it `ref`; a root filesystem is dated `created` (SOURCE_DATE_EPOCH), by default now. */
export async function importImage(store: string, src: string, ref: string, options: { fromName?: string; created?: string | undefined } = {}): Promise<Imported> {
  const name = normalizeRef(ref);
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new ImageError('no such file or directory', src, { hint: 'name a root filesystem directory or tar, an OCI layout, or a docker save archive' });
  }
  let manifest: Descriptor;
  let source: SourceKind;
  if (st.isDirectory()) {
    if (existsSync(path.join(src, 'oci-layout'))) {
      source = 'oci-layout';
      manifest = await importLayout(store, src, options.fromName);
    } else if (existsSync(path.join(src, 'manifest.json')) && existsSync(path.join(src, 'repositories'))) {
      source = 'docker-archive';
      manifest = await importDockerArchive(store, src, options.fromName);
    } else {
      source = 'rootfs-dir';
      manifest = await importRootfs(store, src, source, options.created);
    }
  } else {
    const top = await topNames(src).catch((e: unknown) => {
      throw new ImageError(`not a tar archive (${(e as Error).message})`, src, { hint: 'name a root filesystem directory or tar, an OCI layout, or a docker save archive' });
    });
    if (top.has('oci-layout') || (top.has('manifest.json') && !top.has('bin') && !top.has('etc'))) {
      const scratch = mkdtempSync(tempPath(store, 'import'));
      try {
        await extractMetadataTar(src, scratch);
        source = existsSync(path.join(scratch, 'oci-layout')) && !existsSync(path.join(scratch, 'manifest.json')) ? 'oci-layout' : 'docker-archive';
        manifest = source === 'oci-layout' ? await importLayout(store, scratch, options.fromName) : await importDockerArchive(store, scratch, options.fromName);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    } else {
      source = 'rootfs-tar';
      manifest = await importRootfs(store, src, source, options.created);
    }
  }
  await tagImage(store, name, manifest);
  return { name, manifest, source };
}
