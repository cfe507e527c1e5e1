/**
 * The one table of layer media types: which compression each names. Every
 * reader and writer of layer blobs asks here instead of matching suffixes,
 * so a new compression is one row, not a search through the tree.
 * @module
 */
import type { CompressionFormat } from '../errors.js';

/**
 * Layer media types, OCI and Docker.
 *
 * @example
 * ```ts
 * const d = { mediaType: LayerMediaType.ociZstd, digest, size };
 * ```
 */
export const LayerMediaType = {
  ociTar: 'application/vnd.oci.image.layer.v1.tar',
  ociGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

const COMPRESSION: Readonly<Record<string, CompressionFormat>> = {
  [LayerMediaType.ociTar]: 'none',
  [LayerMediaType.ociGzip]: 'gzip',
  [LayerMediaType.ociZstd]: 'zstd',
  [LayerMediaType.ociNondistributableTar]: 'none',
  [LayerMediaType.ociNondistributableGzip]: 'gzip',
  [LayerMediaType.ociNondistributableZstd]: 'zstd',
  [LayerMediaType.dockerTar]: 'none',
  [LayerMediaType.dockerGzip]: 'gzip',
  [LayerMediaType.dockerForeignGzip]: 'gzip',
};

/**
 * The compression a layer media type names, or `undefined` for a media type
 * that is not a layer layerkit knows (the caller then sniffs the bytes).
 *
 * @example
 * ```ts
 * mediaTypeCompression('application/vnd.oci.image.layer.v1.tar+zstd'); // 'zstd'
 * mediaTypeCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'); // 'gzip'
 * mediaTypeCompression('application/octet-stream'); // undefined
 * ```
 */
export function mediaTypeCompression(mediaType: string): CompressionFormat | undefined {
  return Object.hasOwn(COMPRESSION, mediaType) ? COMPRESSION[mediaType] : undefined;
}

/**
 * The OCI layer media type of a compression.
 *
 * @example
 * ```ts
 * ociLayerMediaType('zstd'); // 'application/vnd.oci.image.layer.v1.tar+zstd'
 * ```
 */
export function ociLayerMediaType(format: CompressionFormat): string {
  return format === 'gzip' ? LayerMediaType.ociGzip : format === 'zstd' ? LayerMediaType.ociZstd : LayerMediaType.ociTar;
}
