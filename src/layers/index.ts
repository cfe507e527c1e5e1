/**
 * Layers: the entry model, the deterministic tar writer and streaming reader,
 * compression, and `Layer` constructors.
 * @module
 */
export {
  bytesSource,
  cleanPath,
  comparePaths,
  isCleanPath,
  parentPath,
  type ContentSource,
  type Entry,
  type EntryType,
  type SyncContentReader,
} from './entry.js';
export { MediaType, type Layer, type Opener } from './layer.js';
export {
  CompressionError,
  DuplicatePathError,
  InvalidEntryError,
  TarBodyExpiredError,
  TarFormatError,
  TarUnsupportedError,
  UnsafePathError,
  type CompressionFormat,
  type TarPosition,
} from './errors.js';
export {
  looksLikeTar,
  readTar,
  writeTar,
  type ExternalHardlinks,
  type ReadTarOptions,
  type TarMember,
  type WriteTarOptions,
} from './tar/index.js';
export {
  compress,
  crc32,
  decompress,
  decompressAs,
  describeHead,
  detectCompression,
  gunzipStream,
  gzipStream,
  LayerMediaType,
  mediaTypeCompression,
  ociLayerMediaType,
  parallelGzip,
  unzstdStream,
  zstdStream,
  zstdSupported,
  type CompressionBackend,
  type CompressOptions,
  type GzipOptions,
  type ParallelGzipOptions,
  type ZstdBackend,
  type ZstdOptions,
} from './compress/index.js';
export { layerFromUncompressed, type LayerCompressionOptions } from './from-uncompressed.js';
export { emptyLayer, layerFromEntries, type EntrySource, type LayerFromEntriesOptions } from './from-entries.js';
export { layerFromTar, layerFromTarFile, type LayerFromTarOptions } from './from-tar.js';
export {
  entriesFromDirectory,
  fileSource,
  layerFromDirectory,
  type LayerFromDirectoryOptions,
  type XattrReader,
} from './from-directory.js';
export { contentDigest, IMPLICIT_DIRECTORY, Tree } from './tree.js';
export {
  apply,
  applyEntries,
  changesToEntries,
  classifyPath,
  diff,
  flatten,
  LayerFormatError,
  OPAQUE_WHITEOUT,
  opaquePath,
  sameEntry,
  squash,
  toLayer,
  WHITEOUT_PREFIX,
  whiteoutPath,
  type ApplyOptions,
  type Change,
  type ChangeKind,
  type ChangesToEntriesOptions,
  type DiffOptions,
  type FlattenOptions,
  type LayerFormatCode,
  type LayerInput,
  type SquashOptions,
  type ToLayerOptions,
  type WhiteoutKind,
} from './changes/index.js';
export { ExtractError, extractLayer, type ExtractOptions, type ExtractResult } from './extract.js';
export {
  extractOverlayLayer,
  layerFromOverlayUpper,
  OverlayError,
  overlayUpperEntries,
  type OverlayErrorCode,
  type OverlayLayerWriteOptions,
  type OverlayUpperOptions,
} from './overlay.js';
export {
  CONTINUITY_MAX_SYMLINKS,
  LINUX_MAX_SYMLINKS,
  resolveAsync,
  resolveSync,
  walkPath,
  type NodeKind,
  type PathReader,
  type PathWalk,
  type SyncPathReader,
  type WalkOptions,
  type WalkStop,
} from './resolve-path.js';
