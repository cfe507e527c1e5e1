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
export * from './context/index.js';
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
export { layerIndexTag, LAYER_INDEX_ARTIFACT_TYPE, LAYER_INDEX_MEDIA_TYPE, LAYER_DIGEST_ANNOTATION, type RegistryAccess } from './remote-base.js';
export { parseChmod, type ChmodSpec } from './copy/chmod.js';
export { parsePasswd, parseGroup, type PasswdEntry, type GroupEntry } from './users.js';
export type { RunInlineFile } from './steps/run.js';
export * from './cache/index.js';
export * from './run/index.js';
