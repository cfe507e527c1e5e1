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
export { extractedLayer, extractedDir, extractionStats, type ExtractedLayer } from './extracted.js';
export {
  ContainerRuntime,
  ContainerError,
  humanDuration,
  parsePublish,
  statusText,
  type AttachOptions,
  type ContainerCommitOptions,
  type ContainerCommitResult,
  type ContainerErrorCode,
  type ContainerErrorData,
  type ContainerInfo,
  type ContainerSpec,
  type CreateOptions,
  type ExecOptions,
  type ExitResult,
  type OutputListener,
  type PublishedPort,
  type TerminalSize,
} from './containers/index.js';
