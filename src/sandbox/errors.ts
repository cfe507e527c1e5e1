/**
 * Typed errors of the sandbox executor: {@link RunFailedError} for a command
 * that ran and exited non-zero, {@link SandboxError} for the other ways a RUN
 * can fail: the sandbox could not be built, the step was stopped,
 * or it asked for something the sandbox does not do.
 * @module
 */
import { LayerkitError } from '../errors.js';

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
export class SandboxError extends LayerkitError<SandboxErrorCode, SandboxErrorData> {}

/** Where an instruction is and what it says. */
export interface InstructionPosition {
  /** 1-based line of the instruction's keyword. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** The instruction as written (continuations joined). */
  instruction: string;
  /** The stage's name, or its index as a string. */
  stage?: string;
}

/** Facts carried by a {@link RunFailedError}. */
export interface RunFailedErrorData extends InstructionPosition {
  /** The argv that ran. */
  command: string[];
  /** The exit code (or 128 + signal number when killed by a signal). */
  exitCode: number;
  /** The last few KiB of the command's combined output, decoded as UTF-8. */
  outputTail: string;
}

/**
 * A RUN whose command exited with a non-zero status. Executors throw it;
 * the builder fills in the position when the executor did not.
 *
 * @example
 * ```ts
 * throw new RunFailedError({
 *   command: ['/bin/sh', '-c', 'make'], exitCode: 2, outputTail: 'make: *** No rule',
 *   line: 4, column: 1, instruction: 'RUN make',
 * });
 * ```
 */
export class RunFailedError extends LayerkitError<'RUN_FAILED', RunFailedErrorData> {
  constructor(data: RunFailedErrorData, options?: { cause?: unknown }) {
    super(
      'RUN_FAILED',
      `process ${JSON.stringify(data.command)} did not complete successfully: exit code: ${data.exitCode}`,
      data,
      options,
    );
  }

  /** `FILE:LINE:COL: message`, then the tail of the output. */
  override format(file = 'Dockerfile'): string {
    const tail = this.data.outputTail === '' ? '' : `\n${this.data.outputTail.replace(/\n$/, '')}`;
    return super.format(file) + tail;
  }
}
