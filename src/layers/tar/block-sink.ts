/**
 * The tar writer's output buffer: headers, padding and small chunks are
 * gathered into 1 MiB blocks, and files on disk are read straight into them,
 * so a tar of many small files leaves as a few large chunks — which costs
 * every stage downstream (hashing, digest checks, the compressor) far less
 * than one chunk per header and per file read. Large chunks of other
 * content sources pass through as they are.
 * @module
 */
import type { SyncContentReader } from '../entry.js';
import { InvalidEntryError } from '../errors.js';

/** Bytes per output block: the parallel compressor's default block size. */
export const TAR_BLOCK = 1024 * 1024;

/** Chunks at least this large are passed on, not copied. */
const PASS_THROUGH = 64 * 1024;

/** A block nobody else has seen: handed out once, never written again. */
function newBlock(): Uint8Array {
  // Not zeroed: every byte up to `filled` is written before the block leaves.
  return new Uint8Array(Buffer.allocUnsafeSlow(TAR_BLOCK).buffer, 0, TAR_BLOCK);
}

/** Gathers bytes into blocks; every generator method yields the blocks that filled up. */
export class BlockSink {
  #block = newBlock();
  #filled = 0;

  /**
   * Copies `bytes` in; a large chunk (a content source's own) goes out as it
   * is, after the bytes gathered before it, rather than being copied.
   */
  *write(bytes: Uint8Array): Generator<Uint8Array> {
    if (bytes.byteLength >= PASS_THROUGH) {
      if (this.#filled > 0) {
        // A copy of what is gathered: the block itself stays here, to be filled again.
        yield this.#block.slice(0, this.#filled);
        this.#filled = 0;
      }
      yield bytes;
      return;
    }
    let at = 0;
    while (at < bytes.byteLength) {
      const take = Math.min(TAR_BLOCK - this.#filled, bytes.byteLength - at);
      this.#block.set(take === bytes.byteLength ? bytes : bytes.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === TAR_BLOCK) yield this.#rotate();
    }
  }

  /**
   * Reads exactly `size` bytes from `reader` straight into the blocks. A
   * source that ends early or has more bytes (a file that shrank or grew
   * since it was described) fails with `CONTENT_SIZE_MISMATCH`: on the last
   * read one byte more than expected is asked for, so growth shows without
   * an extra call.
   */
  *readFrom(reader: SyncContentReader, size: number, path: string): Generator<Uint8Array> {
    let left = size;
    for (;;) {
      if (this.#filled === TAR_BLOCK) yield this.#rotate();
      const want = Math.min(TAR_BLOCK - this.#filled, left + 1);
      const got = reader.read(this.#block, this.#filled, want);
      if (got > left) throw new InvalidEntryError(path, `content yields more than its size ${size}`, 'CONTENT_SIZE_MISMATCH');
      this.#filled += got;
      left -= got;
      if (got < want) {
        if (left > 0) throw new InvalidEntryError(path, `content yields ${size - left} bytes, size says ${size}`, 'CONTENT_SIZE_MISMATCH');
        return;
      }
    }
  }

  /** The last, partial block (if any bytes are pending). */
  *finish(): Generator<Uint8Array> {
    if (this.#filled > 0) yield this.#block.subarray(0, this.#filled);
    this.#filled = 0;
  }

  #rotate(): Uint8Array {
    const full = this.#block;
    this.#block = newBlock();
    this.#filled = 0;
    return full;
  }
}
