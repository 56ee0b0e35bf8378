/** lib/cache: the strata store and (as the build engine lands) cache keys and layers. */
export { resolveStoreDir, statCachePath } from './store-location.js';
