/**
 * Images and layers that live in a registry: manifest and config fetched,
 * layer blobs fetched only when a stream is read. A layer remembers where it
 * lives, so pushing it to another repository of the same registry mounts it
 * instead of moving its bytes.
 * @module
 */
import type { Digest } from '../digest.js';
import { storedLayer } from '../image/blob-layer.js';
import { LazyImage, type Image, type ImageParts } from '../image/image.js';
import type { ImageReference } from '../image/reference.js';
import type { Layer } from '../layers/layer.js';

/**
 * An image backed by a registry: its layers are {@link RemoteLayer}s.
 *
 * @example
 * ```ts
 * const image: RemoteImage = await client.getImage('localhost:5000/app:1');
 * console.log(image.reference.canonical, image.manifestDigest);
 * ```
 */
export interface RemoteImage extends Image {
  /** The reference the image was resolved from (tag or digest as given). */
  readonly reference: ImageReference;
  /** The digest of this image's manifest (the platform's manifest when the reference named an index). */
  readonly manifestDigest: Digest;
  /** The digest the reference resolved to: the index's when it named an index, else the manifest's. */
  readonly resolvedDigest: Digest;
  /** The layers, base first, each a {@link RemoteLayer}. */
  layers(): Promise<RemoteLayer[]>;
}

/**
 * Where a remote layer's blob lives.
 *
 * @example
 * ```ts
 * if (isRemoteLayer(layer)) console.log(layer.source.registry, layer.source.repository);
 * ```
 */
export interface RemoteLayerSource {
  /** Registry domain as references spell it: `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path: `library/alpine`. */
  repository: string;
  digest: Digest;
}

/**
 * A layer whose blob lives in a registry repository. Reading it downloads the
 * blob (verified); pushing it to the same registry mounts it instead.
 *
 * @example
 * ```ts
 * for (const layer of await image.layers()) if (isRemoteLayer(layer)) console.log(layer.source.digest);
 * ```
 */
export interface RemoteLayer extends Layer {
  readonly source: RemoteLayerSource;
}

/** What a remote layer is known by before it is read. */
export interface RemoteLayerInfo {
  source: RemoteLayerSource;
  mediaType: string;
  size: number;
  diffId: Digest;
  /** A verified stream of the blob (the client checks digest and size). */
  open: () => AsyncIterable<Uint8Array>;
}

class RemoteLayerImpl implements RemoteLayer {
  readonly mediaType: string;
  readonly source: RemoteLayerSource;
  readonly #info: RemoteLayerInfo;
  #reader: Layer | undefined;

  constructor(info: RemoteLayerInfo) {
    this.mediaType = info.mediaType;
    this.source = Object.freeze({ ...info.source });
    this.#info = info;
  }

  diffId(): Promise<Digest> {
    return Promise.resolve(this.#info.diffId);
  }
  digest(): Promise<Digest> {
    return Promise.resolve(this.#info.source.digest);
  }
  size(): Promise<number> {
    return Promise.resolve(this.#info.size);
  }
  compressed(): AsyncIterable<Uint8Array> {
    return this.#info.open();
  }
  uncompressed(): AsyncIterable<Uint8Array> {
    // The stored-blob layer's reader: decompression sniffed, diffID verified, errors that say which.
    this.#reader ??= storedLayer({
      mediaType: this.mediaType,
      digest: this.source.digest,
      size: this.#info.size,
      diffId: this.#info.diffId,
      open: this.#info.open,
      what: `layer ${this.source.digest} of ${this.source.registry}/${this.source.repository}`,
    });
    return this.#reader.uncompressed();
  }
}

/** A {@link RemoteLayer} over a registry blob. */
export function remoteLayer(info: RemoteLayerInfo): RemoteLayer {
  return new RemoteLayerImpl(info);
}

/**
 * True when a layer lives in a registry (so a push to the same registry can mount it).
 *
 * @example
 * ```ts
 * const remote = (await image.layers()).filter(isRemoteLayer).length;
 * ```
 */
export function isRemoteLayer(layer: Layer): layer is RemoteLayer {
  const source = (layer as Partial<RemoteLayer>).source;
  return typeof source === 'object' && source !== null && typeof source.registry === 'string' && typeof source.repository === 'string' && typeof source.digest === 'string';
}

class RemoteImageImpl extends LazyImage implements RemoteImage {
  readonly reference: ImageReference;
  readonly manifestDigest: Digest;
  readonly resolvedDigest: Digest;

  constructor(parts: ImageParts, reference: ImageReference, resolvedDigest: Digest, mediaType: string) {
    super(mediaType, () => Promise.resolve(parts));
    this.reference = reference;
    this.manifestDigest = parts.digest;
    this.resolvedDigest = resolvedDigest;
  }

  override async layers(): Promise<RemoteLayer[]> {
    return (await super.layers()) as RemoteLayer[];
  }
}

/** A {@link RemoteImage} over parts already fetched (manifest bytes kept exactly). */
export function remoteImage(parts: ImageParts, reference: ImageReference, resolvedDigest: Digest, mediaType: string): RemoteImage {
  return new RemoteImageImpl(parts, reference, resolvedDigest, parts.manifest.mediaType || mediaType);
}
