/**
 * The `Layer` contract: a small interface of lazy, fallible getters.
 * @module
 */
import type { Digest } from '../digest.js';

/** Media types layerkit writes (OCI) and the Docker ones it also reads. */
export const MediaType = {
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
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
}
