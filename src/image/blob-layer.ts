/**
 * A `Layer` backed by a stored blob (in a layout, the store or an archive)
 * whose diffID comes from the image config. Nothing is trusted blindly: the
 * blob stream is verified against its digest and size, the uncompressed
 * stream against the diffID, each at the end of the stream.
 * @module
 */
import { sha256Stream, type Digest } from '../digest.js';
import { DigestMismatchError, LayerkitError } from '../errors.js';
import { decompress, describeHead, peek } from '../layers/compress/index.js';
import { looksLikeTar } from '../layers/tar/header.js';
import { CompressionError } from '../layers/errors.js';
import type { Layer } from '../layers/layer.js';
import { InvalidImageError } from './errors.js';
import { verified } from './streams.js';

/** What a stored layer is known by before it is read. */
export interface StoredLayerInfo {
  mediaType: string;
  /** The blob digest, or undefined to compute it (once) by hashing the blob. */
  digest?: Digest;
  size: number;
  /** From the config's `rootfs.diff_ids`. */
  diffId: Digest;
  /** Opens the raw blob bytes. */
  open: () => AsyncIterable<Uint8Array>;
  /** Names the layer in errors. */
  what: string;
}

class StoredLayer implements Layer {
  readonly mediaType: string;
  readonly #info: StoredLayerInfo;
  #digest: Promise<Digest> | undefined;

  constructor(info: StoredLayerInfo) {
    this.mediaType = info.mediaType;
    this.#info = info;
  }

  diffId(): Promise<Digest> {
    return Promise.resolve(this.#info.diffId);
  }

  digest(): Promise<Digest> {
    this.#digest ??= this.#info.digest !== undefined
      ? Promise.resolve(this.#info.digest)
      : sha256Stream(this.#info.open()).then((r) => r.digest);
    return this.#digest;
  }

  size(): Promise<number> {
    return Promise.resolve(this.#info.size);
  }

  async *compressed(): AsyncGenerator<Uint8Array> {
    const digest = await this.digest();
    yield* verified(this.#info.open(), { digest, size: this.#info.size }, `${this.#info.what} blob`);
  }

  async *uncompressed(): AsyncGenerator<Uint8Array> {
    const digest = await this.digest();
    if (digest === this.#info.diffId) {
      // An uncompressed blob: one verification covers both names.
      yield* await this.#checkedTar(this.compressed(), digest);
      return;
    }
    try {
      // Sniffed, not taken from the media type: a layer whose media type lies about its compression still reads.
      const { format, stream } = await decompress(this.compressed());
      yield* verified(format === 'none' ? await this.#checkedTar(stream, digest) : stream, { digest: this.#info.diffId }, `${this.#info.what} diffID`);
    } catch (err) {
      if (err instanceof LayerkitError && !(err instanceof CompressionError)) throw err;
      // The decompressor gave up (corrupt or truncated data). Say why in our terms:
      // a blob that is not what its digest names, or a blob that is but does not decompress.
      const actual = await sha256Stream(this.#info.open()).catch(() => undefined);
      if (actual && actual.digest !== digest) {
        throw new DigestMismatchError(`${this.#info.what} blob`, digest, actual.digest);
      }
      const reason = err instanceof CompressionError ? err.data.reason : (err as Error).message;
      throw new InvalidImageError(`${this.#info.what} (${digest})`, `blob does not decompress: ${reason}`, { cause: err });
    }
  }

  /**
   * An uncompressed blob must start as a tar does. Checked before a reader
   * sees any byte, so damage at the start (a flipped magic byte) is reported
   * as what it is, naming the layer, not as a malformed tar member.
   */
  async #checkedTar(stream: AsyncIterable<Uint8Array>, digest: Digest): Promise<AsyncIterable<Uint8Array>> {
    const { head, stream: tar } = await peek(stream, 512);
    if (head.length === 0 || looksLikeTar(head)) return tar;
    await tar[Symbol.asyncIterator]().return?.();
    const reason = `not a gzip/zstd/tar stream: ${describeHead(head)}`;
    // A blob that is not what its digest names is that first; the reason says what it looks like.
    const actual = await sha256Stream(this.#info.open()).catch(() => undefined);
    if (actual && actual.digest !== digest) throw new DigestMismatchError(`${this.#info.what} blob (${reason})`, digest, actual.digest);
    throw new InvalidImageError(`${this.#info.what} (${digest})`, reason);
  }
}

/** A verified Layer over a stored blob. */
export function storedLayer(info: StoredLayerInfo): Layer {
  return new StoredLayer(info);
}
