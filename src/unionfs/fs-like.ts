/**
 * The file-system contract of layerkit: the part of `fs.promises` that a
 * `UnionFS` view provides with view-absolute paths, and that code working on
 * "a root file system" asks for, so the same code runs on a view, on
 * `node:fs` rooted in a directory (`hostFs` of `layerkit/testing`) or on a
 * kernel overlayfs mount.
 * @module
 */

/**
 * The `lstat` fields that both a view and a real file system agree on.
 * `node:fs` `Stats` fit, and so do `UnionStats`.
 *
 * @example
 * ```ts
 * import type { StatLike } from 'layerkit';
 * const st: StatLike = await fsp.lstat('/etc');
 * st.isDirectory(); // true
 * ```
 */
export interface StatLike {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

/**
 * The subset of `fs.promises` every layerkit file system offers, with
 * absolute paths inside its root: a `UnionFS` satisfies it (so does
 * `hostFs(dir, fsp)` of `layerkit/testing` for a real directory). Write
 * functions against `FsLike` rather than `UnionFS` and they run on either;
 * errors are Node's (`err.code` is `ENOENT`, `EEXIST`, `EXDEV`, …).
 *
 * @example
 * ```ts
 * import { UnionFS, type FsLike } from 'layerkit';
 *
 * async function addMotd(fs: FsLike, text: string): Promise<void> {
 *   await fs.mkdir('/etc', { recursive: true, mode: 0o755 });
 *   await fs.writeFile('/etc/motd', text, { flag: 'w' });
 * }
 *
 * const view = await UnionFS.open([]);
 * await addMotd(view, 'hello\n');
 * const layer = await view.commit();
 * ```
 */
export interface FsLike {
  stat(path: string): Promise<StatLike>;
  lstat(path: string): Promise<StatLike>;
  access(path: string, mode?: number): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: string, options: { flag: string }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, options: { recursive: boolean; mode: number }): Promise<string | undefined>;
  rm(path: string, options: { recursive: boolean; force: boolean }): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  copyFile(from: string, to: string, mode?: number): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  realpath(path: string): Promise<string>;
  link(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, atime: number, mtime: number): Promise<void>;
  truncate(path: string, length?: number): Promise<void>;
}
