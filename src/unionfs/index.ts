/**
 * The union file system: a copy-on-write view over read-only layers and a
 * writable upper, with the API of `fs.promises` and overlayfs semantics.
 * @module
 */
export { UnionFS, stackOf, type CommitOptions, type LowerInput, type UnionFSOptions, type WriteFileOptions } from './union.js';
export { LayerIndex, type LayerIndexOptions } from './layer-index.js';
export { LowerStack, type LowerLinks } from './lower-stack.js';
export { indexLayer, type IndexLayerOptions } from './layer-source.js';
export { UnionFsError, UnionFsIsDirError, InvalidLayerError, type FsErrorCode, type UnionFsErrorData, type InvalidLayerErrorData } from './errors.js';
export { UnionStats, UnionDirent } from './stats.js';
export type { UnionChange } from './commit.js';
export type { FsLike, StatLike } from './fs-like.js';
export type { ViewPolicy } from './view.js';
export type { PathLike } from './paths.js';
export type { WriteData } from './data.js';
export type { ReadStreamOptions, WriteStreamOptions } from './streams.js';
export type { TimeLike } from './ops-write.js';
export { snapshotDirectory, type MaterializeOptions, type SnapshotOptions, type SyncOptions } from './host.js';
export type { SpecialFile } from './ops-write.js';
export { Container, type ContainerCommit, type CopyOptions } from './container.js';
