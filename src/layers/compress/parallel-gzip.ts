/**
 * Block-parallel gzip in the manner of pigz: the input is cut into fixed-size
 * blocks, each block is deflated independently (primed with the previous
 * block's last 32 KiB as dictionary, so the ratio barely suffers) and ended
 * with a sync flush, and the pieces are concatenated into ONE gzip member
 * with one CRC-32 and one ISIZE. Any gzip reader sees an ordinary stream.
 *
 * Blocks are compressed on libuv's thread pool (zlib's asynchronous API), so
 * the calling thread is free to produce input and hash output meanwhile.
 *
 * Deterministic: block boundaries depend only on the byte offsets of the
 * input, never on how it was chunked or on which block finished first.
 * @module
 */
import { availableParallelism } from 'node:os';
import { crc32 } from './crc32.js';
import { gzipStream } from './gzip.js';
import { defaultCompressionBackend, requireZlib, type CompressionBackend } from './zlib.js';

/** Options of {@link parallelGzip}. */
export interface ParallelGzipOptions {
  /** Deflate level 0–9 (default 6). */
  level?: number;
  /** Bytes per independently deflated block (default 1 MiB). Changing it changes the output bytes. */
  blockSize?: number;
  /** Blocks in flight at once (default: available parallelism + 2, at least 3). Does not affect the output. */
  concurrency?: number;
  /** `fflate` falls back to serial gzip (no threads); `node` is the default where present. */
  backend?: CompressionBackend;
}

const WINDOW = 32 * 1024;
/** gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS = Unix — the same bytes node:zlib writes. */
const GZIP_HEADER = Uint8Array.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);
/** An empty final deflate block (fixed Huffman, end-of-block only): ends the stream after sync-flushed blocks. */
const FINAL_BLOCK = Uint8Array.from([0x03, 0x00]);

/**
 * Gzip-compresses a stream using several cores, deterministically.
 *
 * @example
 * ```ts
 * const blob = parallelGzip(writeTar(entries), { level: 1 });
 * const { digest, size } = await sha256Stream(blob);
 * ```
 */
export async function* parallelGzip(source: AsyncIterable<Uint8Array>, options: ParallelGzipOptions = {}): AsyncIterable<Uint8Array> {
  const level = options.level ?? 6;
  if ((options.backend ?? defaultCompressionBackend) === 'fflate') {
    yield* gzipStream(source, { level, backend: 'fflate' });
    return;
  }
  const zlib = requireZlib();
  const blockSize = options.blockSize ?? 1024 * 1024;
  if (!Number.isInteger(blockSize) || blockSize < WINDOW) throw new RangeError(`blockSize must be an integer ≥ ${WINDOW}`);
  const concurrency = Math.max(1, options.concurrency ?? Math.max(3, availableParallelism() + 2));
  const outputBound = blockSize + (blockSize >> 3) + 1024;

  const deflate = (block: Uint8Array, dictionary: Uint8Array | undefined): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      zlib.deflateRaw(
        block,
        {
          level,
          chunkSize: outputBound,
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
          ...(dictionary ? { dictionary } : {}),
        },
        (err, out) => (err ? reject(err) : resolve(out)),
      );
    });

  const pending: Array<Promise<Uint8Array>> = [];
  let crc = 0;
  let total = 0;
  let previous: Uint8Array | undefined;
  let block = new Uint8Array(blockSize);
  let filled = 0;

  const submit = (data: Uint8Array): void => {
    crc = crc32(data, crc);
    total += data.byteLength;
    const dictionary = previous?.subarray(previous.byteLength - WINDOW);
    const job = deflate(data, dictionary);
    // Avoid an unhandled rejection while the job waits its turn in the queue.
    job.catch(() => {});
    pending.push(job);
    previous = data;
  };

  yield GZIP_HEADER;
  try {
    for await (const chunk of source) {
      let at = 0;
      while (at < chunk.byteLength) {
        const take = Math.min(blockSize - filled, chunk.byteLength - at);
        block.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === blockSize) {
          submit(block);
          block = new Uint8Array(blockSize);
          filled = 0;
          while (pending.length >= concurrency) yield await pending.shift()!;
        }
      }
    }
    if (filled > 0) submit(block.subarray(0, filled));
    while (pending.length > 0) yield await pending.shift()!;
  } finally {
    pending.length = 0;
  }
  const trailer = new Uint8Array(10);
  trailer.set(FINAL_BLOCK, 0);
  const view = new DataView(trailer.buffer);
  view.setUint32(2, crc >>> 0, true);
  view.setUint32(6, total % 2 ** 32, true);
  yield trailer;
}
