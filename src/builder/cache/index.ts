/**
 * The build cache: keys derived as BuildKit derives them (parent key,
 * expanded instruction, visible variables, content checksums of what a step
 * reads, platform), records and layer blobs in the image store, incremental
 * context hashing, export/import as an OCI layout (`type=local`) or through a
 * registry (`type=registry`), and LRU
 * pruning to a size bound. `build()` uses it unless told not to; see
 * docs/cache.md.
 *
 * @example
 * ```ts
 * import { build, BuildCache, ImageStore } from 'layerkit';
 *
 * const store = new ImageStore();
 * const { cache, steps } = await build({ context: '.', store, cacheTo: 'type=local,dest=.ci/cache' });
 * console.log(cache.hits, cache.misses, steps.filter((s) => s.cached).length);
 * await new BuildCache(store).prune({ keepStorage: 2 ** 30 });
 * ```
 * @module
 */
export { BuildCache, type BuildCacheOptions, type CacheUsage, type ImportedCache, type PruneOptions, type PruneResult } from './cache.js';
export type { CacheOptions, CacheReport } from './session.js';
export { baseKey, instructionIdentity, stepKeys, type BaseIdentity, type CacheKey, type KeySettings, type StepKeyInput } from './key.js';
export { checksumItems } from './selection.js';
export { exportCache, importCache, type ExportEntry, type ExportResult } from './layout.js';
export { parseCacheFrom, parseCacheTo, type CacheFromSpec, type CacheToSpec } from './spec.js';
export {
  exportRegistryCache,
  importRegistryCache,
  parseRegistryCacheFrom,
  parseRegistryCacheTo,
  type RegistryCacheFromSpec,
  type RegistryCacheToSpec,
} from './registry-cache.js';
export type { CachedLayer, CacheRecord } from './records.js';
export { CacheError, type CacheErrorCode, type CacheErrorData } from './errors.js';
