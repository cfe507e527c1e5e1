/**
 * Recognising a compressed stream by its first bytes, without consuming them.
 * @module
 */
import { concatBytes } from '../bytes.js';
import type { CompressionFormat } from '../errors.js';

/**
 * The compression format of a stream given its first bytes: gzip (`1f 8b`),
 * zstd (`28 b5 2f fd`), else none.
 *
 * @example
 * ```ts
 * detectCompression(Uint8Array.of(0x1f, 0x8b, 8)); // 'gzip'
 * ```
 */
export function detectCompression(head: Uint8Array): CompressionFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * The first bytes of a stream in hex, for an error that says what a stream
 * is not: `first bytes 1e 08 00 00`.
 *
 * @example
 * ```ts
 * describeHead(Uint8Array.of(0x1e, 0x08)); // 'first bytes 1e 08'
 * ```
 */
export function describeHead(head: Uint8Array): string {
  if (head.length === 0) return 'empty';
  return `first bytes ${Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/**
 * Reads at least `n` bytes (fewer at end of stream) from `source` and returns
 * them with a stream that yields everything again from the first byte.
 *
 * @example
 * ```ts
 * const { head, stream } = await peek(source, 4);
 * const format = detectCompression(head);
 * ```
 */
export async function peek(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; stream: AsyncIterable<Uint8Array> }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    seen.push(next.value);
    have += next.value.byteLength;
  }
  const head = seen.length === 1 ? seen[0]! : concatBytes(seen, have);
  async function* replay(): AsyncGenerator<Uint8Array> {
    let finished = done;
    try {
      for (const chunk of seen) yield chunk;
      seen.length = 0;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          break;
        }
        yield next.value;
      }
    } finally {
      if (!finished) await iterator.return?.();
    }
  }
  return { head: head ?? new Uint8Array(0), stream: replay() };
}
