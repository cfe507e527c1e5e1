/**
 * RUN in a real Linux sandbox: {@link sandboxExecutor} runs each step as a
 * process in its own namespaces over the stage's root file system (kernel
 * overlayfs over the extracted layers, or a materialized copy) and returns
 * the change as a layer. {@link canUseSandbox} / {@link probeSandbox} say
 * whether this machine allows it. The executor contract ({@link RunStep},
 * {@link RunExecutor}) is here too: the builder hands every RUN to one, and
 * `src/containers/` runs containers on the same sandbox. See `docs/run.md`.
 * @module
 */
export { sandboxExecutor, type SandboxExecutor, type SandboxExecutorOptions } from './sandbox.js';
export { canUseSandbox, probeSandbox, type SandboxCapabilities } from './probe.js';
export { SandboxError, type SandboxErrorCode, type SandboxErrorData } from './errors.js';
export { extractedDir } from './extracted.js';
export { extractedUsage, layersInUse, pruneExtracted, type PruneExtractedOptions } from './extracted-gc.js';
export { RunFailedError, type RunFailedErrorData, type InstructionPosition } from './errors.js';
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
export { parsePasswd, parseGroup, type PasswdEntry, type GroupEntry } from './users.js';
export {
  SshAgentError,
  startSshAgent,
  type SshAgent,
  type SshAgentErrorCode,
  type SshAgentErrorData,
  type SshAgentOptions,
  type SshIdentity,
} from './ssh-agent.js';
