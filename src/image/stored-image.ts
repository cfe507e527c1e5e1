/**
 * Images read from blobs (an OCI layout, the store, the OCI half of a
 * docker-archive): the manifest and config bytes are kept exactly as stored,
 * so the image's digests are the source's.
 * @module
 */
import { parseDigest, sha256, type Digest } from '../digest.js';
import { readBlob, type BlobSource } from './blob-source.js';
import { storedLayer } from './blob-layer.js';
import { InvalidImageError, UnsupportedMediaTypeError } from './errors.js';
import { LazyImage, type Image } from './image.js';
import { parseImageConfig, parseManifest } from './json.js';
import { ImageMediaType, isIndexMediaType, type Descriptor } from './types.js';

/**
 * Reads the manifest a descriptor names (verified), then its config
 * (verified), and returns the image; layers stay on disk until streamed.
 *
 * @throws {@link InvalidImageError} when the manifest's layer count differs from `rootfs.diff_ids`.
 */
export async function imageFromManifestDescriptor(source: BlobSource, descriptor: Descriptor): Promise<Image> {
  const digest = parseDigest(descriptor.digest);
  if (isIndexMediaType(descriptor.mediaType)) {
    throw new UnsupportedMediaTypeError(descriptor.mediaType, 'an index is not an image; pick one of its manifests');
  }
  const rawManifest = await readBlob(source, digest, descriptor.size, `manifest ${digest}`);
  return imageFromRawManifest(source, rawManifest, descriptor.mediaType, digest);
}

/** Like {@link imageFromManifestDescriptor} for manifest bytes already in hand. */
export async function imageFromRawManifest(
  source: BlobSource,
  rawManifest: Uint8Array,
  descriptorMediaType?: string,
  digest: Digest = sha256(rawManifest),
): Promise<Image> {
  const manifest = parseManifest(rawManifest);
  const mediaType =
    manifest.mediaType || (descriptorMediaType && descriptorMediaType !== '' ? descriptorMediaType : ImageMediaType.ociManifest);
  if (mediaType === 'application/vnd.docker.distribution.manifest.v1+json' || mediaType.endsWith('manifest.v1+prettyjws')) {
    throw new UnsupportedMediaTypeError(mediaType, 'Docker schema 1 manifests are not supported');
  }
  const configDigest = parseDigest(manifest.config.digest);
  const rawConfig = await readBlob(source, configDigest, manifest.config.size, `config ${configDigest}`);
  const config = parseImageConfig(rawConfig);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new InvalidImageError(
      `image ${digest}`,
      `manifest lists ${manifest.layers.length} layers but config rootfs has ${diffIds.length} diff_ids`,
    );
  }
  const layers = manifest.layers.map((d, i) => {
    const layerDigest = parseDigest(d.digest);
    return storedLayer({
      mediaType: d.mediaType,
      digest: layerDigest,
      size: d.size,
      diffId: parseDigest(diffIds[i] as string),
      open: () => source.open(layerDigest),
      what: `layer ${i} (${layerDigest}) of ${source.where}`,
    });
  });
  const parts = { rawManifest, manifest, digest, rawConfig, config, configDigest, layers };
  return new LazyImage(mediaType, () => Promise.resolve(parts));
}
