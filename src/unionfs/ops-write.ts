/**
 * Operations that change the view. Each copies up what it touches (never
 * more), records whiteouts where a lower name disappears, and reports errors
 * in the order Linux checks them.
 * @module
 */
import { constants } from 'node:fs';
import { fsError, UnionFsIsDirError, type FsErrorCode } from './errors.js';
import { FileContent, WHITEOUT, type AnyNode, type FileInode, type LeafInode, type Meta, type UpperNode } from './inode.js';
import { isReservedName, parseUserPath, type PathLike, type UserPath } from './paths.js';
import type { DirRef, Located, View } from './view.js';

/** The parts of `open(2)` flags a write needs. */
export interface OpenFlags {
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
}

// Numeric flags are the platform's, as `fs.constants` gives them to callers of `open`.
const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND } = constants;

/** Parses Node's flag strings (`'w'`, `'a+'`, `'wx'`…) or numeric `O_*` flags. */
export function parseFlags(flag: string | number, syscall: string): OpenFlags {
  if (typeof flag === 'number') {
    return {
      write: (flag & (O_WRONLY | O_RDWR)) !== 0,
      create: (flag & O_CREAT) !== 0,
      exclusive: (flag & O_EXCL) !== 0,
      truncate: (flag & O_TRUNC) !== 0,
      append: (flag & O_APPEND) !== 0,
    };
  }
  const f = flag.replace('s', '');
  const exclusive = f.includes('x');
  switch (f.replace('x', '')) {
    case 'r':
      return { write: false, create: false, exclusive, truncate: false, append: false };
    case 'r+':
      return { write: true, create: false, exclusive, truncate: false, append: false };
    case 'w':
    case 'w+':
      return { write: true, create: true, exclusive, truncate: true, append: false };
    case 'a':
    case 'a+':
      return { write: true, create: true, exclusive, truncate: false, append: true };
    default:
      throw fsError('EINVAL', syscall, flag);
  }
}

/** A path argument, parsed, with the display string errors print. */
function userPath(path: PathLike, syscall: string): UserPath {
  return parseUserPath(path, syscall);
}

function withoutSlash(p: UserPath): UserPath {
  return p.trailingSlash ? { ...p, trailingSlash: false } : p;
}

/** The upper version of whatever `loc` names, copied up if needed. */
export function mutableNode(view: View, loc: Located): AnyNode {
  if (loc.node!.type === 'dir') return view.ensureUpper(loc.dir!);
  return view.copyUpLeaf(loc);
}

/**
 * Metadata of an object created in `parent`: owned by the view's uid, and by
 * its gid unless the parent is setgid, in which case the group is the
 * parent's (and a new directory is setgid too), as Linux does it.
 */
function newMeta(view: View, parent: DirRef, mode: number, isDir = false): Meta {
  const now = view.policy.now();
  const dir = parent.upper ?? parent.lower!;
  const inherit = (dir.meta.mode & 0o2000) !== 0;
  return {
    mode: inherit && isDir ? mode | 0o2000 : mode,
    uid: view.policy.uid,
    gid: inherit ? dir.meta.gid : view.policy.gid,
    atimeMs: now,
    mtimeMs: now,
    ctimeMs: now,
  };
}

/**
 * `open(2)` for writing: the regular file to write into (created, truncated
 * and copied up as the flags say), or undefined for a device or FIFO, whose
 * writes go nowhere.
 */
export async function openForWrite(
  view: View,
  path: PathLike,
  flags: OpenFlags,
  mode: number,
  syscall = 'open',
): Promise<FileInode | undefined> {
  const p = userPath(path, syscall);
  if (flags.create && p.trailingSlash) {
    // open(O_CREAT) refuses a trailing slash once the directories before it are found.
    const dir = view.resolve({ ...p, parts: p.parts.slice(0, -1), trailingSlash: false }, { follow: true, syscall });
    if (!dir.node) throw fsError('ENOENT', syscall, p.display);
    if (dir.node.type !== 'dir') throw fsError('ENOTDIR', syscall, p.display);
    throw fsError('EISDIR', syscall, p.display);
  }
  const loc = view.resolve(p, { follow: !(flags.create && flags.exclusive), syscall });
  if (loc.node) {
    if (flags.create && flags.exclusive) throw fsError('EEXIST', syscall, p.display);
    if (loc.node.type === 'dir') throw fsError('EISDIR', syscall, p.display);
    if (loc.node.type !== 'file') return undefined;
    if (!flags.write) return loc.node;
    const file = view.copyUpLeaf(loc) as FileInode;
    if (flags.truncate) {
      await file.content.truncate(0);
      touchFile(view, file);
    }
    return file;
  }
  if (!flags.create) throw fsError('ENOENT', syscall, p.display);
  if (loc.dotted) throw fsError('EISDIR', syscall, p.display);
  if (isReservedName(loc.name)) throw fsError('EINVAL', syscall, p.display);
  const file: FileInode = {
    type: 'file',
    ino: view.newIno(),
    upper: true,
    nlink: 1,
    meta: newMeta(view, loc.parent!, mode & 0o7777 & ~view.policy.umask),
    content: FileContent.empty(),
  };
  view.place(loc.parent!, loc.name, file);
  view.touchDir(loc.parent!);
  return file;
}

/** Content changed: mtime and ctime move. */
export function touchFile(view: View, node: { meta: Meta }): void {
  const now = view.policy.now();
  node.meta.mtimeMs = now;
  node.meta.ctimeMs = now;
}

function touchCtime(view: View, node: { meta: Meta }): void {
  node.meta.ctimeMs = view.policy.now();
}

/** Writes chunks into an open file at `position` (or at its end, for append). */
export async function writeChunks(
  view: View,
  file: FileInode | undefined,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  append: boolean,
  position = 0,
): Promise<void> {
  for await (const chunk of chunks) {
    if (!file) continue;
    const at = append ? file.content.size : position;
    await file.content.write(at, chunk);
    position = at + chunk.byteLength;
    touchFile(view, file);
  }
}

export async function truncate(view: View, path: PathLike, length: number): Promise<void> {
  const file = await openForWrite(view, path, { write: true, create: false, exclusive: false, truncate: false, append: false }, 0);
  if (length < 0) throw fsError('EINVAL', 'ftruncate');
  if (!file) return;
  await file.content.truncate(length);
  touchFile(view, file);
}

/** `mkdir(2)`: a directory created over a whiteout is opaque, as overlayfs makes it. */
export function mkdir(view: View, path: PathLike, mode: number): void {
  const p = userPath(path, 'mkdir');
  const loc = view.resolve(withoutSlash(p), { follow: false, syscall: 'mkdir' });
  if (loc.node) throw fsError('EEXIST', 'mkdir', p.display);
  if (isReservedName(loc.name)) throw fsError('EINVAL', 'mkdir', p.display);
  const parent = loc.parent!;
  const upperParent = view.ensureUpper(parent);
  const overWhiteout = upperParent.children.get(loc.name) === WHITEOUT;
  const dir = {
    type: 'dir' as const,
    ino: view.newIno(),
    upper: true as const,
    opaque: overWhiteout,
    children: new Map(),
    meta: newMeta(view, parent, mode & 0o1777 & ~view.policy.umask, true),
  };
  upperParent.children.set(loc.name, dir);
  view.touchDir(parent);
}

/**
 * `mkdir -p` the way Node's `MKDirp` does it: try the path; on ENOENT try its
 * dirname (the text before the last `/`) first; on EEXIST of a directory on
 * the way accept it, of anything else fail with ENOTDIR; at the end accept an
 * existing directory. Returns the first directory created.
 */
export function mkdirRecursive(view: View, path: PathLike, mode: number): string | undefined {
  const display = userPath(path, 'mkdir').display;
  const fail = (code: FsErrorCode) => fsError(code, 'mkdir', display);
  const pending = [display];
  let first: string | undefined;
  while (pending.length > 0) {
    const next = pending.pop()!;
    let code: string | undefined;
    try {
      mkdir(view, next, mode);
      first ??= next;
      continue;
    } catch (err) {
      code = (err as { code?: string }).code;
      if (code === undefined) throw err;
    }
    if (code === 'ENOENT') {
      const slash = next.lastIndexOf('/');
      const dirname = slash < 0 ? next : next.slice(0, slash);
      if (dirname === next || dirname === '') throw fail('ENOENT');
      pending.push(next, dirname);
      continue;
    }
    let isDir: boolean | undefined;
    let statCode: string | undefined;
    try {
      const loc = view.resolve(userPath(next, 'stat'), { follow: true, syscall: 'stat' });
      if (loc.node) isDir = loc.node.type === 'dir';
      else statCode = 'ENOENT';
    } catch (err) {
      statCode = (err as { code?: string }).code;
      if (statCode === undefined) throw err;
    }
    if (code === 'EEXIST' && pending.length > 0) {
      if (isDir) continue;
      throw fail('ENOTDIR');
    }
    if (statCode !== undefined) throw fail(statCode as FsErrorCode);
    if (!isDir) throw fail('EEXIST');
    return first;
  }
  return first;
}

export function rmdir(view: View, path: PathLike): void {
  const p = userPath(path, 'rmdir');
  const lastPart = p.parts[p.parts.length - 1];
  const loc = view.resolve(withoutSlash(p), { follow: false, syscall: 'rmdir' });
  if (lastPart === '.') throw fsError('EINVAL', 'rmdir', p.display);
  if (lastPart === '..') throw fsError('ENOTEMPTY', 'rmdir', p.display);
  if (!loc.node) throw fsError('ENOENT', 'rmdir', p.display);
  if (loc.node.type !== 'dir') throw fsError('ENOTDIR', 'rmdir', p.display);
  if (!loc.parent) throw fsError('EBUSY', 'rmdir', p.display);
  if (!view.isEmpty(loc.dir!)) throw fsError('ENOTEMPTY', 'rmdir', p.display);
  view.removeEntry(loc);
  view.touchDir(loc.parent);
}

export function unlink(view: View, path: PathLike): void {
  const p = userPath(path, 'unlink');
  const loc = view.resolve(withoutSlash(p), { follow: false, syscall: 'unlink' });
  if (!loc.node) throw fsError('ENOENT', 'unlink', p.display);
  if (loc.node.type === 'dir') throw fsError('EISDIR', 'unlink', p.display);
  if (p.trailingSlash) throw fsError('ENOTDIR', 'unlink', p.display);
  removeLeaf(view, loc);
}

function removeLeaf(view: View, loc: Located): void {
  const node = loc.node as LeafInode;
  if (!node.upper && view.policy.hardlinks === 'preserve' && (view.stack.links.get(node)?.paths.length ?? 1) > 1) {
    view.promote(node);
  } else if (node.upper) {
    node.meta.ctimeMs = view.policy.now();
  }
  view.removeEntry(loc);
  view.touchDir(loc.parent!);
}

/** Node's `rm`: `lstat` first, directories only with `recursive`, ENOENT ignored with `force`. */
export function rm(view: View, path: PathLike, options: { recursive?: boolean; force?: boolean }): void {
  const p = userPath(path, 'lstat');
  let loc: Located;
  try {
    loc = view.resolve(p, { follow: false, syscall: 'lstat' });
    if (!loc.node) throw fsError('ENOENT', 'lstat', p.display);
  } catch (err) {
    if (options.force && (err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  const node = loc.node!;
  if (node.type !== 'dir') {
    removeLeaf(view, loc);
    return;
  }
  if (!options.recursive) throw new UnionFsIsDirError(p.display);
  // `rm -r link/`: lstat follows the link, but removing goes by the name, which is no directory.
  if (p.trailingSlash && view.resolve({ ...p, trailingSlash: false }, { follow: false, syscall: 'rmdir' }).node?.type === 'symlink') {
    throw fsError('ENOTDIR', 'rmdir', p.display);
  }
  if (!loc.parent) {
    // `rm -r /`: everything below goes, the root itself cannot.
    for (const name of view.names(loc.dir!)) rm(view, `${loc.path === '/' ? '' : loc.path}/${name}`, options);
    throw fsError('EBUSY', 'rmdir', p.display);
  }
  view.promoteLinksUnder(loc.path);
  view.removeEntry(loc);
  view.touchDir(loc.parent);
}

export function symlink(view: View, target: string, path: PathLike): void {
  const p = userPath(path, 'symlink');
  const loc = view.resolve(withoutSlash(p), { follow: false, syscall: 'symlink' });
  if (loc.node) throw fsError('EEXIST', 'symlink', target, p.display);
  if (p.trailingSlash || target.length === 0) throw fsError('ENOENT', 'symlink', target, p.display);
  if (target.includes('\0')) throw fsError('EINVAL', 'symlink', target, p.display);
  if (isReservedName(loc.name)) throw fsError('EINVAL', 'symlink', target, p.display);
  view.place(loc.parent!, loc.name, {
    type: 'symlink',
    ino: view.newIno(),
    upper: true,
    nlink: 1,
    target,
    meta: newMeta(view, loc.parent!, 0o777),
  });
  view.touchDir(loc.parent!);
}

export function link(view: View, existing: PathLike, newPath: PathLike): void {
  const from = userPath(existing, 'link');
  const to = userPath(newPath, 'link');
  let src: Located;
  try {
    src = view.resolve(from, { follow: false, syscall: 'link' });
  } catch (err) {
    throw retag(err, 'link', from.display, to.display);
  }
  if (!src.node) throw fsError('ENOENT', 'link', from.display, to.display);
  let dst: Located;
  try {
    dst = view.resolve(withoutSlash(to), { follow: false, syscall: 'link' });
  } catch (err) {
    throw retag(err, 'link', from.display, to.display);
  }
  if (dst.node) throw fsError('EEXIST', 'link', from.display, to.display);
  if (to.trailingSlash) throw fsError('ENOENT', 'link', from.display, to.display);
  if (src.node.type === 'dir') throw fsError('EPERM', 'link', from.display, to.display);
  if (isReservedName(dst.name)) throw fsError('EINVAL', 'link', from.display, to.display);
  const inode = view.copyUpLeaf(src);
  inode.nlink++;
  touchCtime(view, inode);
  view.place(dst.parent!, dst.name, inode as UpperNode);
  view.touchDir(dst.parent!);
}

/** Re-labels an error raised while resolving one of two paths with both, as Node reports two-path calls. */
export function retag(err: unknown, syscall: string, path: string, dest: string): unknown {
  const code = (err as { code?: string }).code;
  if (err instanceof Error && code && code !== 'ERR_FS_EISDIR' && 'errno' in err) return fsError(code as 'ENOENT', syscall, path, dest);
  return err;
}

function locate(view: View, path: PathLike, follow: boolean, syscall: string): Located {
  const p = userPath(path, syscall);
  const loc = view.resolve(p, { follow, syscall });
  if (!loc.node) throw fsError('ENOENT', syscall, p.display);
  return loc;
}

export function chmod(view: View, path: PathLike, mode: number, follow = true): void {
  const node = mutableNode(view, locate(view, path, follow, follow ? 'chmod' : 'lchmod'));
  node.meta.mode = mode & 0o7777;
  touchCtime(view, node);
}

/** `chown(2)`: -1 keeps an id; as on Linux, any chown of a non-directory clears setuid, and setgid when group-executable. */
export function chown(view: View, path: PathLike, uid: number, gid: number, follow = true): void {
  const node = mutableNode(view, locate(view, path, follow, follow ? 'chown' : 'lchown'));
  if (uid !== -1) node.meta.uid = uid;
  if (gid !== -1) node.meta.gid = gid;
  if (node.type !== 'dir' && node.type !== 'symlink') {
    let mode = node.meta.mode & ~0o4000;
    if (mode & 0o010) mode &= ~0o2000;
    node.meta.mode = mode;
  }
  touchCtime(view, node);
}

/**
 * A time argument as Node takes it: seconds (number or numeric string) or a Date.
 *
 * @example
 * ```ts
 * await view.utimes('/f', 0, new Date('2024-01-01'));
 * ```
 */
export type TimeLike = number | string | Date;

export function toMs(time: TimeLike, now: number): number {
  if (time instanceof Date) return time.getTime();
  const seconds = typeof time === 'string' ? Number(time) : time;
  if (!Number.isFinite(seconds)) return now;
  return seconds * 1000;
}

export function utimes(view: View, path: PathLike, atime: TimeLike, mtime: TimeLike, follow = true): void {
  const node = mutableNode(view, locate(view, path, follow, follow ? 'utime' : 'lutime'));
  const now = view.policy.now();
  node.meta.atimeMs = toMs(atime, now);
  node.meta.mtimeMs = toMs(mtime, now);
  node.meta.ctimeMs = now;
}

/**
 * `copyFile` as libuv does it: open the source (symlinks followed), open or
 * create the destination (symlinks followed unless exclusive), same file →
 * done, truncate, set the source's mode, copy the bytes; when copying fails
 * (the source is a directory) the destination name is removed.
 */
export async function copyFile(view: View, src: PathLike, dest: PathLike, exclusive: boolean): Promise<void> {
  const from = userPath(src, 'copyfile');
  const to = userPath(dest, 'copyfile');
  const fail = (code: Parameters<typeof fsError>[0]) => fsError(code, 'copyfile', from.display, to.display);
  let source: Located;
  let target: FileInode | undefined;
  try {
    source = view.resolve(from, { follow: true, syscall: 'copyfile' });
    if (!source.node) throw fail('ENOENT');
    if (!exclusive && !to.trailingSlash) {
      const existing = view.resolve(to, { follow: true, syscall: 'copyfile' });
      if (existing.node === source.node && existing.node.type !== 'dir') return;
    }
    target = await openForWrite(
      view,
      dest,
      { write: true, create: true, exclusive, truncate: true, append: false },
      source.node.meta.mode,
      'copyfile',
    );
  } catch (err) {
    throw retag(err, 'copyfile', from.display, to.display);
  }
  const srcNode = source.node;
  if (target) target.meta.mode = srcNode.meta.mode & 0o7777;
  if (srcNode.type === 'dir') {
    const left = view.resolve(withoutSlash(to), { follow: false, syscall: 'unlink' });
    if (left.node && left.node.type !== 'dir') removeLeaf(view, left);
    throw fail('EISDIR');
  }
  if (!target) return;
  target.content = srcNode.type === 'file' ? srcNode.content.clone() : FileContent.empty();
  touchFile(view, target);
}

/**
 * What `mknod` creates.
 *
 * @example
 * ```ts
 * const null_: SpecialFile = { type: 'char', mode: 0o666, devmajor: 1, devminor: 3 };
 * ```
 */
export interface SpecialFile {
  type: 'fifo' | 'char' | 'block';
  mode: number;
  devmajor?: number;
  devminor?: number;
}

/** `mknod(2)` for FIFOs and device nodes (Node's fs has no such call; the view acts as root). */
export function mknod(view: View, path: PathLike, special: SpecialFile): void {
  const p = userPath(path, 'mknod');
  const loc = view.resolve(withoutSlash(p), { follow: false, syscall: 'mknod' });
  if (loc.node) throw fsError('EEXIST', 'mknod', p.display);
  if (p.trailingSlash) throw fsError('ENOENT', 'mknod', p.display);
  if (isReservedName(loc.name)) throw fsError('EINVAL', 'mknod', p.display);
  view.place(loc.parent!, loc.name, {
    type: special.type,
    ino: view.newIno(),
    upper: true,
    nlink: 1,
    devmajor: special.devmajor ?? 0,
    devminor: special.devminor ?? 0,
    meta: newMeta(view, loc.parent!, special.mode & 0o7777 & ~view.policy.umask),
  });
  view.touchDir(loc.parent!);
}
