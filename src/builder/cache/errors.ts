/**
 * Typed errors of the build cache.
 * @module
 */
import { LayerkitError } from '../../errors.js';

/**
 * The codes a {@link CacheError} can carry.
 *
 * @example
 * ```ts
 * const code: CacheErrorCode = 'CACHE_INVALID_SPEC';
 * ```
 */
export type CacheErrorCode =
  /** A `cacheTo` / `cacheFrom` spec that cannot be read (`type=registry`, no `dest=` …). */
  | 'CACHE_INVALID_SPEC'
  /** A `cacheFrom` directory that is not a cache layout written by {@link exportCache} (or BuildKit-like `type=local`). */
  | 'CACHE_INVALID_LAYOUT'
  /** A prune option out of range. */
  | 'CACHE_INVALID_OPTION';

/**
 * Facts carried by a {@link CacheError}.
 *
 * @example
 * ```ts
 * const data: CacheErrorData = { spec: 'type=s3', reason: 'unsupported type' };
 * ```
 */
export interface CacheErrorData {
  /** The spec as written. */
  spec?: string;
  /** A directory or file involved. */
  path?: string;
  /** Why, in a few words. */
  reason?: string;
}

/**
 * An error of the build cache: a bad spec, an unreadable cache layout.
 * Damage inside the cache itself that a lookup can see (a torn record, a
 * missing or truncated blob) is never an error: the step is simply a miss
 * and runs again. A blob whose bytes changed but not its size is found only
 * when it is read — hits do not read their blobs — and then fails that read
 * with a `DigestMismatchError` rather than being used.
 *
 * @example
 * ```ts
 * try {
 *   await build({ context: '.', cacheTo: 'type=s3,bucket=x' });
 * } catch (err) {
 *   if (err instanceof CacheError && err.code === 'CACHE_INVALID_SPEC') console.error(err.message);
 * }
 * ```
 */
export class CacheError extends LayerkitError<CacheErrorCode, CacheErrorData> {}
