/** lib/snapshot: root filesystems and layers. */
export { writeDirectoryLayer, writeLayer, writeTarFileLayer, type LayerBlob } from './layer-tar.js';
