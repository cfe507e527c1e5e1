/**
 * Layers: the entry model, the deterministic tar writer and streaming reader,
 * compression, and `Layer` constructors.
 * @module
 */
export * from './entry.js';
export { MediaType, type Layer, type Opener } from './layer.js';
export * from './errors.js';
export * from './tar/index.js';
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
export * from './tree.js';
export * from './changes/index.js';
export * from './extract.js';
export * from './overlay.js';
