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
export {
  baseKey,
  BuildCache,
  CacheError,
  checksumItems,
  exportCache,
  exportRegistryCache,
  importCache,
  importRegistryCache,
  instructionIdentity,
  parseCacheFrom,
  parseCacheTo,
  parseRegistryCacheFrom,
  parseRegistryCacheTo,
  stepKeys,
  type BaseIdentity,
  type BuildCacheOptions,
  type CachedLayer,
  type CacheErrorCode,
  type CacheErrorData,
  type CacheFromSpec,
  type CacheKey,
  type CacheOptions,
  type CacheRecord,
  type CacheReport,
  type CacheToSpec,
  type CacheUsage,
  type ExportEntry,
  type ExportResult,
  type ImportedCache,
  type KeySettings,
  type PruneOptions,
  type PruneResult,
  type RegistryCacheFromSpec,
  type RegistryCacheToSpec,
  type StepKeyInput,
} from './cache/index.js';
