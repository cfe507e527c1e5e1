/**
 * Where blobs live: a directory with `blobs/<alg>/<hex>` (an OCI layout, the
 * store) or a tar archive with the same members. Every read through
 * {@link readBlob} is verified against the digest that named the blob.
 * @module
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { digestAlgorithm, digestHex, type Digest } from '../digest.js';
import { BlobNotFoundError, InvalidImageError } from './errors.js';
import { collect, verified } from './streams.js';
import type { TarArchive } from './tar-archive.js';

/** A place blobs can be read from by digest. */
export interface BlobSource {
  /** Describes the place in error messages (a path). */
  readonly where: string;
  /** A fresh, unverified stream of a blob. Iterating throws {@link BlobNotFoundError} if it is absent. */
  open(digest: Digest): AsyncIterable<Uint8Array>;
}

/** The path of a blob inside a layout directory or archive: `blobs/sha256/<hex>`. */
export function blobPath(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/** Blobs under `<root>/blobs/<alg>/<hex>`. */
export function directoryBlobSource(root: string): BlobSource {
  return {
    where: root,
    async *open(digest: Digest) {
      const path = join(root, blobPath(digest));
      try {
        yield* createReadStream(path) as AsyncIterable<Uint8Array>;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest, root);
        throw err;
      }
    },
  };
}

/** Blobs that are members `blobs/<alg>/<hex>` of an indexed archive. */
export function archiveBlobSource(archive: TarArchive): BlobSource {
  return {
    where: archive.path,
    async *open(digest: Digest) {
      const member = archive.file(blobPath(digest));
      if (!member) throw new BlobNotFoundError(digest, archive.path);
      yield* archive.open(member);
    },
  };
}

/** Largest JSON blob (manifest, index, config) read into memory. */
export const MAX_JSON_BLOB = 32 << 20;

/**
 * Reads a whole blob, verifying digest and (when given) size.
 *
 * @throws {@link DigestMismatchError} for corrupt content, {@link BlobNotFoundError} when absent.
 */
export async function readBlob(source: BlobSource, digest: Digest, size?: number, what = `blob ${digest}`): Promise<Uint8Array> {
  if (size !== undefined && size > MAX_JSON_BLOB) {
    throw new InvalidImageError(what, `${size} bytes is more than the ${MAX_JSON_BLOB} bytes a JSON blob may have`);
  }
  return collect(limited(verified(source.open(digest), { digest, size }, what), MAX_JSON_BLOB, what));
}

async function* limited(source: AsyncIterable<Uint8Array>, limit: number, what: string): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > limit) throw new InvalidImageError(what, `more than the ${limit} bytes a JSON blob may have`);
    yield chunk;
  }
}
