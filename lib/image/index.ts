/** lib/image: OCI images in the store: names, import, save. */
export { MEDIA, REF_NAME, type ImageConfig, type Manifest, type ImageIndex, type HistoryEntry, type ContainerConfig } from './oci.js';
export { normalizeRef, listImages, findImage, requireImage, tagImage, untagImage, type NamedImage } from './refs.js';
export { readManifest, readConfig } from './read.js';
export { importImage, type Imported, type SourceKind } from './import.js';
export { saveImage, exportImage, STDOUT, type SaveCompression, type SaveFormat } from './save.js';
export { writeImage, type ImageLayer } from './write.js';
export { checkCredentials, exportCacheRegistry, openRegistryCache, pullImage, pushImage, parseRemoteRef, formatRemoteRef, saveCredentials, removeCredentials, openRepository, request, type RemoteRef, type RegistryOptions, type TransferProgress } from './registry/index.js';
