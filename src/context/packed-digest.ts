/**
 * Content digests as the context keeps them per file: a SHA-256 digest as
 * its 32 bytes in a one-byte string. A context of 100,000 files keeps a
 * digest per file for the whole build (the copy's observed reads, the stat
 * index); as `sha256:<hex>` each takes 88 bytes of heap, or 120 as the
 * concatenation a hasher returns, packed 48.
 * @module
 */
import type { Digest } from '../digest.js';

declare const packed: unique symbol;

/** A SHA-256 digest packed by {@link packDigest}: 32 characters, each one byte. */
export type PackedDigest = string & { readonly [packed]: true };

/** A digest as kept: packed when it is a SHA-256, else the digest itself. */
export type StoredDigest = Digest | PackedDigest;

const SHA256_PREFIX = 'sha256:';
const BYTES = 32;
const LOWER_HEX = /[0-9a-f]{64}$/y;
/** One scratch buffer for the conversions: they are synchronous, so nothing else uses it meanwhile. */
const scratch = Buffer.alloc(BYTES);

/**
 * The stored form of `digest`: packed when it is a lowercase-hex SHA-256
 * digest (every digest the context makes or loads), else unchanged (a
 * digest already packed too).
 *
 * @example
 * ```ts
 * const kept = packDigest(sha256('hi')); // 32 characters
 * fullDigest(kept) === sha256('hi'); // true
 * ```
 */
export function packDigest(digest: StoredDigest): StoredDigest {
  if (digest.length !== SHA256_PREFIX.length + 2 * BYTES || !digest.startsWith(SHA256_PREFIX)) return digest;
  LOWER_HEX.lastIndex = SHA256_PREFIX.length;
  if (!LOWER_HEX.test(digest)) return digest;
  scratch.write(digest.slice(SHA256_PREFIX.length), 'hex');
  return scratch.toString('latin1') as PackedDigest;
}

/**
 * The digest a stored form stands for. A full digest is never 32
 * characters long (an algorithm, a colon and at least 64 hex digits), so
 * the two forms cannot be confused.
 *
 * @example
 * ```ts
 * fullDigest(packDigest(d)) === d; // for every digest d
 * ```
 */
export function fullDigest(stored: StoredDigest): Digest {
  if (stored.length !== BYTES) return stored as Digest;
  scratch.write(stored, 'latin1');
  return `${SHA256_PREFIX}${scratch.toString('hex')}` as Digest;
}
