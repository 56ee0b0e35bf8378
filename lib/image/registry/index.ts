/** lib/image/registry: the OCI Distribution API (pull, push, credentials). */
export { parseRemoteRef, formatRemoteRef, type RemoteRef } from './reference.js';
export { credentialsFor, saveCredentials, removeCredentials, strataAuthFile, type Credentials } from './auth.js';
export { checkCredentials, openRepository, request, type RegistryOptions } from './client.js';
export { pullImage, pushImage, type PullOptions, type PushOptions, type TransferProgress } from './transfer.js';
export { exportCacheRegistry, openRegistryCache } from './cache.js';
