/** Writing an image: its config blob, then its manifest blob, from layers already in the store. */
import { putBlob, type Descriptor } from '../cache/index.js';
import { canonicalJSON, MEDIA, type ImageConfig, type Manifest } from './oci.js';

export interface ImageLayer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType?: string;
}

/** `config` as a value, or as exact bytes (an imported config keeps its digest, the image ID). */
export async function writeImage(store: string, layers: readonly ImageLayer[], config: ImageConfig | Buffer): Promise<Descriptor> {
  const configBlob = await putBlob(store, Buffer.isBuffer(config) ? config : canonicalJSON(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType ?? MEDIA.layerGzip, digest: l.digest, size: l.size })),
  };
  const m = await putBlob(store, canonicalJSON(manifest));
  return { mediaType: MEDIA.manifest, digest: m.digest, size: m.size };
}
