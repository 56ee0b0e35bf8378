/** OCI image spec values: media types, config, manifest, index. */
import type { Descriptor } from '../cache/index.js';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Record<string, Record<string, never>>;
  readonly Env?: string[];
  readonly Entrypoint?: string[] | null;
  readonly Cmd?: string[] | null;
  readonly Volumes?: Record<string, Record<string, never>>;
  readonly WorkingDir?: string;
  readonly Labels?: Record<string, string>;
  readonly StopSignal?: string;
  readonly OnBuild?: string[] | null;
  readonly Shell?: string[];
  readonly Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  /** Deprecated (for Windows), but set by every builder on CMD, and kept. */
  readonly ArgsEscaped?: boolean;
}

export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
}

export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
}

/** JSON as stored in blobs: stable key order as written, no whitespace. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(value);
}
