/**
 * Typed errors of the build context: missing or escaping COPY/ADD sources,
 * malformed `.dockerignore` or `--exclude` patterns, files that change while
 * they are read, and fs-shaped errors of the read-only context view.
 * @module
 */
import { LayerkitError } from '../errors.js';

/** The codes a {@link ContextError} can carry. */
export type ContextErrorCode =
  /** A COPY/ADD source names nothing in the context (after `.dockerignore`). */
  | 'CONTEXT_NOT_FOUND'
  /** A source, or a symlink it goes through, points outside the context. */
  | 'CONTEXT_OUTSIDE'
  /** A `.dockerignore` line, an `--exclude` pattern or a source wildcard is malformed. */
  | 'CONTEXT_BAD_PATTERN'
  /** A file changed between being listed and being read. */
  | 'CONTEXT_CHANGED';

/** The facts behind a {@link ContextError}; which fields are set depends on the code. */
export interface ContextErrorData {
  /** The source as written in the instruction (`COPY <source> …`). */
  source?: string;
  /** The context path involved, absolute from the context root (`/src/app.ts`). */
  path?: string;
  /** A symlink target that led outside the context. */
  target?: string;
  /** The offending pattern. */
  pattern?: string;
  /** The ignore file the pattern came from, and its 1-based line. */
  file?: string;
  line?: number;
  /** Why, in a few words. */
  reason?: string;
}

/**
 * An error about the build context: a COPY source that matches nothing, a
 * path that would leave the context, a malformed pattern, a file changed
 * under the reader.
 *
 * @example
 * ```ts
 * try {
 *   await ctx.resolveSources(['missing.txt']);
 * } catch (err) {
 *   if (err instanceof ContextError && err.code === 'CONTEXT_NOT_FOUND') {
 *     console.error(`COPY ${err.data.source}: ${err.message}`);
 *   }
 * }
 * ```
 */
export class ContextError extends LayerkitError<ContextErrorCode, ContextErrorData> {}

/** Node-style error codes the context view reports for fs-shaped calls. */
export type ContextFsErrorCode = 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'ELOOP' | 'EINVAL';

/**
 * An fs-shaped error of the read-only context view (`stat`, `readFile`,
 * `readdir`, `readlink`), with Node's code: a path that is absent from the
 * context (or hidden by `.dockerignore`) is `ENOENT`, exactly as if it did not
 * exist on disk.
 *
 * @example
 * ```ts
 * try {
 *   await ctx.readFile('/secrets.env');
 * } catch (err) {
 *   if (err instanceof ContextFsError && err.code === 'ENOENT') console.log('excluded or absent');
 * }
 * ```
 */
export class ContextFsError extends LayerkitError<ContextFsErrorCode, { path: string; syscall: string }> {
  /** Node's numeric `errno` for the code (negative, as in `node:fs` errors). */
  readonly errno: number;
  readonly path: string;
  readonly syscall: string;

  constructor(code: ContextFsErrorCode, syscall: string, path: string) {
    super(code, `${code}: ${FS_MESSAGES[code]}, ${syscall} '${path}'`, { path, syscall });
    this.errno = FS_ERRNO[code];
    this.path = path;
    this.syscall = syscall;
  }
}

const FS_MESSAGES: Record<ContextFsErrorCode, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ELOOP: 'too many symbolic links encountered',
  EINVAL: 'invalid argument',
};

const FS_ERRNO: Record<ContextFsErrorCode, number> = {
  ENOENT: -2,
  ENOTDIR: -20,
  EISDIR: -21,
  ELOOP: -40,
  EINVAL: -22,
};
