/** lib/snapshot: root filesystems and layers. */
export { writeDirectoryLayer, writeEntriesLayer, writeLayer, writeTreeTar, type LayerBlob, type SpliceSource, type StagedLayer, type TarIndex } from './layer-tar.js';
export { startTarThread } from './tar-thread.js';
export { applyLayer, safeEntryPath, type ApplyOptions, type RecordedWhiteouts } from './extract.js';
export { scanTree, diffTrees, type TreeScan, type TreeDiff } from './diff.js';
export { openSnapshotter, SNAPSHOTTER_CHOICES, type Snapshotter, type SnapshotterChoice, type SnapshotterKind, type Workspace, type WorkspaceOptions, type LayerReuse } from './snapshotter.js';
export { pruneSnapshots, unmountBelow } from './overlay.js';
export { compressionOf, isTarArchive, openDecompressed, type Compression } from './compression.js';
export { tarExtract, tarPack } from './tar.js';
