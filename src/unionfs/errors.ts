/**
 * fs-shaped errors: the union view fails the way `node:fs` fails, so code that
 * switches on `err.code` (`ENOENT`, `EEXIST`, …) works unchanged.
 * @module
 */
import { LayerkitError } from '../errors.js';

/** The POSIX error codes the union view produces, with Node's descriptions and Linux errno values. */
const DESCRIPTIONS = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  EBADF: [9, 'bad file descriptor'],
  EACCES: [13, 'permission denied'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  EXDEV: [18, 'cross-device link not permitted'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  EFBIG: [27, 'file too large'],
  ENAMETOOLONG: [36, 'name too long'],
  ENOTEMPTY: [39, 'directory not empty'],
  ELOOP: [40, 'too many symbolic links encountered'],
} as const satisfies Record<string, readonly [number, string]>;

/**
 * An errno code the union view can report.
 *
 * @example
 * ```ts
 * const retryable: FsErrorCode[] = ['EBUSY'];
 * ```
 */
export type FsErrorCode = keyof typeof DESCRIPTIONS;

/**
 * Data carried by {@link UnionFsError}: the call and the paths it was given.
 *
 * @example
 * ```ts
 * err.toJSON().data; // { syscall: 'rename', path: '/usr', dest: '/opt' }
 * ```
 */
export interface UnionFsErrorData {
  syscall: string;
  path?: string;
  dest?: string;
}

/**
 * An error from an operation on a union view, shaped like Node's fs errors:
 * `code` (`'ENOENT'`…), negative `errno`, `syscall`, `path`, `dest` for
 * two-path calls, and a message such as
 * `ENOENT: no such file or directory, open '/etc/missing'`.
 *
 * @example
 * ```ts
 * try {
 *   await view.readFile('/etc/missing');
 * } catch (err) {
 *   if (err instanceof UnionFsError && err.code === 'ENOENT') console.log(err.path);
 * }
 * ```
 */
export class UnionFsError extends LayerkitError<FsErrorCode, UnionFsErrorData> {
  /** Negative errno, as Node reports it (`-2` for ENOENT). */
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;

  constructor(code: FsErrorCode, syscall: string, path?: string, dest?: string) {
    const [errno, description] = DESCRIPTIONS[code];
    let message = `${code}: ${description}, ${syscall}`;
    if (path !== undefined) message += ` '${path}'`;
    if (dest !== undefined) message += ` -> '${dest}'`;
    const data: UnionFsErrorData = { syscall };
    if (path !== undefined) data.path = path;
    if (dest !== undefined) data.dest = dest;
    super(code, message, data);
    this.name = 'Error';
    this.errno = -errno;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

/**
 * What `rm` without `recursive` throws for a directory. Node reports this one
 * with its own code (`ERR_FS_EISDIR`) rather than an errno code, and so do we.
 *
 * @example
 * ```ts
 * await view.rm('/etc').catch((err) => err.code); // 'ERR_FS_EISDIR'
 * ```
 */
export class UnionFsIsDirError extends LayerkitError<'ERR_FS_EISDIR', UnionFsErrorData> {
  readonly errno = 21;
  readonly syscall = 'rm';
  readonly path: string;

  constructor(path: string) {
    super('ERR_FS_EISDIR', `Path is a directory: rm returned EISDIR (is a directory) ${path}`, { syscall: 'rm', path });
    this.name = 'SystemError';
    this.path = path;
  }
}

/**
 * Data carried by {@link InvalidLayerError}.
 *
 * @example
 * ```ts
 * err.data; // { path: '/a/b', layer: 1 }
 * ```
 */
export interface InvalidLayerErrorData {
  /** The entry path that could not be placed. */
  path: string;
  /** Position of the layer in the stack (0 = bottom), when known. */
  layer?: number;
}

/**
 * A lower layer that cannot be stacked: an entry below a non-directory, a
 * hardlink to a missing entry or to a directory, an invalid whiteout name.
 *
 * @example
 * ```ts
 * await UnionFS.open([[{ path: '/a/b', type: 'file', ...meta }, { path: '/a', type: 'file', ...meta }]])
 *   .catch((err) => err.code); // 'INVALID_LAYER'
 * ```
 */
export class InvalidLayerError extends LayerkitError<'INVALID_LAYER', InvalidLayerErrorData> {
  constructor(message: string, data: InvalidLayerErrorData) {
    super('INVALID_LAYER', `${message}: ${data.path}${data.layer === undefined ? '' : ` (layer ${data.layer})`}`, data);
  }
}

/** Shorthand for throwing fs-shaped errors inside the union code. */
export function fsError(code: FsErrorCode, syscall: string, path?: string, dest?: string): UnionFsError {
  return new UnionFsError(code, syscall, path, dest);
}
