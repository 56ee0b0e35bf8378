/** Writing an image: its config blob, then its manifest blob, from layers already in the store. */
import { createHash } from 'node:crypto';
import { putBlob, type Descriptor } from '../cache/index.js';
import { canonicalJSON, MEDIA, type ImageConfig, type Manifest } from './oci.js';

export interface ImageLayer {
  readonly digest: string;
  readonly size: number;
  /** The uncompressed tar's sha256: a blob with this digest is the tar itself, not gzip. */
  readonly diffId?: string;
  readonly mediaType?: string;
}

/** The media type of a layer blob: a plain tar (its digest is its diffID: what strata writes), else gzip. */
function layerMediaType(layer: ImageLayer): string {
  return layer.mediaType ?? (layer.digest === layer.diffId ? MEDIA.layerTar : MEDIA.layerGzip);
}

/** `config` as a value, or as exact bytes (an imported config keeps its digest, the image ID). */
export async function writeImage(store: string, layers: readonly ImageLayer[], config: ImageConfig | Buffer): Promise<Descriptor> {
  // As bytes: a label or an env value beyond ASCII takes more bytes than characters, and the descriptor gives bytes.
  const configBytes = Buffer.isBuffer(config) ? config : Buffer.from(canonicalJSON(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`, size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: layerMediaType(l), digest: l.digest, size: l.size })),
  };
  // Both blobs at once (their digests are known up front): their fsyncs overlap. Nothing names the manifest until it is in.
  const [, m] = await Promise.all([putBlob(store, configBytes, manifest.config.digest), putBlob(store, canonicalJSON(manifest))]);
  return { mediaType: MEDIA.manifest, digest: m.digest, size: m.size };
}
