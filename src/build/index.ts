/**
 * The image builder: `build()` turns a Dockerfile and a context into an OCI
 * image in the local store; RUN goes to a pluggable executor. Also the build
 * context (what COPY reads, `.dockerignore`).
 *
 * @example
 * ```ts
 * import { build } from 'layerkit';
 * const { digest } = await build({ context: 'examples/hello', tags: 'hello:dev' });
 * ```
 * @module
 */
export {
  BuildContext,
  type ChecksumTap,
  ContextError,
  ContextFsError,
  dockerfileIgnoreName,
  getfattrReader,
  openContext,
  parseDockerignore,
  Pattern,
  PatternMatcher,
  StatCache,
  type BatchXattrReader,
  type ChecksumOptions,
  type ContextErrorCode,
  type ContextErrorData,
  type ContextFsErrorCode,
  type CopySource,
  type EscapePolicy,
  type IgnoreInfo,
  type IgnorePatterns,
  type MatchInfo,
  type OpenContextOptions,
  type PatternOrigin,
  type ResolveSourcesOptions,
  type SourceEntry,
  type StatCacheStats,
} from './context/index.js';
export { build } from './build.js';
export type { BuildOptions, BuildResult, BuildStep, Fetcher, SecretSource } from './options.js';
export { BuildError, RunFailedError, type BuildErrorCode, type BuildErrorData, type InstructionPosition, type RunFailedErrorData } from './errors.js';
export {
  handlerExecutor,
  type Mount,
  type MountSource,
  type RunContext,
  type RunExecutor,
  type RunFile,
  type RunHandler,
  type RunResult,
  type RunStep,
} from './executor.js';
export type { BuildEvent, BuildEventListener, BuildWarningCode, StepRef } from './events.js';
export { parseBaseReference, type BaseReference } from './base-image.js';
export { importRootfs, ImportChangeError, type ImportOptions } from './import-rootfs.js';
export { layerIndexTag, LAYER_INDEX_ARTIFACT_TYPE, LAYER_INDEX_MEDIA_TYPE, LAYER_DIGEST_ANNOTATION, type RegistryAccess } from './remote-base.js';
export { parseChmod, type ChmodSpec } from './copy/chmod.js';
export { parsePasswd, parseGroup, type PasswdEntry, type GroupEntry } from './users.js';
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
export {
  canUseSandbox,
  ContainerError,
  containerLogs,
  ContainerRuntime,
  containerSize,
  extractedDir,
  extractedUsage,
  killContainer,
  layersInUse,
  listVolumes,
  parseMountFlag,
  parsePublish,
  parseVolumeFlag,
  prepareMounts,
  probeSandbox,
  pruneExtracted,
  removeVolume,
  SandboxError,
  sandboxExecutor,
  topContainer,
  waitContainer,
  type AttachOptions,
  type ContainerCommitOptions,
  type ContainerCommitResult,
  type ContainerErrorCode,
  type ContainerErrorData,
  type ContainerInfo,
  type ContainerMount,
  type ContainerProcess,
  type ContainerSpec,
  type CreateOptions,
  type ExecOptions,
  type ExitResult,
  type LogsOptions,
  type OutputListener,
  type PruneExtractedOptions,
  type PublishedPort,
  type SandboxCapabilities,
  type SandboxErrorCode,
  type SandboxErrorData,
  type SandboxExecutor,
  type SandboxExecutorOptions,
  type TerminalSize,
} from './run/index.js';
