/**
 * The file entry model: one file-system object as a layer, a tree or a union
 * view sees it. Shared by the tar writer/reader, changesets and the union fs.
 * @module
 */
import { UnsafePathError } from './errors.js';

/** The kinds of file-system object a layer can hold (OCI layer.md "file types"). */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/**
 * Bytes that can be read any number of times, each read a fresh stream.
 *
 * An opener, not a stream: a source backed by a file on disk or a range of a
 * layer tar is never loaded whole, and reading it twice is always allowed.
 */
export interface ContentSource {
  /** Exact number of bytes every `open()` yields. */
  readonly size: number;
  /** A fresh stream of the bytes. */
  open(): AsyncIterable<Uint8Array>;
}

/**
 * One file-system object.
 *
 * `path` is POSIX, absolute from the image root and normalized (`/etc/passwd`;
 * no `.`/`..` components, no trailing or doubled slashes; the root is `/`).
 */
export interface Entry {
  path: string;
  type: EntryType;
  /** Permission and special bits only (`0o7777` mask); the type lives in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in whole seconds since the epoch (tar precision). */
  mtime: number;
  /** Content size in bytes for `file`; 0 for every other type. */
  size: number;
  /** Symlink target (as written, may be relative) or hardlink target (an absolute entry path). */
  linkname?: string;
  /** Device numbers for `char` and `block`. */
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, by full name (`security.capability`, `user.foo`). */
  xattrs?: Readonly<Record<string, Uint8Array>>;
  /** Content of a `file`; absent means empty. */
  content?: ContentSource;
}

/**
 * Synchronous reads of a content source's bytes into a caller's buffer: the
 * fast path of sources backed by a file on disk, which lets the tar writer
 * read straight into its output blocks.
 */
export interface SyncContentReader {
  /** Reads up to `length` bytes into `into` at `offset`; returns how many (0 at the end). */
  read(into: Uint8Array, offset: number, length: number): number;
  close(): void;
}

/**
 * The key of a content source's synchronous opener: a method returning a
 * {@link SyncContentReader} over the same bytes `open()` yields, or
 * undefined when this source is better read with `open()` (a large file).
 *
 * @internal
 */
export const OPEN_SYNC: unique symbol = Symbol('layerkit.openSync');

/** @internal A synchronous reader of a source, if it offers one (see {@link OPEN_SYNC}). */
export function openSyncReader(source: ContentSource): SyncContentReader | undefined {
  const open = (source as { [OPEN_SYNC]?: unknown })[OPEN_SYNC];
  return typeof open === 'function' ? (open as () => SyncContentReader | undefined).call(source) : undefined;
}

/** A content source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ContentSource {
  return {
    size: bytes.byteLength,
    async *open() {
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}

/**
 * The canonical order of entry paths: component by component, each component
 * compared by its UTF-8 bytes. Equivalently, byte order of the UTF-8 paths
 * with `/` ranked below every other byte.
 *
 * Consequences that the tar writer, diffs and the union fs rely on: a parent
 * comes before its children, and a directory's whole subtree is contiguous
 * (`/a`, `/a/z`, `/a-b` — not `/a`, `/a-b`, `/a/z` as plain byte order would
 * give). This is the order of GNU `tar --sort=name`. Whiteout names
 * (`.wh.x`) are ordinary names here.
 *
 * @example
 * ```ts
 * ['/a-b', '/a/z', '/a'].sort(comparePaths); // ['/a', '/a/z', '/a-b']
 * ```
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    // UTF-16 code units disagree with code point (= UTF-8 byte) order only
    // between surrogates and U+E000..U+FFFF; move the surrogates above.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * True when `path` is in the entry model's normal form: absolute, no empty,
 * `.` or `..` components, no trailing slash (except the root `/`), no NUL.
 *
 * @example
 * ```ts
 * isCleanPath('/etc/passwd'); // true
 * isCleanPath('/etc/'); // false
 * ```
 */
export function isCleanPath(path: string): boolean {
  if (path === '/') return true;
  if (path.charCodeAt(0) !== 0x2f || path.endsWith('/') || path.includes('\0')) return false;
  for (const part of path.slice(1).split('/')) {
    if (part === '' || part === '.' || part === '..') return false;
  }
  return true;
}

/**
 * Normalizes a path as found in an archive into the entry model: every
 * leading `/` is dropped (names are relative to the layer root, wherever they
 * claim to start), empty and `.` components vanish, and `..` removes the
 * previous component. A `..` that would climb above the root is an error,
 * never clamped, so a hostile name cannot alias another path.
 *
 * @throws {@link UnsafePathError} for a `..` above the root or a NUL byte.
 * @example
 * ```ts
 * cleanPath('./usr//bin/'); // '/usr/bin'
 * cleanPath('///etc/passwd'); // '/etc/passwd'
 * cleanPath('a/../../x'); // throws UnsafePathError
 * ```
 */
export function cleanPath(raw: string, offset?: number): string {
  if (raw.includes('\0')) throw new UnsafePathError(raw, 'contains a NUL byte', offset);
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new UnsafePathError(raw, '".." climbs above the root', offset);
      out.pop();
    } else {
      out.push(part);
    }
  }
  return '/' + out.join('/');
}

/**
 * The parent directory of a clean path (`/` for top-level paths and the root).
 *
 * @example
 * ```ts
 * parentPath('/usr/bin'); // '/usr'
 * ```
 */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
