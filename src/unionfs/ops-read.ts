/**
 * Read-only operations: they never copy anything up.
 * @module
 */
import { fsError } from './errors.js';
import { nodeSize, type AnyNode, type FileInode } from './inode.js';
import { joinPath, parseUserPath, type PathLike } from './paths.js';
import { UnionDirent, UnionStats } from './stats.js';
import type { DirRef, View } from './view.js';

/** The `fs.constants` access modes the view looks at: as root, read and write (`R_OK`, `W_OK`) are always allowed. */
export const F_OK = 0;
export const X_OK = 1;

/** Linux `makedev` for the device numbers a tar header can hold. */
export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12);
}

export function statsOf(view: View, node: AnyNode): UnionStats {
  return new UnionStats({
    type: node.type,
    perm: node.meta.mode,
    ino: node.ino,
    nlink: view.nlink(node),
    uid: node.meta.uid,
    gid: node.meta.gid,
    size: nodeSize(node),
    rdev: node.type === 'char' || node.type === 'block' ? makedev(node.devmajor, node.devminor) : 0,
    atimeMs: node.meta.atimeMs,
    mtimeMs: node.meta.mtimeMs,
    ctimeMs: node.meta.ctimeMs,
  });
}

export function stat(view: View, path: PathLike, follow: boolean): UnionStats {
  const syscall = follow ? 'stat' : 'lstat';
  const loc = view.resolve(parseUserPath(path, syscall), { follow, syscall });
  if (!loc.node) throw fsError('ENOENT', syscall, String(path));
  return statsOf(view, loc.node);
}

export function access(view: View, path: PathLike, mode: number): void {
  const loc = view.resolve(parseUserPath(path, 'access'), { follow: true, syscall: 'access' });
  if (!loc.node) throw fsError('ENOENT', 'access', String(path));
  // The view acts as root: read and write are always allowed, execute needs an x bit (or a directory).
  if (mode & X_OK && loc.node.type !== 'dir' && (loc.node.meta.mode & 0o111) === 0) {
    throw fsError('EACCES', 'access', String(path));
  }
}

/** The file a read opens: follows symlinks, refuses directories the way `read(2)` does. */
export function openForRead(view: View, path: PathLike): FileInode | undefined {
  const loc = view.resolve(parseUserPath(path, 'open'), { follow: true, syscall: 'open' });
  if (!loc.node) throw fsError('ENOENT', 'open', String(path));
  if (loc.node.type === 'dir') throw fsError('EISDIR', 'read');
  return loc.node.type === 'file' ? loc.node : undefined;
}

export async function readFileBytes(view: View, path: PathLike): Promise<Uint8Array> {
  const file = openForRead(view, path);
  return file ? file.content.bytes() : new Uint8Array(0);
}

/** The directory `path` names (following symlinks), for `readdir`. */
export function openDir(view: View, path: PathLike): DirRef {
  const loc = view.resolve(parseUserPath(path, 'scandir'), { follow: true, syscall: 'scandir' });
  if (!loc.node) throw fsError('ENOENT', 'scandir', String(path));
  if (!loc.dir) throw fsError('ENOTDIR', 'scandir', String(path));
  return loc.dir;
}

/** Names of a directory in byte order. */
export function readdirNames(view: View, path: PathLike): string[] {
  return view.sortedNames(openDir(view, path));
}

/** Directory entries with their types, recursively when asked (Node's `recursive` lists descendants as relative paths). */
export function readdirEntries(view: View, path: PathLike, recursive: boolean): { name: string; parent: string; type: AnyNode['type'] }[] {
  const display = String(path);
  const out: { name: string; parent: string; type: AnyNode['type'] }[] = [];
  const walk = (ref: DirRef, parent: string, prefix: string): void => {
    for (const name of view.sortedNames(ref)) {
      const found = view.child(ref, name)!;
      out.push({ name: prefix + name, parent, type: found.node.type });
      if (recursive && found.node.type === 'dir') {
        walk(view.childRef(ref, name, found), parent, prefix + name + '/');
      }
    }
  };
  walk(openDir(view, path), display, '');
  return out;
}

export function direntsOf(entries: { name: string; parent: string; type: AnyNode['type'] }[]): UnionDirent[] {
  return entries.map((e) => {
    const slash = e.name.lastIndexOf('/');
    if (slash < 0) return new UnionDirent(e.name, e.parent, e.type);
    const parent = e.parent.endsWith('/') ? e.parent + e.name.slice(0, slash) : `${e.parent}/${e.name.slice(0, slash)}`;
    return new UnionDirent(e.name.slice(slash + 1), parent, e.type);
  });
}

export function readlink(view: View, path: PathLike): string {
  const loc = view.resolve(parseUserPath(path, 'readlink'), { follow: false, syscall: 'readlink' });
  if (!loc.node) throw fsError('ENOENT', 'readlink', String(path));
  if (loc.node.type !== 'symlink') throw fsError('EINVAL', 'readlink', String(path));
  return loc.node.target;
}

export function realpath(view: View, path: PathLike): string {
  const loc = view.resolve(parseUserPath(path, 'realpath'), { follow: true, syscall: 'realpath' });
  if (!loc.node) throw fsError('ENOENT', 'realpath', String(path));
  return loc.path;
}

/** Every path of the view in byte order, depth first, with its node (for walks: materialize, export, tests). */
export function* walkView(view: View, ref: DirRef = view.rootRef()): Generator<{ path: string; node: AnyNode; dir: DirRef | undefined }> {
  for (const name of view.sortedNames(ref)) {
    const found = view.child(ref, name)!;
    const path = joinPath(ref.path, name);
    if (found.node.type === 'dir') {
      const child = view.childRef(ref, name, found);
      yield { path, node: found.node, dir: child };
      yield* walkView(view, child);
    } else {
      yield { path, node: found.node, dir: undefined };
    }
  }
}
