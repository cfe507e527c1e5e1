/**
 * Path resolution as the kernel does it under chroot — symlinks followed
 * inside the root, absolute targets restarting at the root, `..` stopping at
 * `/` — over any way of reading the root: the builder's union view of a
 * stage, or a container's root reached from the host, where no path with a
 * symlink in it may be handed to the kernel.
 * @module
 */
import { posix } from 'node:path';

/** The two reads resolution needs; `lstat` resolves to undefined for a missing path. */
export interface RootReader {
  lstat(path: string): Promise<{ isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean } | undefined>;
  readlink(path: string): Promise<string>;
}

/** What a path names inside a root. */
export interface ChrootPath {
  /** The path with every symlink resolved, absolute inside the root. */
  path: string;
  /** What is there (undefined: nothing, or a non-directory on the way); `symlink` only when the last one is not followed. */
  type: 'dir' | 'file' | 'symlink' | 'other' | undefined;
  /** The existing ancestors (and the path itself when it exists), resolved, root first. */
  existing: string[];
  /** The resolved parent exists and is a directory. */
  parentIsDir: boolean;
}

/** Linux's limit on symlinks followed in one resolution (ELOOP beyond it). */
export const MAX_SYMLINKS = 40;

/**
 * Resolves `path` through `root`, following the last component too unless
 * `follow` is false. `tooManyLinks` makes the error thrown past
 * {@link MAX_SYMLINKS}.
 *
 * @example
 * ```ts
 * // /etc/resolv.conf -> ../run/resolv.conf, /run missing
 * await resolveChrooted(reader, '/etc/resolv.conf', { tooManyLinks: () => new Error('ELOOP') });
 * // { path: '/run/resolv.conf', type: undefined, existing: ['/', '/etc'], parentIsDir: false }
 * ```
 */
export async function resolveChrooted(
  root: RootReader,
  path: string,
  options: { follow?: boolean; tooManyLinks: () => Error },
): Promise<ChrootPath> {
  const follow = options.follow ?? true;
  let parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  const existing = ['/'];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = '/' + [...done, part].join('/');
    const info = await root.lstat(candidate);
    if (!info) {
      const rest = posix.normalize('/' + [...done, part, ...parts].join('/'));
      // Missing: its parent (every component so far, resolved) exists when this was the last component.
      return { path: rest, type: undefined, existing, parentIsDir: parts.length === 0 };
    }
    if (info.isSymbolicLink() && (follow || parts.length > 0)) {
      if (++links > MAX_SYMLINKS) throw options.tooManyLinks();
      const target = await root.readlink(candidate);
      if (target.startsWith('/')) done.length = 0;
      parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
      continue;
    }
    done.push(part);
    existing.push(candidate);
    if (parts.length > 0 && !info.isDirectory()) {
      return { path: posix.normalize('/' + [...done, ...parts].join('/')), type: undefined, existing, parentIsDir: false };
    }
    if (parts.length === 0) {
      const type = info.isDirectory() ? 'dir' : info.isFile() ? 'file' : info.isSymbolicLink() ? 'symlink' : 'other';
      return { path: candidate, type, existing, parentIsDir: true };
    }
  }
  return { path: '/' + done.join('/'), type: 'dir', existing, parentIsDir: true };
}
