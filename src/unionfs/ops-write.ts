/**
 * Operations that change the view. Each copies up what it touches (never
 * more), records whiteouts where a lower name disappears, and reports errors
 * in the order Linux checks them.
 * @module
 */
import { fsError, UnionFsIsDirError } from './errors.js';
import { FileContent, WHITEOUT, type AnyNode, type FileInode, type LeafInode, type Meta, type UpperNode } from './inode.js';
import { isReservedName, parseUserPath, type PathLike, type UserPath } from './paths.js';
import type { Located, View } from './view.js';

/** The parts of `open(2)` flags a write needs. */
export interface OpenFlags {
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
}

const O_WRONLY = 1;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

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

function newMeta(view: View, mode: number): Meta {
  const now = view.policy.now();
  return { mode, uid: view.policy.uid, gid: view.policy.gid, atimeMs: now, mtimeMs: now, ctimeMs: now };
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
  if (p.trailingSlash || loc.dotted) throw fsError('EISDIR', syscall, p.display);
  if (isReservedName(loc.name)) throw fsError('EINVAL', syscall, p.display);
  const file: FileInode = {
    type: 'file',
    ino: view.newIno(),
    upper: true,
    nlink: 1,
    meta: newMeta(view, mode & 0o7777 & ~view.policy.umask),
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
    meta: newMeta(view, mode & 0o1777 & ~view.policy.umask),
  };
  upperParent.children.set(loc.name, dir);
  view.touchDir(parent);
}

/**
 * `mkdir -p` the way Node does it: try the path, on ENOENT create the parent
 * first, accept an existing directory; returns the first directory created.
 */
export function mkdirRecursive(view: View, path: PathLike, mode: number): string | undefined {
  const display = userPath(path, 'mkdir').display;
  const pending = [display];
  let first: string | undefined;
  while (pending.length > 0) {
    const next = pending[pending.length - 1]!;
    try {
      mkdir(view, next, mode);
      pending.pop();
      first ??= next;
      continue;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT') {
        const trimmed = next.replace(/\/+$/, '');
        const slash = trimmed.lastIndexOf('/');
        const parent = slash > 0 ? trimmed.slice(0, slash) : slash === 0 ? '/' : '';
        if (parent === '' || parent === next) throw err;
        pending.push(parent);
        continue;
      }
      let isDir: boolean;
      try {
        const loc = view.resolve(userPath(next, 'stat'), { follow: true, syscall: 'stat' });
        if (!loc.node) throw fsError('ENOENT', 'mkdir', next);
        isDir = loc.node.type === 'dir';
      } catch (statErr) {
        const statCode = (statErr as { code?: string }).code;
        throw statCode ? fsError(statCode as 'ENOENT', 'mkdir', next) : statErr;
      }
      if (!isDir) throw fsError(code === 'EEXIST' && pending.length > 1 ? 'ENOTDIR' : 'EEXIST', 'mkdir', next);
      pending.pop();
    }
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
    meta: newMeta(view, 0o777),
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

/** A time argument as Node takes it: seconds (number or numeric string) or a Date. */
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

/** `copyFile`: content and permission bits of `src` (symlinks followed) into `dest`. */
export async function copyFile(view: View, src: PathLike, dest: PathLike, exclusive: boolean): Promise<void> {
  const from = userPath(src, 'copyfile');
  const to = userPath(dest, 'copyfile');
  let source: Located;
  try {
    source = view.resolve(from, { follow: true, syscall: 'copyfile' });
  } catch (err) {
    throw retag(err, 'copyfile', from.display, to.display);
  }
  if (!source.node) throw fsError('ENOENT', 'copyfile', from.display, to.display);
  if (source.node.type === 'dir') throw fsError('EISDIR', 'copyfile', from.display, to.display);
  const srcNode = source.node;
  let target: FileInode | undefined;
  try {
    const existing = view.resolve(to, { follow: !exclusive, syscall: 'copyfile' });
    if (existing.node === srcNode) return;
    target = await openForWrite(
      view,
      dest,
      { write: true, create: true, exclusive, truncate: false, append: false },
      srcNode.meta.mode,
      'copyfile',
    );
  } catch (err) {
    throw retag(err, 'copyfile', from.display, to.display);
  }
  if (!target) return;
  target.content = srcNode.type === 'file' ? srcNode.content.clone() : FileContent.empty();
  target.meta.mode = srcNode.meta.mode & 0o7777;
  touchFile(view, target);
}
