/**
 * The `Image` contract and its core implementation: an immutable, lazy view
 * of a manifest, a config and ordered layers.
 * @module
 */
import { sha256, type Digest } from '../digest.js';
import type { Layer } from '../layers/layer.js';
import { InvalidImageError } from './errors.js';
import { canonicalJson, parseImageConfig, parseManifest } from './json.js';
import { hostPlatform } from './platform.js';
import {
  ImageMediaType,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  type Platform,
} from './types.js';

/**
 * A container image: a manifest naming a config blob and layer blobs.
 *
 * Images are immutable values. Every getter may be expensive the first time
 * (building a manifest needs every layer's digest, which may mean streaming
 * the layer) and is memoized afterwards, value or error. Objects handed out
 * are copies: changing them changes nothing. Mutations
 * ({@link appendLayers}, {@link withConfig}, …) return new images.
 *
 * @example
 * ```ts
 * const image: Image = appendLayers(emptyImage(), layer);
 * console.log(await image.digest(), await image.configDigest());
 * ```
 */
export interface Image {
  /** Media type of the manifest (OCI unless the image came from a Docker manifest). */
  readonly mediaType: string;
  /** The layers, base first. May be expensive. */
  layers(): Promise<Layer[]>;
  /** The parsed config: a deep copy. */
  config(): Promise<ImageConfig>;
  /** The config blob, byte for byte (a copy). */
  rawConfig(): Promise<Uint8Array>;
  /** sha256 of the config blob: the image ID as `docker images` shows it. */
  configDigest(): Promise<Digest>;
  /** The parsed manifest: a deep copy. May be expensive. */
  manifest(): Promise<Manifest>;
  /** The manifest blob, byte for byte (a copy). May be expensive. */
  rawManifest(): Promise<Uint8Array>;
  /** sha256 of the manifest blob: the digest a registry or layout names the image by. */
  digest(): Promise<Digest>;
}

/** Everything an image is made of, computed once. */
export interface ImageParts {
  readonly rawManifest: Uint8Array;
  readonly manifest: Manifest;
  readonly digest: Digest;
  readonly rawConfig: Uint8Array;
  readonly config: ImageConfig;
  readonly configDigest: Digest;
  readonly layers: readonly Layer[];
}

/**
 * The one Image implementation behind every source: it memoizes a single
 * promise of {@link ImageParts} and hands out copies.
 */
export class LazyImage implements Image {
  readonly mediaType: string;
  readonly #compute: () => Promise<ImageParts>;
  #parts: Promise<ImageParts> | undefined;

  constructor(mediaType: string, compute: () => Promise<ImageParts>) {
    this.mediaType = mediaType;
    this.#compute = compute;
  }

  /** The memoized parts (not copies: internal use only). */
  parts(): Promise<ImageParts> {
    this.#parts ??= this.#compute();
    return this.#parts;
  }

  async layers(): Promise<Layer[]> {
    return [...(await this.parts()).layers];
  }
  async config(): Promise<ImageConfig> {
    return structuredClone((await this.parts()).config);
  }
  async rawConfig(): Promise<Uint8Array> {
    return (await this.parts()).rawConfig.slice();
  }
  async configDigest(): Promise<Digest> {
    return (await this.parts()).configDigest;
  }
  async manifest(): Promise<Manifest> {
    return structuredClone((await this.parts()).manifest);
  }
  async rawManifest(): Promise<Uint8Array> {
    return (await this.parts()).rawManifest.slice();
  }
  async digest(): Promise<Digest> {
    return (await this.parts()).digest;
  }
}

/** The internal parts of any Image: fast for ours, through the interface for others. */
export async function imageParts(image: Image): Promise<ImageParts> {
  if (image instanceof LazyImage) return image.parts();
  const [rawManifest, rawConfig, layers] = await Promise.all([image.rawManifest(), image.rawConfig(), image.layers()]);
  return {
    rawManifest,
    manifest: parseManifest(rawManifest),
    digest: sha256(rawManifest),
    rawConfig,
    config: parseImageConfig(rawConfig),
    configDigest: sha256(rawConfig),
    layers,
  };
}

const OCI_TO_DOCKER: Record<string, string> = {
  [ImageMediaType.ociLayer]: ImageMediaType.dockerLayer,
  [ImageMediaType.ociLayerGzip]: ImageMediaType.dockerLayerGzip,
};
const DOCKER_TO_OCI: Record<string, string> = {
  [ImageMediaType.dockerLayer]: ImageMediaType.ociLayer,
  [ImageMediaType.dockerLayerGzip]: ImageMediaType.ociLayerGzip,
};

/**
 * The media type a layer gets in a manifest of `manifestMediaType`: Docker
 * manifests list Docker layer types and OCI manifests OCI ones (same bytes,
 * different names); anything else (zstd, foreign layers) is kept.
 */
export function layerMediaTypeFor(manifestMediaType: string, layerMediaType: string): string {
  const table = manifestMediaType === ImageMediaType.dockerManifest ? OCI_TO_DOCKER : DOCKER_TO_OCI;
  return table[layerMediaType] ?? layerMediaType;
}

/** The config media type that goes with a manifest media type. */
export function configMediaTypeFor(manifestMediaType: string): string {
  return manifestMediaType === ImageMediaType.dockerManifest ? ImageMediaType.dockerConfig : ImageMediaType.ociConfig;
}

/**
 * Checks the layer invariant of a config: when history is present, the
 * entries without `empty_layer` are exactly as many as the diffIDs.
 *
 * @throws {@link InvalidImageError} naming both counts.
 */
export function checkHistoryMatchesLayers(config: ImageConfig, what = 'image config'): void {
  const history = config.history ?? [];
  if (history.length === 0) return;
  const withLayers = history.filter((h) => h.empty_layer !== true).length;
  if (withLayers !== config.rootfs.diff_ids.length) {
    throw new InvalidImageError(
      what,
      `history has ${withLayers} entries with a layer but rootfs has ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
}

/**
 * Options of {@link imageFromConfig}.
 *
 * @example
 * ```ts
 * imageFromConfig(config, layers, { mediaType: ImageMediaType.dockerManifest });
 * ```
 */
export interface ImageFromConfigOptions {
  /** Manifest media type: OCI (default) or Docker schema 2. */
  mediaType?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/**
 * Builds an image from a config and its layers, computing the canonical
 * config and manifest bytes. The config's `rootfs.diff_ids` must be the
 * layers' diffIDs, in order, and its history must agree with the layer count;
 * both are checked when the image is first used.
 *
 * @example
 * ```ts
 * const image = imageFromConfig(
 *   { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [await layer.diffId()] } },
 *   [layer],
 * );
 * await image.digest();
 * ```
 */
export function imageFromConfig(config: ImageConfig, layers: readonly Layer[], options: ImageFromConfigOptions = {}): Image {
  const mediaType = options.mediaType ?? ImageMediaType.ociManifest;
  const configCopy = structuredClone(config);
  const layersCopy = [...layers];
  const annotations = options.annotations ? { ...options.annotations } : undefined;
  return new LazyImage(mediaType, () => assemble(mediaType, configCopy, layersCopy, annotations));
}

/** Computes canonical bytes and digests for a config + layers. */
export async function assemble(
  mediaType: string,
  config: ImageConfig,
  layers: readonly Layer[],
  annotations?: Record<string, string>,
): Promise<ImageParts> {
  if (mediaType !== ImageMediaType.ociManifest && mediaType !== ImageMediaType.dockerManifest) {
    throw new InvalidImageError('manifest', `cannot build a manifest of media type ${JSON.stringify(mediaType)}`);
  }
  if (config.rootfs?.type !== 'layers' || !Array.isArray(config.rootfs.diff_ids)) {
    throw new InvalidImageError('image config', 'rootfs must be {type: "layers", diff_ids: [...]}');
  }
  if (config.rootfs.diff_ids.length !== layers.length) {
    throw new InvalidImageError(
      'image config',
      `rootfs has ${config.rootfs.diff_ids.length} diff_ids but the image has ${layers.length} layers`,
    );
  }
  checkHistoryMatchesLayers(config);
  for (const [i, layer] of layers.entries()) {
    const diffId = await layer.diffId();
    if (diffId !== config.rootfs.diff_ids[i]) {
      throw new InvalidImageError('image config', `rootfs.diff_ids[${i}] is ${config.rootfs.diff_ids[i]} but layer ${i} has diffID ${diffId}`);
    }
  }
  return assembleWithRawConfig(mediaType, canonicalJson('config', config), layers, annotations);
}

/**
 * Builds the canonical manifest for config bytes kept as they are (so the
 * image ID stays the source's) and layers whose diffIDs the config lists.
 */
export async function assembleWithRawConfig(
  mediaType: string,
  rawConfig: Uint8Array,
  layers: readonly Layer[],
  annotations?: Record<string, string>,
): Promise<ImageParts> {
  const config = parseImageConfig(rawConfig);
  if (config.rootfs.diff_ids.length !== layers.length) {
    throw new InvalidImageError(
      'image config',
      `rootfs has ${config.rootfs.diff_ids.length} diff_ids but the image has ${layers.length} layers`,
    );
  }
  const layerDescriptors: Descriptor[] = [];
  for (const layer of layers) {
    layerDescriptors.push({
      mediaType: layerMediaTypeFor(mediaType, layer.mediaType),
      digest: await layer.digest(),
      size: await layer.size(),
    });
  }
  const configDigest = sha256(rawConfig);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configMediaTypeFor(mediaType), digest: configDigest, size: rawConfig.byteLength },
    layers: layerDescriptors,
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const rawManifest = canonicalJson('manifest', manifest);
  return {
    rawManifest,
    manifest: parseManifest(rawManifest),
    digest: sha256(rawManifest),
    rawConfig,
    config,
    configDigest,
    layers,
  };
}

/**
 * An image with no layers: `FROM scratch`. Its config holds only the
 * platform (the host's Linux platform by default), an empty `config` and an
 * empty `rootfs`; no `created`, so it is the same everywhere.
 *
 * @example
 * ```ts
 * const base = emptyImage({ os: 'linux', architecture: 'arm64' });
 * const image = appendLayers(base, layer);
 * ```
 */
export function emptyImage(platform: Platform = hostPlatform()): Image {
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform['os.version'] ? { 'os.version': platform['os.version'] } : {}),
    ...(platform['os.features']?.length ? { 'os.features': [...platform['os.features']] } : {}),
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
  };
  return imageFromConfig(config, []);
}
