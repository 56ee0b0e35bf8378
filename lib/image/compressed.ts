/**
 * An image as it leaves the store for a registry: the layers a build made
 * (plain tars, see lib/cache/gzip.ts) replaced by their gzip twins, in a
 * manifest of its own. The local image is left as it is; both manifests
 * name the same config, so the image ID is the same.
 */
import { gzipTwin, putBlob, type Descriptor } from '../cache/index.js';
import { canonicalJSON, MEDIA, type Manifest } from './oci.js';

/** The manifest to push for `desc` (itself when every layer is compressed already), and its layers' descriptors. */
export async function compressedManifest(store: string, desc: Descriptor, manifest: Manifest): Promise<{ readonly desc: Descriptor; readonly bytes: Buffer | undefined; readonly manifest: Manifest }> {
  if (!manifest.layers.some((l) => l.mediaType === MEDIA.layerTar)) return { desc, bytes: undefined, manifest };
  const layers: Descriptor[] = [];
  // One layer at a time: each is compressed on every core already.
  for (const layer of manifest.layers) layers.push(layer.mediaType === MEDIA.layerTar ? { ...layer, mediaType: MEDIA.layerGzip, ...(await gzipTwin(store, layer.digest)) } : layer);
  const out: Manifest = { ...manifest, layers };
  const bytes = Buffer.from(canonicalJSON(out));
  return { desc: { mediaType: desc.mediaType, ...(await putBlob(store, bytes)) }, bytes, manifest: out };
}
