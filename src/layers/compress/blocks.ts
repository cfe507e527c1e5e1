/**
 * Cutting a byte stream into blocks of a fixed size, as the block compressors
 * (parallel gzip, zstd frames) need: their output depends on where the cuts
 * fall, so the cuts depend only on byte offsets, never on how the input was
 * chunked.
 * @module
 */

/**
 * Yields `source` as blocks of exactly `size` bytes, the last one shorter (no
 * empty block). A chunk that is a whole block at a block boundary (what the
 * tar writer yields for files on disk) is passed on as it is, not copied.
 *
 * @example
 * ```ts
 * for await (const block of fixedBlocks(tar, 1 << 20)) submit(block);
 * ```
 */
export async function* fixedBlocks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let block = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of source) {
    if (filled === 0 && chunk.byteLength === size) {
      yield chunk;
      continue;
    }
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(size - filled, chunk.byteLength - at);
      block.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === size) {
        yield block;
        block = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.subarray(0, filled);
}
