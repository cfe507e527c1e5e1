/**
 * Path resolution as the kernel does it under chroot — symlinks followed
 * inside the root, absolute targets restarting at the root, `..` stopping at
 * `/` — over any way of reading the root: the builder's union view of a
 * stage, or a container's root reached from the host, where no path with a
 * symlink in it may be handed to the kernel.
 * @module
 */
import { posix } from 'node:path';
import { LINUX_MAX_SYMLINKS, resolveAsync, type NodeKind } from '../layers/resolve-path.js';

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
export const MAX_SYMLINKS = LINUX_MAX_SYMLINKS;

type Stat = NonNullable<Awaited<ReturnType<RootReader['lstat']>>>;
/** A node of the walk: a path inside the root and what `lstat` said of it (the root: nothing read). */
interface Hop {
  path: string;
  info: Stat | undefined;
}

const kindOf = (hop: Hop): NodeKind =>
  !hop.info || hop.info.isDirectory() ? 'dir' : hop.info.isSymbolicLink() ? 'symlink' : 'other';

/**
 * Resolves `path` through `root`, following the last component too unless
 * `follow` is false. `tooManyLinks` makes the error thrown past
 * {@link MAX_SYMLINKS}.
 *
 * @example
 * ```ts
 * // /etc/resolv.conf -> ../run/resolv.conf, /run missing
 * await resolveChrooted(reader, '/etc/resolv.conf', { tooManyLinks: () => new Error('ELOOP') });
 * // { path: '/run/resolv.conf', type: undefined, existing: ['/'], parentIsDir: false }
 * ```
 */
export async function resolveChrooted(
  root: RootReader,
  path: string,
  options: { follow?: boolean; tooManyLinks: () => Error },
): Promise<ChrootPath> {
  const walk = await resolveAsync<Hop>(
    path,
    { root: { path: '/', info: undefined }, kindOf, follow: options.follow ?? true, maxLinks: MAX_SYMLINKS },
    {
      child: async (dir, name) => {
        const child = dir.path === '/' ? `/${name}` : `${dir.path}/${name}`;
        const info = await root.lstat(child);
        return info ? { path: child, info } : undefined;
      },
      readlink: (hop) => root.readlink(hop.path),
    },
  );
  const top = walk.stack[walk.stack.length - 1]!;
  const existing = walk.stack.map((hop) => hop.path);
  switch (walk.stop) {
    case 'found': {
      const info = top.info;
      const type = !info || info.isDirectory() ? 'dir' : info.isFile() ? 'file' : info.isSymbolicLink() ? 'symlink' : 'other';
      return { path: top.path, type, existing, parentIsDir: true };
    }
    case 'loop':
      throw options.tooManyLinks();
    default: {
      // Nothing there: the path as it would be created, the unresolved part taken as written.
      const unresolved = walk.stop === 'notdir' ? walk.rest : [walk.name!, ...walk.rest];
      const parentIsDir = walk.stop === 'missing' && walk.rest.length === 0;
      return { path: posix.normalize(top.path + '/' + unresolved.join('/')), type: undefined, existing, parentIsDir };
    }
  }
}
