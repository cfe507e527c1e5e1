export * from './entry.js';
export * from './layer.js';
export * from './errors.js';
export * from './tar/index.js';
export {
  crc32,
  decompress,
  detectCompression,
  gunzipStream,
  gzipStream,
  parallelGzip,
  zstdSupported,
  type CompressionBackend,
  type GzipOptions,
  type ParallelGzipOptions,
} from './compress/index.js';
