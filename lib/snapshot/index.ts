/** lib/snapshot: root filesystems and layers. */
export { writeDirectoryLayer, writeEntriesLayer, writeLayer, type LayerBlob } from './layer-tar.js';
export { applyLayer, safeEntryPath } from './extract.js';
export { scanTree, diffTrees, type TreeScan, type TreeDiff } from './diff.js';
