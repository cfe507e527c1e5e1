/**
 * Layers from existing tar archives, compressed or not.
 * @module
 */
import { createReadStream } from 'node:fs';
import type { Digest } from '../digest.js';
import { decompress } from './compress/index.js';
import { detectCompression, peek } from './compress/sniff.js';
import type { CompressionFormat } from './errors.js';
import { layerFromUncompressed, type LayerCompressionOptions } from './from-uncompressed.js';
import { ociLayerMediaType } from './compress/media-types.js';
import { Lazy, measure, openStream, verified, type Layer, type Measured, type Opener } from './layer.js';

/** Options of {@link layerFromTar}. */
export interface LayerFromTarOptions extends LayerCompressionOptions {}

/**
 * A layer over a tar archive that an opener yields afresh on each call.
 *
 * The format is sniffed from the first bytes (once):
 * - gzip or zstd: the blob is the archive as it is (its digest is the
 *   digest of those bytes); the diffID is computed by decompressing it.
 *   `compression` options are
 *   ignored; `mediaType` defaults to OCI `…tar+gzip` / `…tar+zstd`.
 * - uncompressed: the blob is produced as {@link layerFromUncompressed}
 *   does — gzip by default, or the tar itself with `compression: 'none'`.
 *
 * @example
 * ```ts
 * const layer = layerFromTar(() => createReadStream('layer.tar.gz'));
 * const [diffId, digest] = await Promise.all([layer.diffId(), layer.digest()]);
 * ```
 */
export function layerFromTar(open: Opener, options: LayerFromTarOptions = {}): Layer {
  return new SniffedTarLayer(open, options);
}

/**
 * {@link layerFromTar} over a file on disk.
 *
 * @example
 * ```ts
 * const layer = layerFromTarFile('/tmp/rootfs.tar');
 * ```
 */
export function layerFromTarFile(path: string, options: LayerFromTarOptions = {}): Layer {
  // Large reads: each chunk is one trip to the thread pool and back before it reaches the decompressor.
  return layerFromTar(() => createReadStream(path, { highWaterMark: 1024 * 1024 }), options);
}

class SniffedTarLayer implements Layer {
  readonly #options: LayerFromTarOptions;
  readonly #format: Lazy<CompressionFormat>;
  readonly #inner: Lazy<Layer>;

  constructor(open: Opener, options: LayerFromTarOptions) {
    this.#options = options;
    this.#format = new Lazy(async () => {
      const { head, stream } = await peek(openStream(open), 4);
      await stream[Symbol.asyncIterator]().return?.();
      return detectCompression(head);
    });
    this.#inner = new Lazy(async () => {
      const format = await this.#format.get();
      return format === 'none' ? layerFromUncompressed(open, options) : new CompressedTarLayer(open, format, options);
    });
  }

  /**
   * The media type is known only after sniffing; before that it reports what
   * the options say or the gzip default. Use `await layer.digest()` (or any
   * getter) first when the exact type matters for zstd or raw tars.
   */
  get mediaType(): string {
    return this.#inner.peek()?.mediaType ?? this.#options.mediaType ?? ociLayerMediaType(this.#options.compression ?? 'gzip');
  }

  async diffId(): Promise<Digest> {
    return (await this.#inner.get()).diffId();
  }
  async digest(): Promise<Digest> {
    return (await this.#inner.get()).digest();
  }
  async size(): Promise<number> {
    return (await this.#inner.get()).size();
  }
  async uncompressedSize(): Promise<number> {
    const inner = await this.#inner.get();
    return inner.uncompressedSize!();
  }
  async *uncompressed(): AsyncIterable<Uint8Array> {
    yield* (await this.#inner.get()).uncompressed();
  }
  async *compressed(): AsyncIterable<Uint8Array> {
    yield* (await this.#inner.get()).compressed();
  }
}

/** A layer whose stored form is an already compressed archive. */
class CompressedTarLayer implements Layer {
  readonly mediaType: string;
  readonly #open: Opener;
  readonly #blob: Lazy<Measured>;
  readonly #tar: Lazy<Measured>;

  constructor(open: Opener, format: Exclude<CompressionFormat, 'none'>, options: LayerFromTarOptions) {
    this.#open = open;
    this.mediaType = options.mediaType ?? ociLayerMediaType(format);
    this.#blob = new Lazy(async () => {
      let result: Measured | undefined;
      for await (const _ of measure(openStream(open), (r) => (result = r))) void _;
      return result!;
    });
    // One pass gives both: the blob is hashed on its way into the decompressor.
    this.#tar = new Lazy(async () => {
      let tar: Measured | undefined;
      for await (const _ of measure(this.#decompressed(true), (r) => (tar = r))) void _;
      return tar!;
    });
  }

  /**
   * The decompressed stream. The raw bytes are checked against the blob digest
   * when it is known or being computed, and recorded as it when `hashBlob`.
   */
  async *#decompressed(hashBlob: boolean): AsyncGenerator<Uint8Array> {
    const raw = openStream(this.#open);
    const checked = hashBlob || this.#blob.started ? verified(raw, 'layer blob', () => this.#blob.peek(), (r) => this.#blob.offer(r)) : raw;
    const { stream } = await decompress(checked);
    yield* stream;
  }

  async diffId(): Promise<Digest> {
    return (await this.#tar.get()).digest;
  }
  async uncompressedSize(): Promise<number> {
    return (await this.#tar.get()).size;
  }
  async digest(): Promise<Digest> {
    return (await this.#blob.get()).digest;
  }
  async size(): Promise<number> {
    return (await this.#blob.get()).size;
  }
  /**
   * Hashes what it reads only to check it against a digest already computed
   * (or being computed): a reader that never asks for a digest (an
   * extraction) does not pay for two sha256 passes over the layer.
   */
  uncompressed(): AsyncIterable<Uint8Array> {
    const tar = this.#decompressed(false);
    return this.#tar.started ? verified(tar, 'layer tar', () => this.#tar.peek()) : tar;
  }
  compressed(): AsyncIterable<Uint8Array> {
    return verified(openStream(this.#open), 'layer blob', () => this.#blob.peek(), (r) => this.#blob.offer(r));
  }
}
