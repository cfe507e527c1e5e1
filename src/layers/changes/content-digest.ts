/**
 * Content digests remembered per content source: sources are immutable
 * openers, so a source is read (and hashed) at most once.
 * @module
 */
import { sha256Stream, type Digest } from '../../digest.js';
import type { ContentSource } from '../entry.js';

const digests = new WeakMap<ContentSource, Promise<Digest>>();
const knownDigests = new WeakMap<ContentSource, Digest>();

/**
 * The sha256 of a content source, read once and remembered for the source's
 * lifetime (sources are immutable openers).
 *
 * @example
 * ```ts
 * await contentDigest(bytesSource(new Uint8Array([1, 2, 3])));
 * ```
 */
export function contentDigest(source: ContentSource): Promise<Digest> {
  let pending = digests.get(source);
  if (!pending) {
    pending = sha256Stream(source.open()).then(({ digest }) => {
      knownDigests.set(source, digest);
      return digest;
    });
    digests.set(source, pending);
  }
  return pending;
}

/** @internal The digest of a source if it has already been computed. */
export function knownContentDigest(source: ContentSource): Digest | undefined {
  return knownDigests.get(source);
}

/** @internal Records a digest computed elsewhere (while the bytes streamed past). */
export function rememberContentDigest(source: ContentSource, digest: Digest): void {
  knownDigests.set(source, digest);
  digests.set(source, Promise.resolve(digest));
}
