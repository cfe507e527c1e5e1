/**
 * Byte-stream helpers for blobs: verification while streaming and collecting
 * small blobs. Decompression is the layers module's (`decompress`).
 * @module
 */
import { createSha256, type Digest } from '../digest.js';
import { DigestMismatchError } from '../errors.js';
import { concatBytes } from '../layers/bytes.js';

/**
 * Passes `source` through while hashing it; at the end (or as soon as it
 * runs past `size`) throws {@link DigestMismatchError} unless the bytes hash
 * to `digest` and count exactly `size`.
 */
export async function* verified(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  expected: { digest: Digest; size?: number },
  what: string,
): AsyncGenerator<Uint8Array> {
  const hasher = createSha256();
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (expected.size !== undefined && size > expected.size) {
      throw new DigestMismatchError(`${what} size`, String(expected.size), `more than ${expected.size} bytes`);
    }
    hasher.update(chunk);
    yield chunk;
  }
  if (expected.size !== undefined && size !== expected.size) {
    throw new DigestMismatchError(`${what} size`, String(expected.size), String(size));
  }
  const actual = hasher.digest();
  if (actual !== expected.digest) throw new DigestMismatchError(what, expected.digest, actual);
}

/** Reads a whole (small) stream into one buffer. */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : concatBytes(chunks, total);
}
