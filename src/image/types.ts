/**
 * The OCI image model as plain data: descriptors, manifests, indexes and the
 * image configuration (with Docker's extensions), plus the media types
 * layerkit reads and writes.
 *
 * Field names are the JSON names of the specifications, so a parsed document
 * is the object itself and {@link canonicalJson} turns it back into bytes.
 * @module
 */
import { LayerMediaType } from '../layers/compress/media-types.js';

/**
 * Media types of manifests, indexes, configs and layers (OCI and Docker). The
 * layer types are those of the one table in layers ({@link LayerMediaType}),
 * which also says what compression each names.
 *
 * @example
 * ```ts
 * if (manifest.mediaType === ImageMediaType.dockerManifest) console.log("Docker schema 2");
 * ```
 */
export const ImageMediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: LayerMediaType.ociTar,
  ociLayerGzip: LayerMediaType.ociGzip,
  ociLayerZstd: LayerMediaType.ociZstd,
  ociLayerNondistributable: LayerMediaType.ociNondistributableTar,
  ociLayerNondistributableGzip: LayerMediaType.ociNondistributableGzip,
  ociLayerNondistributableZstd: LayerMediaType.ociNondistributableZstd,
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: LayerMediaType.dockerTar,
  dockerLayerGzip: LayerMediaType.dockerGzip,
  dockerForeignLayerGzip: LayerMediaType.dockerForeignGzip,
} as const;

/**
 * Well-known annotation keys.
 *
 * @example
 * ```ts
 * const tag = descriptor.annotations?.[Annotation.refName]; // 'v1'
 * ```
 */
export const Annotation = {
  /** Tag of a descriptor in an OCI layout's `index.json` (image-layout.md). */
  refName: 'org.opencontainers.image.ref.name',
  /** Full image name containerd and Docker put next to `refName`. */
  imageName: 'io.containerd.image.name',
  created: 'org.opencontainers.image.created',
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
} as const;

/**
 * The platform an image runs on (GOOS/GOARCH names).
 *
 * @example
 * ```ts
 * const platform: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
 * ```
 */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/**
 * A pointer to a blob: what it is, its digest and its exact size.
 *
 * @example
 * ```ts
 * const d: Descriptor = { mediaType: ImageMediaType.ociLayerGzip, digest: await layer.digest(), size: await layer.size() };
 * ```
 */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 of the blob itself, for tiny blobs. */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/**
 * An image manifest (OCI `manifest.md`; Docker schema 2 has the same shape).
 *
 * @example
 * ```ts
 * const manifest: Manifest = await image.manifest();
 * manifest.layers.map((l) => l.digest);
 * ```
 */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * An image index / manifest list: descriptors of manifests (or nested indexes).
 *
 * @example
 * ```ts
 * const index: ImageIndex = parseIndex(await readFile('layout/index.json'));
 * ```
 */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * Docker's HEALTHCHECK settings. Durations are in nanoseconds.
 *
 * @example
 * ```ts
 * const hc: HealthConfig = { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30e9, Retries: 3 };
 * ```
 */
export interface HealthConfig {
  /** `[]` inherit, `['NONE']` disable, `['CMD', …]` exec, `['CMD-SHELL', cmd]` shell. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * The run-time defaults of a container (the `config` member of an image config).
 *
 * @example
 * ```ts
 * const image = withConfig(base, { config: { Cmd: ['node', 'server.js'], ExposedPorts: { '8080/tcp': {} } } });
 * ```
 */
export interface ContainerConfig {
  User?: string;
  /** `{"8080/tcp": {}}`. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `KEY=value` strings. */
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  /** `{"/data": {}}`. */
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[];
  Shell?: string[];
  [unknown: string]: unknown;
}

/**
 * One step of an image's history. Steps with `empty_layer` made no layer.
 *
 * @example
 * ```ts
 * const image = appendLayers(base, { layer, history: { created_by: 'COPY . /app', comment: 'buildkit.dockerfile.v0' } });
 * ```
 */
export interface History {
  /** RFC 3339 time. */
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
  [unknown: string]: unknown;
}

/**
 * The layers an image is made of, by diffID, base first.
 *
 * @example
 * ```ts
 * (await image.config()).rootfs.diff_ids.length === (await image.layers()).length; // true
 * ```
 */
export interface RootFS {
  type: 'layers';
  diff_ids: string[];
}

/**
 * An image configuration (`config.json`): platform, run-time defaults, the
 * diffIDs of its layers and its history. Unknown members are kept as they are.
 *
 * @example
 * ```ts
 * const config: ImageConfig = await image.config();
 * console.log(config.architecture, config.config?.Cmd);
 * ```
 */
export interface ImageConfig {
  /** RFC 3339 time. */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: History[];
  [unknown: string]: unknown;
}

/**
 * True for the media types of image indexes (OCI index, Docker manifest list).
 *
 * @example
 * ```ts
 * isIndexMediaType('application/vnd.oci.image.index.v1+json'); // true
 * ```
 */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === ImageMediaType.ociIndex || mediaType === ImageMediaType.dockerManifestList;
}

/**
 * True for the media types of image manifests (OCI, Docker schema 2).
 *
 * @example
 * ```ts
 * isManifestMediaType('application/vnd.docker.distribution.manifest.v2+json'); // true
 * ```
 */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === ImageMediaType.ociManifest || mediaType === ImageMediaType.dockerManifest;
}
