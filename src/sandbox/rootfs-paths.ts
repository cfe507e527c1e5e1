/**
 * Paths inside the step's root file system, resolved as the kernel would
 * under chroot (symlinks followed inside the root, `..` stopping at `/`),
 * using the builder's view of the stage: what a mount target or the workdir
 * really names, which parts of it are missing, and the mount-point stubs
 * that must exist for the sandbox's mounts.
 * @module
 */
import { posix } from 'node:path';
import type { UnionFS } from '../unionfs/union.js';
import { resolveChrooted } from './chroot-resolve.js';
import { SandboxError } from './errors.js';

/** What a path names in the root file system. */
export interface ResolvedPath {
  /** The path with every symlink resolved (no `.`, `..` or symlink components in the existing part). */
  path: string;
  /** The type of what is there, or undefined when it (or an ancestor) is missing. */
  type: 'dir' | 'file' | 'symlink' | 'other' | undefined;
  /** The existing ancestors (and the path itself when it exists), resolved, root first. */
  existing: string[];
}

/**
 * Resolves `path` inside `fs` (final component followed too, as a mount
 * or `chdir` does).
 *
 * @example
 * ```ts
 * // /etc/resolv.conf -> ../run/resolv.conf, /run missing
 * await resolveInRoot(fs, '/etc/resolv.conf'); // { path: '/run/resolv.conf', type: undefined, existing: ['/'] }
 * ```
 */
export async function resolveInRoot(fs: UnionFS, path: string): Promise<ResolvedPath> {
  const reader = { lstat: (p: string) => fs.lstat(p).catch(() => undefined), readlink: (p: string) => fs.readlink(p) };
  const tooManyLinks = () => new SandboxError('MOUNT_SOURCE_INVALID', `too many symlinks resolving ${path}`, { path, reason: 'ELOOP' });
  const { path: resolved, type, existing } = await resolveChrooted(reader, path, { tooManyLinks });
  return { path: resolved, type, existing };
}

/** A mount point the sandbox needs: a directory or an (empty) file at a resolved path. */
export interface MountPoint {
  path: string;
  kind: 'dir' | 'file';
}

/** Metadata of an existing directory, copied onto a stub of it. */
export interface DirMetadata {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** What must be created so that every mount point exists. */
export interface StubPlan {
  /** Existing directories on the way (their metadata is copied onto stubs that shadow them). */
  shadows: DirMetadata[];
  /** Paths to create, parents first. */
  create: MountPoint[];
}

/**
 * The stubs needed for `points` (resolved paths): missing ancestors as
 * directories, the points themselves as what they must be. A point that
 * exists with the right type needs nothing.
 */
export async function planStubs(fs: UnionFS, points: MountPoint[]): Promise<StubPlan> {
  const shadows = new Map<string, DirMetadata>();
  const create = new Map<string, MountPoint>();
  for (const point of points) {
    const info = await fs.lstat(point.path).catch(() => undefined);
    if (info && (point.kind === 'dir' ? info.isDirectory() : !info.isDirectory())) continue;
    if (info) {
      throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot mount a ${point.kind === 'dir' ? 'directory' : 'file'} on ${point.path}: it is a ${info.isDirectory() ? 'directory' : 'file'}`, {
        path: point.path,
        reason: 'mount point of the wrong type',
      });
    }
    const ancestors: string[] = [];
    for (let p = posix.dirname(point.path); ; p = posix.dirname(p)) {
      ancestors.unshift(p);
      if (p === '/') break;
    }
    for (const dir of ancestors) {
      if (dir === '/' || shadows.has(dir) || create.has(dir)) continue;
      const found = await fs.lstat(dir).catch(() => undefined);
      if (found && !found.isDirectory()) {
        throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot mount on ${point.path}: ${dir} is not a directory`, { path: point.path, reason: 'ENOTDIR' });
      }
      if (found) {
        shadows.set(dir, { path: dir, mode: found.mode & 0o7777, uid: found.uid, gid: found.gid, mtime: Math.floor(found.mtimeMs / 1000) });
      } else {
        create.set(dir, { path: dir, kind: 'dir' });
      }
    }
    if (!create.has(point.path)) create.set(point.path, point);
  }
  return { shadows: [...shadows.values()], create: [...create.values()].sort((a, b) => a.path.length - b.path.length) };
}
