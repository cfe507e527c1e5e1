/**
 * Compression of layer blobs, in one place: recognising a format by its
 * magic bytes, decompressing gzip and zstd, compressing to either, and the
 * table of layer media types.
 * @module
 */
import { CompressionError, type CompressionFormat } from '../errors.js';
import { gunzipStream, gzipStream } from './gzip.js';
import { parallelGzip } from './parallel-gzip.js';
import { detectCompression, peek } from './sniff.js';
import { defaultCompressionBackend, type CompressionBackend } from './zlib.js';
import { unzstdStream, zstdStream, type ZstdBackend } from './zstd.js';

export { crc32 } from './crc32.js';
export { gunzipStream, gzipStream, type GzipOptions } from './gzip.js';
export { parallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
export { describeHead, detectCompression, peek } from './sniff.js';
export { defaultCompressionBackend, type CompressionBackend } from './zlib.js';
export { unzstdStream, zstdStream, type ZstdBackend, type ZstdOptions } from './zstd.js';
export { LayerMediaType, mediaTypeCompression, ociLayerMediaType } from './media-types.js';

/**
 * True: zstd layers are read on every runtime (node:zlib where it has zstd,
 * fzstd otherwise) and written with libzstd compiled to WebAssembly.
 */
export const zstdSupported = true;

/**
 * Decompresses a stream whatever it is: gzip and zstd are inflated,
 * anything else passes through unchanged (an uncompressed tar).
 *
 * @throws {@link CompressionError} `COMPRESSION_FORMAT` for corrupt or
 *   truncated data (while the returned stream is read).
 * @example
 * ```ts
 * const { format, stream } = await decompress(createReadStream('blob'));
 * ```
 */
export async function decompress(
  source: AsyncIterable<Uint8Array>,
  options: { backend?: CompressionBackend } = {},
): Promise<{ format: CompressionFormat; stream: AsyncIterable<Uint8Array> }> {
  const { head, stream } = await peek(source, 4);
  const format = detectCompression(head);
  return { format, stream: decompressAs(stream, format, options) };
}

/**
 * Decompresses a stream known to be in `format` (from a media type, say),
 * without looking at its bytes.
 *
 * @throws {@link CompressionError} `COMPRESSION_FORMAT` for data that is not
 *   what `format` says, or is corrupt or truncated.
 * @example
 * ```ts
 * const tar = decompressAs(blob, mediaTypeCompression(descriptor.mediaType) ?? 'none');
 * ```
 */
export function decompressAs(
  source: AsyncIterable<Uint8Array>,
  format: CompressionFormat,
  options: { backend?: CompressionBackend } = {},
): AsyncIterable<Uint8Array> {
  if (format === 'gzip') return gunzipStream(source, { backend: options.backend ?? defaultCompressionBackend });
  if (format === 'zstd') return unzstdStream(source);
  return source;
}

/**
 * How {@link compress} writes each format.
 *
 * @example
 * ```ts
 * const options: CompressOptions = { level: 1, parallel: true };
 * ```
 */
export interface CompressOptions {
  /** gzip 0–9 (default 6), zstd 1–19 (default 3). */
  level?: number;
  /** gzip: compress 1 MiB blocks on several threads (default true). */
  parallel?: boolean;
  /** gzip: blocks compressed at once by the parallel compressor. */
  concurrency?: number;
  /** gzip: `node` (node:zlib, default where present) or `fflate`. */
  backend?: CompressionBackend;
  /** zstd: `wasm` (default) or `node`. */
  zstdBackend?: ZstdBackend;
}

/**
 * Compresses a stream to `format` (`none` passes it through).
 *
 * @throws {@link CompressionError} `COMPRESSION_UNSUPPORTED` for an unknown format.
 * @example
 * ```ts
 * const blob = compress(writeTar(entries), 'zstd');
 * ```
 */
export function compress(source: AsyncIterable<Uint8Array>, format: CompressionFormat, options: CompressOptions = {}): AsyncIterable<Uint8Array> {
  if (format === 'none') return source;
  if (format === 'zstd') {
    return zstdStream(source, {
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.zstdBackend ? { backend: options.zstdBackend } : {}),
    });
  }
  if (format !== 'gzip') throw new CompressionError('COMPRESSION_UNSUPPORTED', format, `unknown compression ${JSON.stringify(format)}`);
  const level = options.level ?? 6;
  const backend = options.backend ? { backend: options.backend } : {};
  if (options.parallel === false) return gzipStream(source, { level, ...backend });
  return parallelGzip(source, { level, ...backend, ...(options.concurrency ? { concurrency: options.concurrency } : {}) });
}
