/**
 * The cache's part of `build()`'s options and result. Kept apart from the
 * cache session so the build options can name them without importing it.
 * @module
 */
import type { ExportResult } from './layout.js';
import type { RegistryCacheFromSpec, RegistryCacheToSpec } from './registry-cache.js';
import type { CacheFromSpec, CacheToSpec } from './spec.js';

/**
 * The cache options of `build()`.
 *
 * @example
 * ```ts
 * await build({ context: '.', cacheFrom: 'type=local,src=.ci/cache', cacheTo: 'type=local,dest=.ci/cache,mode=max' });
 * ```
 */
export interface CacheOptions {
  /** Look nothing up (every step runs); results are still recorded. `docker build --no-cache`. */
  noCache?: boolean;
  /** Stages (by name) whose steps are not looked up. `--no-cache-filter`. */
  noCacheFilter?: readonly string[];
  /** Caches to fall back to: `type=local,src=DIR`, `type=registry,ref=REF`. */
  cacheFrom?: string | CacheFromSpec | RegistryCacheFromSpec | ReadonlyArray<string | CacheFromSpec | RegistryCacheFromSpec>;
  /** Where to export this build's records: `type=local,dest=DIR[,mode=min|max]`, `type=registry,ref=REF[,mode=min|max]`. */
  cacheTo?: string | CacheToSpec | RegistryCacheToSpec | ReadonlyArray<string | CacheToSpec | RegistryCacheToSpec>;
}

/**
 * What the cache did in one build.
 *
 * @example
 * ```ts
 * const { cache } = await build({ context: '.' });
 * console.log(`${cache.hits} cached, ${cache.misses} ran`);
 * ```
 */
export interface CacheReport {
  /** Steps whose result came from the cache. */
  hits: number;
  /** Steps that ran. */
  misses: number;
  /** Context files whose content was read and hashed for cache keys. */
  contextFilesRead: number;
  /** Context files whose digest came from the stat index without reading. */
  contextFilesReused: number;
  /** Cache exports written. */
  exports: Array<ExportResult & { dest: string }>;
  /** Records that could not be written (the build succeeded regardless), as messages. */
  writeErrors: string[];
}
