/**
 * `Stats` and `Dirent` look-alikes: the fields and predicates of Node's, so
 * code written against `fs.Stats` and `fs.Dirent` reads a view unchanged.
 * @module
 */
import type { NodeType } from './inode.js';

/** File type bits of `st_mode`, as Linux defines them. */
export const S_IFMT = 0o170000;
const TYPE_BITS: Record<NodeType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

/** `st_mode` for a type and its permission bits. */
export function modeWithType(type: NodeType, perm: number): number {
  return TYPE_BITS[type] | (perm & 0o7777);
}

/** The device number the view reports for everything in it. */
export const UNION_DEV = 0x4c4b; // "LK"

/** Fields used to build a {@link UnionStats}. */
export interface StatsInit {
  type: NodeType;
  perm: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/**
 * What `stat`/`lstat` return: the fields and methods of Node's `fs.Stats`.
 *
 * @example
 * ```ts
 * const st = await view.lstat('/bin/sh');
 * if (st.isSymbolicLink()) console.log(st.size, (st.mode & 0o777).toString(8));
 * ```
 */
export class UnionStats {
  dev = UNION_DEV;
  ino: number;
  /** Type and permission bits, as `st_mode`. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize = 4096;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;

  constructor(init: StatsInit) {
    this.ino = init.ino;
    this.mode = modeWithType(init.type, init.perm);
    this.nlink = init.nlink;
    this.uid = init.uid;
    this.gid = init.gid;
    this.rdev = init.rdev;
    this.size = init.size;
    this.blocks = Math.ceil(init.size / 4096) * 8;
    this.atimeMs = init.atimeMs;
    this.mtimeMs = init.mtimeMs;
    this.ctimeMs = init.ctimeMs;
    this.birthtimeMs = init.ctimeMs;
  }

  get atime(): Date {
    return new Date(this.atimeMs);
  }
  get mtime(): Date {
    return new Date(this.mtimeMs);
  }
  get ctime(): Date {
    return new Date(this.ctimeMs);
  }
  get birthtime(): Date {
    return new Date(this.birthtimeMs);
  }

  isFile(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.file;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.dir;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.symlink;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.char;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.block;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === TYPE_BITS.fifo;
  }
  isSocket(): boolean {
    return false;
  }
}

/**
 * One entry of `readdir(path, { withFileTypes: true })`, like Node's `fs.Dirent`.
 *
 * @example
 * ```ts
 * for (const d of await view.readdir('/etc', { withFileTypes: true })) {
 *   if (d.isDirectory()) console.log(`${d.parentPath}/${d.name}/`);
 * }
 * ```
 */
export class UnionDirent {
  readonly name: string;
  /** The directory that was read, as given to `readdir`. */
  readonly parentPath: string;
  /** Same as `parentPath` (the older Node name). */
  readonly path: string;
  readonly #type: NodeType;

  constructor(name: string, parentPath: string, type: NodeType) {
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this.#type = type;
  }

  isFile(): boolean {
    return this.#type === 'file';
  }
  isDirectory(): boolean {
    return this.#type === 'dir';
  }
  isSymbolicLink(): boolean {
    return this.#type === 'symlink';
  }
  isCharacterDevice(): boolean {
    return this.#type === 'char';
  }
  isBlockDevice(): boolean {
    return this.#type === 'block';
  }
  isFIFO(): boolean {
    return this.#type === 'fifo';
  }
  isSocket(): boolean {
    return false;
  }
}
