/**
 * The core every layer constructor builds on: given an opener of the
 * uncompressed tar, derive the blob (gzip or the tar itself), the diffID, the
 * digest and both sizes — each computed once, on first demand, while
 * streaming.
 *
 * The compressed blob is not cached: it is recomputed on every
 * `compressed()` call. The compressors are deterministic, so a recomputation
 * yields the same bytes — and each stream is checked at its end against the
 * digest already handed out, so a source that changed underneath (a file
 * edited between calls) fails with a `DigestMismatchError` rather than
 * producing a different blob under the same name. This keeps memory and disk
 * use flat; callers that want the blob once should stream `compressed()` into
 * their store while hashing it (the digest is then recorded from that stream).
 * @module
 */
import type { Digest } from '../digest.js';
import { compress } from './compress/index.js';
import { ociLayerMediaType } from './compress/media-types.js';
import type { ParallelGzipOptions } from './compress/parallel-gzip.js';
import type { CompressionBackend } from './compress/zlib.js';
import type { ZstdBackend } from './compress/zstd.js';
import { Lazy, measure, openStream, verified, type Layer, type Measured, type Opener } from './layer.js';

/** How a layer's blob is produced from its tar. */
export interface LayerCompressionOptions {
  /**
   * `gzip` (default), `zstd` (frames of 4 MiB, see {@link zstdStream}) or
   * `none` (the blob is the tar itself).
   */
  compression?: 'gzip' | 'zstd' | 'none';
  /** gzip level 0–9 (default 6, as gzip(1)); zstd level 1–19 (default 3, as zstd(1)). */
  level?: number;
  /**
   * Compress 1 MiB blocks on several threads (default true). The blob bytes
   * differ from single-stream gzip, but are as deterministic; every gzip
   * reader reads both.
   */
  parallel?: boolean;
  /** Blocks compressed at once by the parallel compressor (see {@link ParallelGzipOptions}); no effect on the bytes. */
  concurrency?: number;
  /** gzip: `node` (node:zlib, default where present) or `fflate`. */
  backend?: CompressionBackend;
  /** zstd: `wasm` (default, the same bytes on every runtime) or `node` (node:zlib where it has zstd). */
  zstdBackend?: ZstdBackend;
  /** Media type to report (default: OCI `…tar+gzip`, `…tar+zstd` or `…tar`). */
  mediaType?: string;
}

interface BlobFacts {
  diffId: Measured;
  blob: Measured;
}

/** Applies {@link LayerCompressionOptions} to a tar stream. */
export function compressTar(tar: AsyncIterable<Uint8Array>, options: LayerCompressionOptions): AsyncIterable<Uint8Array> {
  return compress(tar, options.compression ?? 'gzip', options);
}

/**
 * A {@link Layer} over an opener of its uncompressed tar. `diffId()` alone
 * hashes only the tar; `digest()`/`size()` run one pass that hashes the tar
 * and the blob together. Reading `uncompressed()` or `compressed()` to the
 * end also records the digest it saw, so a later getter does not re-stream.
 *
 * @example
 * ```ts
 * const layer = layerFromUncompressed(() => createReadStream('layer.tar'), { level: 1 });
 * console.log(await layer.diffId(), await layer.digest());
 * ```
 */
export function layerFromUncompressed(open: Opener, options: LayerCompressionOptions = {}): Layer {
  return new UncompressedLayer(open, options);
}

class UncompressedLayer implements Layer {
  readonly mediaType: string;
  readonly #open: Opener;
  readonly #options: LayerCompressionOptions;
  readonly #tar: Lazy<Measured>;
  readonly #blob: Lazy<BlobFacts>;

  constructor(open: Opener, options: LayerCompressionOptions) {
    this.#open = open;
    this.#options = options;
    this.mediaType = options.mediaType ?? ociLayerMediaType(options.compression ?? 'gzip');
    this.#tar = new Lazy(async () => {
      const blob = this.#blob.peek();
      if (blob) return blob.diffId;
      let result: Measured | undefined;
      for await (const _ of measure(openStream(this.#open), (r) => (result = r))) void _;
      return result!;
    });
    this.#blob = new Lazy(async () => {
      let diffId: Measured | undefined;
      let blob: Measured | undefined;
      const tar = verified(openStream(this.#open), 'layer tar', () => this.#tar.peek(), (r) => (diffId = r));
      for await (const _ of measure(compressTar(tar, this.#options), (r) => (blob = r))) void _;
      return { diffId: diffId!, blob: blob! };
    });
  }

  async diffId(): Promise<Digest> {
    if (this.#blob.started && !this.#tar.started) return (await this.#blob.get()).diffId.digest;
    return (await this.#tar.get()).digest;
  }

  async uncompressedSize(): Promise<number> {
    if (this.#blob.started && !this.#tar.started) return (await this.#blob.get()).diffId.size;
    return (await this.#tar.get()).size;
  }

  async digest(): Promise<Digest> {
    return (await this.#blob.get()).blob.digest;
  }

  async size(): Promise<number> {
    return (await this.#blob.get()).blob.size;
  }

  /** Hashes what it reads only to check it against a diffID already computed (or being computed). */
  uncompressed(): AsyncIterable<Uint8Array> {
    const known = () => this.#tar.peek() ?? this.#blob.peek()?.diffId;
    const tar = openStream(this.#open);
    return this.#tar.started || this.#blob.started ? verified(tar, 'layer tar', known) : tar;
  }

  compressed(): AsyncIterable<Uint8Array> {
    if (this.#options.compression === 'none') return this.uncompressed();
    const knownTar = () => this.#tar.peek() ?? this.#blob.peek()?.diffId;
    let tarSeen: Measured | undefined;
    const tar = verified(openStream(this.#open), 'layer tar', knownTar, (r) => (tarSeen = r));
    return verified(compressTar(tar, this.#options), 'layer blob', () => this.#blob.peek()?.blob, (blob) => {
      if (tarSeen) this.#blob.offer({ diffId: tarSeen, blob });
    });
  }
}
