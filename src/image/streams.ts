/**
 * Byte-stream helpers for blobs: verification while streaming, decompression
 * by sniffing, and collecting small blobs.
 * @module
 */
import { Readable, pipeline, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { createSha256, type Digest } from '../digest.js';
import { DigestMismatchError } from '../errors.js';
import { UnsupportedMediaTypeError } from './errors.js';

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
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** Compression of a blob, by its first bytes. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** Tells compression from magic numbers (gzip `1f 8b`, zstd `28 b5 2f fd`). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

type ZstdFactory = () => Transform;
const zstdFactory: ZstdFactory | undefined = (zlib as unknown as { createZstdDecompress?: ZstdFactory })
  .createZstdDecompress;

async function* through(source: AsyncIterable<Uint8Array>, transform: Transform): AsyncGenerator<Uint8Array> {
  // pipeline forwards errors both ways and tears down the source if we stop early.
  pipeline(Readable.from(source, { objectMode: false }), transform, () => {});
  for await (const chunk of transform) yield chunk as Uint8Array;
}

/**
 * Decompresses a blob stream, choosing gzip, zstd or nothing from its first
 * bytes (so a layer whose media type lies about compression still reads).
 *
 * @throws {@link UnsupportedMediaTypeError} for zstd on a Node without zstd support.
 */
export async function* decompressed(source: AsyncIterable<Uint8Array>, mediaType: string): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.byteLength < 4) {
    // Gather enough bytes to sniff; tiny leading chunks are rare but legal.
    const next = await iterator.next();
    if (next.done) break;
    const merged = new Uint8Array(first.value.byteLength + next.value.byteLength);
    merged.set(first.value);
    merged.set(next.value, first.value.byteLength);
    first = { done: false, value: merged };
  }
  if (first.done) return;
  const head = first.value;
  const rest: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      yield head;
      for (;;) {
        const n = await iterator.next();
        if (n.done) return;
        yield n.value;
      }
    },
  };
  const compression = sniffCompression(head);
  if (compression === 'none') {
    yield* rest;
  } else if (compression === 'gzip') {
    yield* through(rest, zlib.createGunzip());
  } else {
    if (!zstdFactory) throw new UnsupportedMediaTypeError(mediaType, `zstd needs Node with zlib zstd support (this is ${process.version})`);
    yield* through(rest, zstdFactory());
  }
}
