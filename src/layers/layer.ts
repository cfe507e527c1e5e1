/**
 * The `Layer` contract: a small interface of lazy, fallible getters.
 * @module
 */
import { createSha256, type Digest } from '../digest.js';
import { DigestMismatchError } from '../errors.js';
import { LayerMediaType } from './compress/media-types.js';

/**
 * Short names of the layer media types layerkit writes (OCI) and the Docker
 * one it also reads; the full table is {@link LayerMediaType}.
 *
 * @example
 * ```ts
 * layer.mediaType === MediaType.layerZstd;
 * ```
 */
export const MediaType = {
  layerTar: LayerMediaType.ociTar,
  layerGzip: LayerMediaType.ociGzip,
  layerZstd: LayerMediaType.ociZstd,
  dockerLayerGzip: LayerMediaType.dockerGzip,
} as const;

/**
 * One image layer: an uncompressed tar (identified by its diffID) and its
 * stored blob (identified by its digest).
 *
 * Every getter may be expensive the first time (it may stream the whole
 * layer) and is memoized afterwards, value or error. The stream getters are
 * openers: each call returns a fresh stream from the start.
 */
export interface Layer {
  /** Media type of the blob (`…tar+gzip` unless the layer says otherwise). */
  readonly mediaType: string;
  /** sha256 of the uncompressed tar: what the config's `rootfs.diff_ids` lists. May be expensive. */
  diffId(): Promise<Digest>;
  /** sha256 of the blob as stored: what the manifest's layer descriptor names. May be expensive. */
  digest(): Promise<Digest>;
  /** Byte size of the blob as stored. May be expensive. */
  size(): Promise<number>;
  /** A fresh stream of the uncompressed tar. */
  uncompressed(): AsyncIterable<Uint8Array>;
  /** A fresh stream of the blob as stored. */
  compressed(): AsyncIterable<Uint8Array>;
  /**
   * Byte size of the uncompressed tar, where the layer can know it (every
   * layerkit constructor can). May be expensive.
   */
  uncompressedSize?(): Promise<number>;
}

/**
 * The key under which a layer names the file that holds its blob, byte for
 * byte, when this process wrote that file and hashed it on the way (the
 * builder's staged layers do). A store or an image layout may then link or
 * copy the file instead of streaming and hashing the blob once more. The
 * file must be private to its writer and never change while the layer lives.
 *
 * @internal
 */
export const OWN_BLOB_FILE: unique symbol = Symbol('layerkit.ownBlobFile');

/**
 * The file a layer's blob was written to by this process (see
 * {@link OWN_BLOB_FILE}), or undefined for every other layer.
 *
 * @internal
 */
export function ownBlobFile(layer: Layer): string | undefined {
  const file = (layer as { [OWN_BLOB_FILE]?: unknown })[OWN_BLOB_FILE];
  return typeof file === 'string' ? file : undefined;
}

/**
 * Something that produces a fresh byte stream on every call: a file, a
 * buffer, a generator. Layers hold openers, never streams, so every read
 * starts from the first byte.
 *
 * @example
 * ```ts
 * const open: Opener = () => createReadStream('layer.tar.gz');
 * ```
 */
export type Opener = () => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>;

/** Digest and byte count of one stream. */
export interface Measured {
  digest: Digest;
  size: number;
}

/** Calls an opener and flattens the promise into one stream. */
export async function* openStream(open: Opener): AsyncGenerator<Uint8Array> {
  yield* await open();
}

/** Hashes a stream as it passes through; `done` receives the result at end of stream. */
export async function* measure(
  source: AsyncIterable<Uint8Array>,
  done: (result: Measured) => void,
): AsyncGenerator<Uint8Array> {
  const hasher = createSha256();
  let size = 0;
  for await (const chunk of source) {
    hasher.update(chunk);
    size += chunk.byteLength;
    yield chunk;
  }
  done({ digest: hasher.digest(), size });
}

/**
 * Passes a stream through and, at its end, compares its digest and size with
 * `expected()` (when known by then), throwing {@link DigestMismatchError}
 * instead of ending quietly: a recomputed or re-read stream that no longer
 * matches the digest already handed out is an error, not a silent new layer.
 */
export async function* verified(
  source: AsyncIterable<Uint8Array>,
  what: string,
  expected: () => Measured | undefined,
  onMeasured?: (result: Measured) => void,
): AsyncGenerator<Uint8Array> {
  let result: Measured | undefined;
  yield* measure(source, (r) => (result = r));
  const want = expected();
  if (want && result) {
    if (want.digest !== result.digest) throw new DigestMismatchError(what, want.digest, result.digest);
    if (want.size !== result.size) throw new DigestMismatchError(`${what} size`, String(want.size), String(result.size));
  }
  if (result) onMeasured?.(result);
}

/**
 * A lazily computed value: the first `get()` starts the computation, every
 * later one returns the same promise (value or rejection). `peek()` is the
 * value once it has settled successfully.
 */
export class Lazy<T> {
  #promise: Promise<T> | undefined;
  #value: { v: T } | undefined;

  constructor(private readonly compute: () => Promise<T>) {}

  get(): Promise<T> {
    if (!this.#promise) {
      this.#promise = this.compute();
      this.#promise.then(
        (v) => (this.#value = { v }),
        () => {},
      );
    }
    return this.#promise;
  }

  /** True once the computation has started (or a value was supplied). */
  get started(): boolean {
    return this.#promise !== undefined;
  }

  /** The settled value, if it succeeded. */
  peek(): T | undefined {
    return this.#value?.v;
  }

  /** Supplies the value from elsewhere (a stream that was read to its end), if nothing started yet. */
  offer(value: T): void {
    if (this.#promise) return;
    this.#promise = Promise.resolve(value);
    this.#value = { v: value };
  }
}
