/**
 * Failures of the machine rather than of the input — a full disk, a path
 * that is not a directory, a permission — as typed errors with one clear
 * line, instead of Node's bare `ENOSPC: no space left on device, write`.
 * @module
 */
import { LayerkitError } from '../../errors.js';

/**
 * The disk (or quota) filled up. Whatever the operation had staged is gone
 * and the store's lock is released by the time this is thrown.
 *
 * @example
 * ```ts
 * try { await store.putImage(image, 'me/app:1'); } catch (err) {
 *   if (err instanceof NoSpaceError) console.error(`free some space under ${err.data.path ?? store.root}`);
 * }
 * ```
 */
export class NoSpaceError extends LayerkitError<'NO_SPACE', { operation: string; path?: string; errno: string }> {
  constructor(operation: string, errno: string, path: string | undefined, options?: { cause?: unknown }) {
    const where = path === undefined ? '' : ` (writing ${path})`;
    const what = errno === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
    super('NO_SPACE', `${operation}: ${what}${where}; nothing was stored and what it had staged was removed`, path === undefined ? { operation, errno } : { operation, path, errno }, options);
  }
}

/**
 * A file system call failed on a path given by the user or the machine's
 * state (`ENOTDIR`, `EACCES`, `EROFS`…). `data.errno` keeps Node's code.
 *
 * @example
 * ```ts
 * if (err instanceof SystemError && err.data.errno === 'EACCES') console.error('permission denied');
 * ```
 */
export class SystemError extends LayerkitError<'SYSTEM_ERROR', { operation: string; errno: string; path?: string; syscall?: string }> {
  constructor(operation: string, errno: string, message: string, path?: string, syscall?: string, options?: { cause?: unknown }) {
    super('SYSTEM_ERROR', message, { operation, errno, ...(path === undefined ? {} : { path }), ...(syscall === undefined ? {} : { syscall }) }, options);
  }
}

const DESCRIPTIONS: Record<string, string> = {
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory',
  EEXIST: 'file exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error',
  EBUSY: 'device or resource busy',
  EXDEV: 'cross-device link',
  ENOMEM: 'out of memory',
};

/** The first Node system error (an `errno` code) in `err` or its causes. */
export function systemErrorOf(err: unknown): NodeJS.ErrnoException | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && !(e instanceof LayerkitError)) return e as NodeJS.ErrnoException;
  }
  return undefined;
}

/** Whether `err` (or a cause) is a full disk or quota. */
export function isNoSpace(err: unknown): boolean {
  const code = systemErrorOf(err)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * `err` as a {@link NoSpaceError} when it is a full disk; otherwise `err`.
 *
 * @example
 * ```ts
 * try { await work(); } catch (err) { throw asNoSpace(err, 'build'); }
 * ```
 */
export function asNoSpace(err: unknown, operation: string): unknown {
  if (err instanceof NoSpaceError || !isNoSpace(err)) return err;
  const sys = systemErrorOf(err)!;
  return new NoSpaceError(operation, sys.code!, sys.path, { cause: err });
}

/**
 * Any Node system error as a typed error with one line (`layerkit images:
 * /x/store: not a directory`); other values are returned as they are.
 *
 * @example
 * ```ts
 * catch (err) { const typed = asSystemError(err, 'images'); }
 * ```
 */
export function asSystemError(err: unknown, operation: string): unknown {
  if (err instanceof LayerkitError) return err;
  if (isNoSpace(err)) return asNoSpace(err, operation);
  const sys = systemErrorOf(err);
  if (!sys?.code) return err;
  const what = DESCRIPTIONS[sys.code] ?? sys.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+ .*$/, '');
  const path = sys.path;
  const dest = (sys as { dest?: string }).dest;
  const where = path === undefined ? '' : dest === undefined ? `${path}: ` : `${path} -> ${dest}: `;
  return new SystemError(operation, sys.code, `${where}${what}`, path, sys.syscall, { cause: err });
}
