/**
 * An image with every layer in one compression, for exporters that are asked
 * for one (`-o type=oci,…,compression=zstd`).
 * @module
 */
import { mediaTypeCompression } from '../layers/compress/media-types.js';
import type { CompressionFormat } from '../layers/errors.js';
import { layerFromUncompressed, type LayerCompressionOptions } from '../layers/from-uncompressed.js';
import type { Layer } from '../layers/layer.js';
import { assembleWithRawConfig, imageParts, LazyImage, type Image } from './image.js';
import { ImageMediaType } from './types.js';

/** Options of {@link withLayerCompression}: level and encoder, as for new layers. */
export type RecompressOptions = Omit<LayerCompressionOptions, 'compression' | 'mediaType'>;

/**
 * A view of `image` whose layers are all in `format`. A layer already in it
 * is kept as it is; any other is decompressed and compressed again as it is
 * streamed (the config, and so the diffIDs and image ID, stay the same).
 * Docker manifests have no zstd layer type, so a Docker image asked for zstd
 * becomes an OCI one, as BuildKit's exporter does.
 *
 * @example
 * ```ts
 * const zstdImage = withLayerCompression(image, 'zstd');
 * await writeOciLayout('out', { image: zstdImage });
 * ```
 */
export function withLayerCompression(image: Image, format: CompressionFormat, options: RecompressOptions = {}): Image {
  const mediaType = format === 'zstd' ? ImageMediaType.ociManifest : image.mediaType;
  return new LazyImage(mediaType, async () => {
    const parts = await imageParts(image);
    const layers = parts.layers.map((layer) => recompressed(layer, format, options));
    return assembleWithRawConfig(mediaType, parts.rawConfig, layers, parts.manifest.annotations);
  });
}

function recompressed(layer: Layer, format: CompressionFormat, options: RecompressOptions): Layer {
  if (mediaTypeCompression(layer.mediaType) === format) return layer;
  return layerFromUncompressed(() => layer.uncompressed(), { ...options, compression: format });
}
