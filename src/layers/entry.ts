/**
 * The file entry model: one file-system object as a layer, a tree or a union
 * view sees it. Shared by the tar writer/reader, changesets and the union fs.
 * @module
 */

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

/** A content source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ContentSource {
  return {
    size: bytes.byteLength,
    async *open() {
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}
