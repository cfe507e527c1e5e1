/**
 * A node:zlib transform over an async iterable, as an async iterable: the one
 * bridge the gzip and zstd streams share.
 * @module
 */
import { Readable } from 'node:stream';

/**
 * Pipes `source` through `transform` and yields what comes out; `wrap` turns
 * the transform's errors into the caller's. Stopping early tears both down.
 */
export async function* throughNode(
  source: AsyncIterable<Uint8Array>,
  transform: NodeJS.ReadWriteStream & NodeJS.EventEmitter,
  wrap: (err: unknown) => unknown,
): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source, { objectMode: false });
  input.on('error', (err) => (transform as unknown as { destroy(e: unknown): void }).destroy(err));
  input.pipe(transform);
  try {
    for await (const chunk of transform as unknown as AsyncIterable<Uint8Array>) yield chunk;
  } catch (err) {
    throw wrap(err);
  } finally {
    input.destroy();
  }
}
