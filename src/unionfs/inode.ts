/**
 * The in-memory objects behind a union view: inodes of the lower stack
 * (frozen, shared by every view over the same layers) and of the writable
 * upper (mutable, private to one view), and the whiteout marker.
 * @module
 */
import type { ContentSource } from '../layers/entry.js';

/** File-system object types a view can hold (a hardlink is not a type: it is a second name for an inode). */
export type NodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

/** Metadata every inode carries. Times in milliseconds since the epoch. */
export interface Meta {
  /** Permission and special bits only (`0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  xattrs?: Readonly<Record<string, Uint8Array>>;
}

let nextIno = 1;
/** A fresh inode number, unique in this process. */
export function allocIno(): number {
  return nextIno++;
}

/**
 * File bytes: either a lazy, immutable source (lower content, or an untouched
 * copy-up that still shares it) or a private growable buffer. Reading never
 * materialises; the first partial write does.
 */
export class FileContent {
  /** Logical size in bytes. */
  size: number;
  #source: ContentSource | undefined;
  #buf: Uint8Array | undefined;

  private constructor(size: number, source: ContentSource | undefined, buf: Uint8Array | undefined) {
    this.size = size;
    this.#source = source;
    this.#buf = buf;
  }

  static empty(): FileContent {
    return new FileContent(0, undefined, undefined);
  }

  static fromSource(source: ContentSource | undefined): FileContent {
    return new FileContent(source?.size ?? 0, source, undefined);
  }

  /** Takes ownership of `bytes` (the caller must not modify them afterwards). */
  static fromBytes(bytes: Uint8Array): FileContent {
    return new FileContent(bytes.byteLength, undefined, bytes);
  }

  /** Bytes already in memory, without reading anything (undefined for a lazy source). */
  get loaded(): Uint8Array | undefined {
    if (this.#buf) return this.#buf.subarray(0, this.size);
    if (this.size === 0) return new Uint8Array(0);
    return undefined;
  }

  /** A copy that shares nothing mutable: copy-up uses this, so the lower stays untouched. */
  clone(): FileContent {
    if (this.#buf) return new FileContent(this.size, undefined, this.#buf.slice(0, this.size));
    return new FileContent(this.size, this.#source, undefined);
  }

  /** Streams `[start, end)` of the content. */
  async *read(start = 0, end = this.size): AsyncIterable<Uint8Array> {
    end = Math.min(end, this.size);
    if (start >= end) return;
    if (this.#buf) {
      yield this.#buf.subarray(start, end);
      return;
    }
    if (!this.#source) return;
    let offset = 0;
    for await (const chunk of this.#source.open()) {
      const chunkEnd = offset + chunk.byteLength;
      if (chunkEnd > start && offset < end) {
        yield chunk.subarray(Math.max(0, start - offset), Math.min(chunk.byteLength, end - offset));
      }
      offset = chunkEnd;
      if (offset >= end) break;
    }
  }

  /** The whole content as one buffer (a view; do not modify). */
  async bytes(): Promise<Uint8Array> {
    const loaded = this.loaded;
    if (loaded) return loaded;
    const out = new Uint8Array(this.size);
    let offset = 0;
    for await (const chunk of this.read()) {
      out.set(chunk.subarray(0, Math.min(chunk.byteLength, out.byteLength - offset)), offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  /** Makes the content a private buffer with room for `capacity` bytes. */
  async #materialize(capacity: number): Promise<Uint8Array> {
    if (this.#buf && this.#buf.byteLength >= capacity) return this.#buf;
    const current = this.#buf ? this.#buf.subarray(0, this.size) : await this.bytes();
    const grown = new Uint8Array(Math.max(capacity, Math.min(current.byteLength * 2, current.byteLength + (1 << 24)), 64));
    grown.set(current.subarray(0, Math.min(current.byteLength, this.size)));
    this.#buf = grown;
    this.#source = undefined;
    return grown;
  }

  /** Writes `data` at `position`, zero-filling any gap, growing the size as needed. */
  async write(position: number, data: Uint8Array): Promise<void> {
    const end = position + data.byteLength;
    const buf = await this.#materialize(Math.max(end, this.size));
    if (position > this.size) buf.fill(0, this.size, position);
    buf.set(data, position);
    if (end > this.size) this.size = end;
  }

  /** Cuts or zero-extends to `length` bytes. */
  async truncate(length: number): Promise<void> {
    if (length === this.size) return;
    if (length === 0) {
      this.#buf = undefined;
      this.#source = undefined;
      this.size = 0;
      return;
    }
    const buf = await this.#materialize(length);
    if (length > this.size) buf.fill(0, this.size, length);
    this.size = length;
  }

  /** Replaces the content with `bytes` (taking ownership). */
  replace(bytes: Uint8Array): void {
    this.#buf = bytes;
    this.#source = undefined;
    this.size = bytes.byteLength;
  }

  /**
   * An immutable source over the current bytes, for a committed layer. The
   * content object lets go of its buffer, so later writes cannot reach it.
   */
  seal(): ContentSource {
    if (this.#buf) {
      const bytes = this.#buf.subarray(0, this.size);
      this.#buf = undefined;
      this.#source = bufferSource(bytes);
    }
    return this.#source ?? bufferSource(new Uint8Array(0));
  }
}

function bufferSource(bytes: Uint8Array): ContentSource {
  return {
    size: bytes.byteLength,
    async *open() {
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}

interface InodeBase {
  ino: number;
  meta: Meta;
  /** True for inodes owned by a view's writable upper; lower inodes are frozen. */
  upper: boolean;
}

export interface FileInode extends InodeBase {
  type: 'file';
  content: FileContent;
  /** Link count: for upper inodes, maintained by link/unlink; for lower ones, see the stack's counts. */
  nlink: number;
}

export interface SymlinkInode extends InodeBase {
  type: 'symlink';
  target: string;
  nlink: number;
}

export interface SpecialInode extends InodeBase {
  type: 'char' | 'block' | 'fifo';
  devmajor: number;
  devminor: number;
  nlink: number;
}

/** A non-directory inode. */
export type LeafInode = FileInode | SymlinkInode | SpecialInode;

/** A directory of the merged lower stack. */
export interface LowerDir extends InodeBase {
  type: 'dir';
  upper: false;
  children: Map<string, LowerNode>;
}

/** A directory of the writable upper. */
export interface UpperDir extends InodeBase {
  type: 'dir';
  upper: true;
  /** Opaque: nothing of the lower at this path (or below) shows through. */
  opaque: boolean;
  children: Map<string, UpperNode | Whiteout>;
}

export type LowerNode = LowerDir | LeafInode;
export type UpperNode = UpperDir | LeafInode;
export type AnyNode = LowerDir | UpperDir | LeafInode;

/** The marker an upper leaves where a lower name was deleted. */
export interface Whiteout {
  type: 'whiteout';
}
export const WHITEOUT: Whiteout = Object.freeze({ type: 'whiteout' as const });

/** Copies metadata (xattrs shared: they are never mutated in place). */
export function copyMeta(meta: Meta): Meta {
  const out: Meta = {
    mode: meta.mode,
    uid: meta.uid,
    gid: meta.gid,
    atimeMs: meta.atimeMs,
    mtimeMs: meta.mtimeMs,
    ctimeMs: meta.ctimeMs,
  };
  if (meta.xattrs) out.xattrs = meta.xattrs;
  return out;
}

/** A fresh, empty upper directory. */
export function newUpperDir(meta: Meta, opaque: boolean, ino = allocIno()): UpperDir {
  return { type: 'dir', ino, meta, upper: true, opaque, children: new Map() };
}

/** Size as `stat` reports it. */
export function nodeSize(node: AnyNode): number {
  switch (node.type) {
    case 'file':
      return node.content.size;
    case 'symlink':
      return Buffer.byteLength(node.target);
    case 'dir':
      return 4096;
    default:
      return 0;
  }
}
