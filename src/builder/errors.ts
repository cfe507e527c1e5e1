/**
 * Typed errors of the image builder. Every error about a Dockerfile
 * instruction carries its position (`line`, `column`) and text, so a caller
 * can point at the offending line; errors from lower modules (the build
 * context, the store, the parser) are kept as `cause`.
 * @module
 */
import { LayerkitError } from '../errors.js';
import type { InstructionPosition } from '../sandbox/errors.js';

export { RunFailedError, type InstructionPosition } from '../sandbox/errors.js';

/** The codes a {@link BuildError} can carry. */
export type BuildErrorCode =
  /** A COPY/ADD source names nothing (in the context, a stage or an image). */
  | 'COPY_SOURCE_NOT_FOUND'
  /** A COPY/ADD source, or a symlink it goes through, leads outside the context. */
  | 'COPY_SOURCE_OUTSIDE_CONTEXT'
  /** Several sources (or wildcard matches) but a destination that is not a directory. */
  | 'COPY_DEST_NOT_DIRECTORY'
  /** A copy would put a directory over a file or a file over a directory. */
  | 'COPY_CONFLICT'
  /** A bad `--chmod`, `--checksum` or other COPY/ADD parameter. */
  | 'COPY_INVALID_OPTION'
  /** An ADD archive entry that cannot be extracted safely. */
  | 'ADD_INVALID_ARCHIVE'
  /** ADD of a URL with no `fetcher` option. */
  | 'ADD_URL_NO_FETCHER'
  /** ADD of a URL whose content does not match `--checksum`. */
  | 'ADD_CHECKSUM_MISMATCH'
  /** ADD of a git repository (not supported). */
  | 'ADD_GIT_UNSUPPORTED'
  /** `--from`, `FROM` or `--mount from=` names a stage that does not exist. */
  | 'UNKNOWN_STAGE'
  /** Stages refer to each other in a cycle. */
  | 'STAGE_CYCLE'
  /** The `target` option names no stage. */
  | 'UNKNOWN_TARGET'
  /** A base image is not in the store, layout or archive it was looked up in. */
  | 'BASE_IMAGE_NOT_FOUND'
  /** A base image reference that cannot be read (`oci-layout://` without a path, …). */
  | 'INVALID_BASE_REFERENCE'
  /** A base image exists, but not for the platform the build asked for. */
  | 'BASE_PLATFORM_MISMATCH'
  /** The registry of a base image refused or failed (authentication, protocol, a server error); the cause says why. */
  | 'BASE_IMAGE_PULL_FAILED'
  /** A RUN for a platform other than the host's: emulation is not supported. */
  | 'FOREIGN_PLATFORM_RUN'
  /** Pushing the result (`push`, `type=registry`, `type=image,push=true`) failed; the cause says why. */
  | 'PUSH_FAILED'
  /** A `--chown`, `USER` or mount owner that is not in the stage's /etc/passwd or /etc/group. */
  | 'UNKNOWN_USER'
  /** A numeric uid or gid of `USER` or `--chown` outside 0…2147483647 (runc's range). */
  | 'INVALID_USER_ID'
  /** `RUN --network=host` without the `network.host` entitlement (`allow`). */
  | 'ENTITLEMENT_REQUIRED'
  /** A RUN with neither an `executor` nor a `run` handler. */
  | 'RUN_EXECUTOR_MISSING'
  /** A metadata instruction with a value the image cannot hold (bad STOPSIGNAL, empty FROM …). */
  | 'INVALID_INSTRUCTION'
  /** A build option that cannot be used (bad platform, tag, output spec …). */
  | 'INVALID_OPTION'
  /** The Dockerfile has no stages. */
  | 'NO_STAGES'
  /** The build was aborted through its `signal`. */
  | 'BUILD_ABORTED';


/** Facts carried by a {@link BuildError}; `line`/`column` are set for instruction errors. */
export interface BuildErrorData extends Partial<InstructionPosition> {
  /** A path involved (a COPY source, a destination, an archive member). */
  path?: string;
  /** A stage or image reference involved. */
  reference?: string;
  /** The names that would have been accepted (stages, users). */
  candidates?: string[];
  /** For cycles: the stages in order. */
  cycle?: string[];
  expected?: string;
  actual?: string;
  /** Why, in a few words. */
  reason?: string;
}

/**
 * An error of the builder, with a string `code` to switch on and, for
 * problems of one instruction, its position.
 *
 * @example
 * ```ts
 * try {
 *   await build({ context: '.', dockerfile: 'FROM scratch\nCOPY missing.txt /' });
 * } catch (err) {
 *   if (err instanceof BuildError && err.code === 'COPY_SOURCE_NOT_FOUND') {
 *     console.error(`Dockerfile:${err.data.line}: ${err.message}`);
 *   }
 * }
 * ```
 */
export class BuildError extends LayerkitError<BuildErrorCode, BuildErrorData> {}

/** The position data of an instruction, for error constructors. */
export function positionOf(
  instruction: { original: string; range: { start: { line: number; column: number } } },
  stage?: string,
): InstructionPosition {
  const position: InstructionPosition = {
    line: instruction.range.start.line,
    column: instruction.range.start.column,
    instruction: instruction.original,
  };
  if (stage !== undefined) position.stage = stage;
  return position;
}
