/**
 * Typed errors of the sandbox executor. A command that ran and exited
 * non-zero is the builder's {@link RunFailedError}; these are the other
 * ways a RUN can fail: the sandbox could not be built, the step was stopped,
 * or it asked for something the sandbox does not do.
 * @module
 */
import { LayerkitError } from '../../errors.js';

/**
 * The codes a {@link SandboxError} can carry.
 *
 * @example
 * ```ts
 * const retryable: SandboxErrorCode[] = ['RUN_TIMEOUT', 'SANDBOX_SETUP_FAILED'];
 * ```
 */
export type SandboxErrorCode =
  /** The machine cannot run sandboxed commands (not Linux, tools missing, namespaces refused). */
  | 'SANDBOX_UNAVAILABLE'
  /** Preparing the namespaces or mounts of one step failed (the command never started). */
  | 'SANDBOX_SETUP_FAILED'
  /** The step ran longer than the executor's `timeoutMs`; every process of it was killed. */
  | 'RUN_TIMEOUT'
  /** The step was aborted through the build's signal; every process of it was killed. */
  | 'RUN_ABORTED'
  /** A `RUN --mount` type or option the sandbox does not provide (`type=ssh`, cache `from=`). */
  | 'MOUNT_UNSUPPORTED'
  /** A `RUN --mount` source that cannot be used (missing, or leading outside its context). */
  | 'MOUNT_SOURCE_INVALID'
  /** The step's user cannot be had here (rootless without the ids mapped). */
  | 'USER_UNSUPPORTED'
  /** A layer made by the executor was read after its files were released. */
  | 'LAYER_RELEASED';

/**
 * Facts carried by a {@link SandboxError}.
 *
 * @example
 * ```ts
 * if (err instanceof SandboxError) console.error(`Dockerfile:${err.data.line ?? '?'}: ${err.data.reason ?? err.message}`);
 * ```
 */
export interface SandboxErrorData {
  /** The RUN instruction, when the error is about one. */
  instruction?: string;
  line?: number;
  column?: number;
  /** A path involved (a mount target or source, a directory of the store). */
  path?: string;
  /** Why, in a few words (a tool's message, the missing tool's name…). */
  reason?: string;
}

/**
 * An error of the sandbox executor (see {@link SandboxErrorCode}).
 *
 * @example
 * ```ts
 * try {
 *   await build({ context: '.', executor: sandboxExecutor() });
 * } catch (err) {
 *   if (err instanceof SandboxError && err.code === 'SANDBOX_UNAVAILABLE') console.error(err.data.reason);
 * }
 * ```
 */
export class SandboxError extends LayerkitError<SandboxErrorCode, SandboxErrorData> {
  constructor(code: SandboxErrorCode, message: string, data: SandboxErrorData = {}, options?: { cause?: unknown }) {
    super(code, message, data, options);
  }
}
