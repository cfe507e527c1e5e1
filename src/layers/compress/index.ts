/**
 * Compression of layer blobs: gzip (serial or block-parallel), and
 * decompression that recognises the format by its magic bytes.
 * @module
 */
import { CompressionError, type CompressionFormat } from '../errors.js';
import { gunzipStream } from './gzip.js';
import { detectCompression, peek } from './sniff.js';
import { defaultCompressionBackend, nodeZlib, type CompressionBackend } from './zlib.js';

export { crc32 } from './crc32.js';
export { gunzipStream, gzipStream, type GzipOptions } from './gzip.js';
export { parallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
export { detectCompression, peek } from './sniff.js';
export { defaultCompressionBackend, type CompressionBackend } from './zlib.js';

type ZstdZlib = { createZstdDecompress?: () => NodeJS.ReadWriteStream };

/** True when this runtime's node:zlib can decompress zstd (Node ≥ 23.8 / 22.15). */
export const zstdSupported = typeof (nodeZlib as ZstdZlib | undefined)?.createZstdDecompress === 'function';

/**
 * Decompresses a stream whatever it is: gzip is inflated, zstd is inflated
 * where node:zlib supports it, anything else passes through unchanged.
 *
 * @throws {@link CompressionError} `COMPRESSION_UNSUPPORTED` for zstd on a
 *   runtime without it, `COMPRESSION_FORMAT` for corrupt data.
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
  if (format === 'gzip') return { format, stream: gunzipStream(stream, { backend: options.backend ?? defaultCompressionBackend }) };
  if (format === 'zstd') {
    if (!zstdSupported) {
      await stream[Symbol.asyncIterator]().return?.();
      throw new CompressionError('COMPRESSION_UNSUPPORTED', 'zstd', `zstd-compressed layers need node:zlib zstd support (Node ${process.versions.node} lacks it)`);
    }
    return { format, stream: zstdStream(stream) };
  }
  return { format, stream };
}

async function* zstdStream(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const { Readable } = await import('node:stream');
  const transform = (nodeZlib as unknown as Required<ZstdZlib>).createZstdDecompress();
  const input = Readable.from(source, { objectMode: false });
  input.on('error', (err) => (transform as unknown as { destroy(e: unknown): void }).destroy(err));
  input.pipe(transform);
  try {
    for await (const chunk of transform as unknown as AsyncIterable<Uint8Array>) yield chunk;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new CompressionError('COMPRESSION_FORMAT', 'zstd', (err as Error).message, { cause: err });
    throw err;
  } finally {
    input.destroy();
  }
}
