/**
 * Small helpers on entry paths (normalized, absolute, POSIX; see
 * {@link cleanPath} in `entry.ts` for the normal form and its cleaning rules)
 * and on joining them onto a directory on disk.
 * @module
 */
import { cleanPath, isCleanPath } from './entry.js';
import { UnsafePathError } from './errors.js';

/** Options for {@link normalizePath}. */
export interface NormalizePathOptions {
  /**
   * What a name with leading slashes means. `'strip'` (default, as GNU tar
   * and {@link cleanPath} do): it is read from the root. `'reject'`: an
   * {@link UnsafePathError}.
   */
  absolute?: 'strip' | 'reject';
}

/**
 * {@link cleanPath} with a choice about absolute names, and a fast path for
 * names that are already clean.
 *
 * @throws {@link UnsafePathError} for a `..` above the root, a NUL byte, or
 *   (with `absolute: 'reject'`) a leading slash.
 * @example
 * ```ts
 * normalizePath('./usr//bin/'); // '/usr/bin'
 * normalizePath('/etc/passwd', { absolute: 'reject' }); // throws UnsafePathError
 * ```
 */
export function normalizePath(name: string, options: NormalizePathOptions = {}): string {
  if (options.absolute === 'reject' && name.startsWith('/')) {
    throw new UnsafePathError(name, 'absolute member name');
  }
  return isCleanPath(name) ? name : cleanPath(name);
}

/**
 * The last component of a clean path (`''` for the root).
 *
 * @example
 * ```ts
 * baseName('/usr/bin/env'); // 'env'
 * ```
 */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Joins a clean directory path and one child name.
 *
 * @example
 * ```ts
 * childPath('/', 'etc'); // '/etc'
 * childPath('/etc', 'hosts'); // '/etc/hosts'
 * ```
 */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * The proper ancestors of a clean path, outermost first, without the root.
 *
 * @example
 * ```ts
 * ancestorPaths('/a/b/c'); // ['/a', '/a/b']
 * ```
 */
export function ancestorPaths(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

/**
 * A clean path relative to the root, for joining onto a directory on disk.
 *
 * @example
 * ```ts
 * join(rootDir, relativePath('/a/b')); // rootDir + '/a/b'
 * relativePath('/'); // '.'
 * ```
 */
export function relativePath(path: string): string {
  return path === '/' ? '.' : path.slice(1);
}

/**
 * Orders two names (single components) by their UTF-8 bytes, as `LC_ALL=C ls`
 * does: the order of siblings in every walk.
 *
 * @example
 * ```ts
 * ['b', 'B', 'a'].sort(compareNames); // ['B', 'a', 'b']
 * ```
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/**
 * A UTF-16 code unit's rank in code-point order. UTF-16 units order
 * differently from code points (and so from UTF-8 bytes) only when a surrogate
 * meets a unit in U+E000..U+FFFF; shifting those two ranges past each other
 * restores code-point order.
 *
 * @example
 * ```ts
 * codePointRank(0xd83d) > codePointRank(0xff5e); // true: U+1F600 sorts after U+FF5E
 * ```
 */
export function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
