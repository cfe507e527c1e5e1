/**
 * `docker cp HOST CONTAINER:PATH`, written through the container's mounted
 * root file system (the kernel's overlay then copies up, whites out and
 * marks opaque as it does for the container's own writes, so the change
 * lands in the writable layer exactly as if a process inside had made it).
 *
 * The root is reached from the host through `/proc/<pid>/root` (see
 * `rootfs.ts`), where the kernel would resolve an absolute symlink against
 * the *host's* root: so no path is ever handed to the kernel with a symlink
 * in it. The destination is resolved here, component by component, as the
 * kernel would under chroot (symlinks followed inside the root, `..`
 * stopping at `/`); below it, every object is created by this code (an
 * existing non-directory in the way is removed first, never followed), and
 * files are opened with `O_EXCL|O_NOFOLLOW`.
 *
 * Not defended: a process of a running container swapping a directory for a
 * symlink while the copy runs (the race of CVE-2018-15664; Docker closed it
 * by pausing the container during `cp`, which the caller may do).
 * @module
 */
import { constants } from 'node:fs';
import { chmod, link, lchown, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink, utimes } from 'node:fs/promises';
import { basename, posix } from 'node:path';
import type { Entry } from '../layers/entry.js';
import { makeSpecial } from '../layers/changes/disk.js';
import { entriesFromDirectory } from '../layers/from-directory.js';
import { resolveChrooted } from '../sandbox/chroot-resolve.js';
import { ContainerError } from './errors.js';

/** What a path inside a root names. */
export interface RootPath {
  /** The path with every symlink resolved, absolute inside the root. */
  path: string;
  /** What is there (undefined: nothing, or a non-directory on the way). */
  type: 'dir' | 'file' | 'symlink' | 'other' | undefined;
  /** The resolved parent exists and is a directory. */
  parentIsDir: boolean;
}

/**
 * Resolves `path` inside the directory `root` without letting the kernel
 * follow any symlink (the last component is followed unless `follow` is
 * false).
 *
 * @example
 * ```ts
 * await resolveInHostRoot('/proc/4242/root', '/etc/resolv.conf'); // { path: '/run/resolv.conf', type: 'file', parentIsDir: true }
 * ```
 */
export async function resolveInHostRoot(root: string, path: string, follow = true): Promise<RootPath> {
  const reader = { lstat: (p: string) => lstat(root + p).catch(() => undefined), readlink: (p: string) => readlink(root + p) };
  const tooManyLinks = () => new ContainerError('COPY_INVALID', `too many levels of symbolic links resolving ${path}`, { path, reason: 'ELOOP' });
  const { path: resolved, type, parentIsDir } = await resolveChrooted(reader, path, { follow, tooManyLinks });
  return { path: resolved, type, parentIsDir };
}

/** Options of {@link copyIntoRoot}. */
export interface CopyInOptions {
  /** `docker cp -a`: keep the source's uid/gid (default: 0:0). Set only where the caller may chown. */
  archive?: boolean;
}

/**
 * Copies `hostPath` to `containerPath` inside `root` with `docker cp`'s
 * rules: into an existing directory (its content only when `hostPath` ends
 * in `/.`), over an existing file, or to a new name whose parent exists.
 * Returns the container path written.
 *
 * @throws {@link ContainerError} `COPY_INVALID` for a missing source or
 *   destination parent, or a directory onto a file.
 */
export async function copyIntoRoot(root: string, hostPath: string, containerPath: string, options: CopyInOptions = {}): Promise<string> {
  const base = await copyTarget(root, hostPath, containerPath);
  // A file (or symlink) comes back as the single entry `/`.
  const entries = await entriesFromDirectory(hostPath, { includeRoot: true, xattrs: false });
  await writeEntries(root, base, entries, options);
  return base;
}

/**
 * Where {@link copyIntoRoot} puts `hostPath` (the resolved container path
 * of the copy's top entry), without writing anything.
 *
 * @throws {@link ContainerError} `COPY_INVALID` as {@link copyIntoRoot}.
 * @example
 * ```ts
 * await copyTarget('/proc/4242/root', 'app.conf', '/etc/'); // '/etc/app.conf'
 * ```
 */
export async function copyTarget(root: string, hostPath: string, containerPath: string): Promise<string> {
  const source = await lstat(hostPath).catch(() => undefined);
  if (!source) throw new ContainerError('COPY_INVALID', `no such file or directory: ${hostPath}`, { path: hostPath, reason: 'ENOENT' });
  const contentsOnly = /\/\.$/.test(hostPath) && source.isDirectory();
  const dest = await resolveInHostRoot(root, containerPath);
  let base: string;
  if (dest.type === 'dir') {
    base = contentsOnly ? dest.path : posix.join(dest.path, basename(hostPath.replace(/\/+\.?$/, '')));
  } else if (dest.type !== undefined) {
    if (source.isDirectory()) throw new ContainerError('COPY_INVALID', `cannot copy a directory onto the file ${containerPath}`, { path: containerPath, reason: 'ENOTDIR' });
    base = dest.path;
  } else {
    if (!dest.parentIsDir) throw new ContainerError('COPY_INVALID', `no such directory in the container: ${posix.dirname(dest.path)}`, { path: containerPath, reason: 'ENOENT' });
    if (containerPath.endsWith('/') && !source.isDirectory()) {
      throw new ContainerError('COPY_INVALID', `no such directory in the container: ${containerPath}`, { path: containerPath, reason: 'ENOENT' });
    }
    base = dest.path;
  }
  return base;
}

/**
 * What {@link copyIntoRoot} writes for `hostPath`, relative to its target
 * (`''` for the target itself): the source's tree, symlinks not followed.
 *
 * @example
 * ```ts
 * await copyWrites('conf.d'); // [{ path: '', dir: true }, { path: 'a.conf', dir: false }]
 * ```
 */
export async function copyWrites(hostPath: string): Promise<Array<{ path: string; dir: boolean }>> {
  const out: Array<{ path: string; dir: boolean }> = [];
  const walk = async (rel: string): Promise<void> => {
    const info = await lstat(rel === '' ? hostPath : posix.join(hostPath, rel));
    out.push({ path: rel, dir: info.isDirectory() });
    if (!info.isDirectory()) return;
    for (const name of await readdir(posix.join(hostPath, rel))) await walk(rel === '' ? name : `${rel}/${name}`);
  };
  await walk('');
  return out;
}

const asRoot = () => process.getuid?.() === 0;

async function writeEntries(root: string, base: string, entries: Entry[], options: CopyInOptions): Promise<void> {
  const inside = (path: string) => (path === '/' ? base : base === '/' ? path : base + path);
  const dirs: Array<{ host: string; entry: Entry }> = [];
  const owner = (entry: Entry) => (options.archive ? { uid: entry.uid, gid: entry.gid } : { uid: 0, gid: 0 });
  for (const entry of entries) {
    const host = root + inside(entry.path);
    const existing = await lstat(host).catch(() => undefined);
    if (existing?.isDirectory() && entry.type === 'dir') {
      dirs.push({ host, entry });
      continue;
    }
    // Whatever is in the way goes (a symlink is removed, never followed), as tar extraction does.
    if (existing) await rm(host, { recursive: true, force: true });
    const { uid, gid } = owner(entry);
    switch (entry.type) {
      case 'dir':
        await mkdir(host, { mode: 0o700 });
        dirs.push({ host, entry });
        break;
      case 'file': {
        const file = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          if (entry.content) for await (const chunk of entry.content.open()) await file.write(chunk);
          if (asRoot()) await file.chown(uid, gid);
          await file.chmod(entry.mode & 0o7777);
          await file.utimes(entry.mtime, entry.mtime);
        } finally {
          await file.close();
        }
        break;
      }
      case 'symlink':
        await symlink(entry.linkname ?? '', host);
        if (asRoot()) await lchown(host, uid, gid);
        await lutimes(host, entry.mtime, entry.mtime);
        break;
      case 'hardlink':
        await link(root + inside(entry.linkname ?? ''), host);
        break;
      default: {
        // fifos; device nodes where this process may make them (as Docker, which needs root too).
        const failed = await makeSpecial(host, entry);
        if (failed === null) {
          if (asRoot()) await lchown(host, uid, gid);
          await utimes(host, entry.mtime, entry.mtime);
        }
      }
    }
  }
  // Directory metadata last (creating children changes the mtime), deepest first.
  for (const { host, entry } of dirs.reverse()) {
    const { uid, gid } = owner(entry);
    if (asRoot()) await lchown(host, uid, gid);
    await chmod(host, entry.mode & 0o7777);
    await utimes(host, entry.mtime, entry.mtime);
  }
}
