/**
 * The image builder: `build()` turns a Dockerfile and a context into an OCI
 * image in the local store; RUN goes to a pluggable executor (`src/sandbox/`).
 *
 * @example
 * ```ts
 * import { build } from 'layerkit';
 * const { digest } = await build({ context: 'examples/hello', tags: 'hello:dev' });
 * ```
 * @module
 */
export { build } from './build.js';
export type { BuildOptions, BuildResult, BuildStep, Fetcher, SecretSource } from './options.js';
export { BuildError, type BuildErrorCode, type BuildErrorData } from './errors.js';
export type { BuildEvent, BuildEventListener, BuildWarningCode, StepRef } from './events.js';
export { parseBaseReference, type BaseReference } from './base-image.js';
export { importRootfs, ImportChangeError, type ImportOptions } from './import-rootfs.js';
export { layerIndexTag, LAYER_INDEX_ARTIFACT_TYPE, LAYER_INDEX_MEDIA_TYPE, LAYER_DIGEST_ANNOTATION, type RegistryAccess } from './remote-base.js';
export { parseChmod, type ChmodSpec } from './copy/chmod.js';
export type { RunInlineFile } from './steps/run.js';
// The build cache (docs/cache.md): keys, records, local and registry export/import, pruning.
export { BuildCache, type BuildCacheOptions, type CacheUsage, type ImportedCache, type PruneOptions, type PruneResult } from './cache/cache.js';
export type { CacheOptions, CacheReport } from './cache/session.js';
export { baseKey, instructionIdentity, stepKeys, type BaseIdentity, type CacheKey, type KeySettings, type StepKeyInput } from './cache/key.js';
export { checksumItems } from './cache/selection.js';
export { exportCache, importCache, type ExportEntry, type ExportResult } from './cache/layout.js';
export { parseCacheFrom, parseCacheTo, type CacheFromSpec, type CacheToSpec } from './cache/spec.js';
export {
  exportRegistryCache,
  importRegistryCache,
  parseRegistryCacheFrom,
  parseRegistryCacheTo,
  type RegistryCacheFromSpec,
  type RegistryCacheToSpec,
} from './cache/registry-cache.js';
export type { CachedLayer, CacheRecord } from './cache/records.js';
export { CacheError, type CacheErrorCode, type CacheErrorData } from './cache/errors.js';
