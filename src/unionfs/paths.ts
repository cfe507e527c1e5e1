/**
 * Path handling for the view: user paths (absolute from the view's root or
 * relative to it), entry paths from layers, and the reserved `.wh.` names.
 * @module
 */
import { fsError, InvalidLayerError } from './errors.js';

/** Prefix OCI layers use for whiteouts; no name in a view can start with it. */
export const WHITEOUT_PREFIX = '.wh.';
/** The opaque-directory marker of OCI layers. */
export const OPAQUE_MARKER = '.wh..wh..opq';

/** True for names that are whiteouts, opaque markers or other AUFS metadata. */
export function isReservedName(name: string): boolean {
  return name.startsWith(WHITEOUT_PREFIX);
}

/** A path as a caller gave it: what errors print, its components and whether it ended in `/`. */
export interface UserPath {
  /** The path as given (Node prints this in error messages). */
  display: string;
  /** Components, `.` and `..` kept: `..` is resolved physically, after symlinks, as the kernel does. */
  parts: string[];
  /** `a/` must be a directory (following a final symlink). */
  trailingSlash: boolean;
}

/**
 * What a path argument may be.
 *
 * @example
 * ```ts
 * await view.stat('/etc'); await view.stat(new URL('file:///etc')); await view.stat(Buffer.from('/etc'));
 * ```
 */
export type PathLike = string | URL | Uint8Array;

/** Parses a path argument. Relative paths are relative to the view's root (its working directory). */
export function parseUserPath(input: PathLike, syscall: string): UserPath {
  let display: string;
  if (typeof input === 'string') display = input;
  else if (input instanceof URL) {
    if (input.protocol !== 'file:') throw fsError('EINVAL', syscall, input.href);
    display = decodeURIComponent(input.pathname);
  } else display = Buffer.from(input).toString('utf8');
  if (display.length === 0) throw fsError('ENOENT', syscall, display);
  if (display.includes('\0')) throw fsError('EINVAL', syscall, display);
  const parts: string[] = [];
  for (const part of display.split('/')) {
    if (part.length === 0) continue;
    if (part.length > 85 && Buffer.byteLength(part) > 255) throw fsError('ENAMETOOLONG', syscall, display);
    parts.push(part);
  }
  return { display, parts, trailingSlash: display.endsWith('/') && parts.length > 0 };
}

/** Joins a directory path and a name. */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Parent directory of a normalized absolute path (`/` for top-level names and for `/`). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last component of a normalized absolute path (`''` for `/`). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Normalizes a path found in a layer (`./etc//passwd`, `etc/`, `/etc/.`) to
 * `/etc/passwd` form. Components `..` that would climb above the root and
 * NUL bytes make the layer invalid: nothing in a layer may point outside it.
 */
export function normalizeEntryPath(path: string, layer?: number): string {
  if (path.includes('\0')) throw new InvalidLayerError('path contains a NUL byte', layerData(path, layer));
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new InvalidLayerError('path climbs above the root', layerData(path, layer));
      out.pop();
      continue;
    }
    out.push(part);
  }
  return '/' + out.join('/');
}

function layerData(path: string, layer: number | undefined): { path: string; layer?: number } {
  return layer === undefined ? { path } : { path, layer };
}

/** Byte-order comparison of strings (the order of tar entries and of `readdir` results). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order except around surrogates; compare buffers only then.
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 || y >= 0xd800) return Buffer.compare(Buffer.from(a.slice(i)), Buffer.from(b.slice(i)));
      return x - y;
    }
  }
  return a.length - b.length;
}
