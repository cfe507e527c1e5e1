/**
 * Pull-based reading of exact byte counts from a chunked stream. Hands out
 * views of the incoming chunks and copies only when a request straddles two
 * of them, so a member body passes through without copies.
 * @module
 */

export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #done = false;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Loads the next non-empty chunk; false at end of stream. */
  async #fill(): Promise<boolean> {
    while (this.#chunk.byteLength === 0) {
      if (this.#done) return false;
      const next = await this.#iterator.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#chunk = next.value;
    }
    return true;
  }

  /**
   * Exactly `n` bytes, `null` if the stream ended before the first of them,
   * or the short remainder (length < n) if it ended part way.
   */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.byteLength >= n) {
      const out = this.#chunk.subarray(0, n);
      this.#chunk = this.#chunk.subarray(n);
      this.offset += n;
      return out;
    }
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n && (await this.#fill())) {
      const take = Math.min(n - have, this.#chunk.byteLength);
      out.set(this.#chunk.subarray(0, take), have);
      this.#chunk = this.#chunk.subarray(take);
      have += take;
    }
    this.offset += have;
    return have === n ? out : out.subarray(0, have);
  }

  /** Up to `max` bytes as one view (never copies); `null` at end of stream. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    const take = Math.min(max, this.#chunk.byteLength);
    const out = this.#chunk.subarray(0, take);
    this.#chunk = this.#chunk.subarray(take);
    this.offset += take;
    return out;
  }

  /** Skips up to `n` bytes; returns how many were skipped (fewer only at end of stream). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.#fill())) {
      const take = Math.min(left, this.#chunk.byteLength);
      this.#chunk = this.#chunk.subarray(take);
      left -= take;
      this.offset += take;
    }
    return n - left;
  }

  /** Reads and discards everything that is left. */
  async drain(): Promise<void> {
    while (await this.#fill()) {
      this.offset += this.#chunk.byteLength;
      this.#chunk = new Uint8Array(0);
    }
  }

  /** Stops the underlying stream early. */
  async close(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      await this.#iterator.return?.();
    }
  }
}
