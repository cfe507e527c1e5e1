/**
 * RUN in a real Linux sandbox: {@link sandboxExecutor} runs each step as a
 * process in its own namespaces over the stage's root file system (kernel
 * overlayfs over the extracted layers, or a materialized copy) and returns
 * the change as a layer. {@link canUseSandbox} / {@link probeSandbox} say
 * whether this machine allows it; {@link ContainerRuntime} runs containers
 * of a store's images the same way. See `docs/run.md`.
 * @module
 */
export { sandboxExecutor, type SandboxExecutor, type SandboxExecutorOptions } from './sandbox.js';
export { canUseSandbox, probeSandbox, type SandboxCapabilities } from './probe.js';
export { SandboxError, type SandboxErrorCode, type SandboxErrorData } from './errors.js';
export { extractedDir } from './extracted.js';
export { extractedUsage, layersInUse, pruneExtracted, type PruneExtractedOptions } from './extracted-gc.js';
export {
  ContainerRuntime,
  ContainerError,
  containerLogs,
  containerSize,
  killContainer,
  listVolumes,
  parseMountFlag,
  parsePublish,
  parseVolumeFlag,
  prepareMounts,
  removeVolume,
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
  type PublishedPort,
  type TerminalSize,
} from './containers/index.js';
