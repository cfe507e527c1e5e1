/**
 * File contents of the context, opened from disk only when read.
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { createSha256, type Digest, type Hasher } from '../digest.js';
import { OPEN_SYNC, type ContentSource, type SyncContentReader } from '../layers/entry.js';
import { ContextError } from './errors.js';
import { NodeStats } from './tree.js';

const CHUNK = 256 * 1024;

/**
 * Files up to this size are read with synchronous calls. A small file is
 * four system calls of a few microseconds each; through the thread pool
 * each of them waits in line behind layer compression, which made a context
 * of many small files several times slower to copy (and cost more CPU).
 */
const SYNC_READ_MAX = 1 << 20;

/**
 * A {@link ContentSource} over a file in the context. Each `open()` opens the
 * file afresh and yields exactly `stats.size` bytes; if the file on disk is no
 * longer the one that was listed (another inode, another size, or more or
 * fewer bytes than listed), the stream fails with `CONTEXT_CHANGED` instead of
 * handing out bytes that disagree with the entry.
 *
 * @param path the context path, for errors.
 */
export function fileSource(hostPath: string, path: string, stats: FileStats): ContentSource {
  return new FileSource('', new HostFile(hostPath, path, stats));
}

/**
 * {@link fileSource} of a listed context node, by its context path below
 * `hostRoot`. It keeps the node, not a host path of its own: the tree keeps
 * the node anyway, and a copy of many files holds one of these per file for
 * as long as the layer it wrote is in use.
 */
export function nodeFileSource(hostRoot: string, node: ListedFile): ContentSource {
  return new FileSource(hostRoot, node);
}

/** A file as a listing describes it: its path (below a host root) and its stats. */
interface ListedFile {
  readonly path: string;
  readonly stats: FileStats;
  /** The path errors name, when not `path`. */
  readonly label?: string;
}

/** A file named by its host path, with the context path its errors name. */
class HostFile implements ListedFile {
  constructor(
    readonly path: string,
    readonly label: string,
    readonly stats: FileStats,
  ) {}
}

/** Told the SHA-256 of a context file each time a read of it runs to the end. */
export interface ReadObserver {
  read(path: string, digest: Digest): void;
}

/**
 * The same file source with every complete read reported to `observer`
 * (with the context path); undefined when `source` is not a context file
 * source. One object per file, where a wrapper would add a second and a
 * record for the wrapper to fill: a large copy keeps its sources as long as
 * its layer is in use.
 */
export function observedFileSource(source: ContentSource, observer: ReadObserver): ContentSource | undefined {
  return source instanceof FileSource ? source.observedBy(observer) : undefined;
}

/** What {@link fileSource} compares a file against: the listing's identity and size. */
export type FileStats = Pick<BigIntStats, 'dev' | 'ino' | 'size'>;

/**
 * A class, not an object literal: there is one per context file, and a
 * generator method of a literal costs each file its own closure, prototype
 * object and hidden class (a third of a large COPY's heap).
 */
class FileSource implements ContentSource {
  /** The file is `hostRoot + file.path`; everything else is read from `file` when needed, not copied. */
  constructor(
    private readonly hostRoot: string,
    private readonly file: ListedFile,
    private readonly observer?: ReadObserver,
  ) {}

  get size(): number {
    const { stats } = this.file;
    return stats instanceof NodeStats ? stats.sizeNumber : Number(stats.size);
  }

  get stats(): FileStats {
    return this.file.stats;
  }

  /** The context path. */
  get path(): string {
    return this.file.label ?? this.file.path;
  }

  observedBy(observer: ReadObserver): FileSource {
    return new FileSource(this.hostRoot, this.file, observer);
  }

  get hostPath(): string {
    return this.hostRoot + this.file.path;
  }

  #changed(reason: string): ContextError {
    return new ContextError('CONTEXT_CHANGED', `${this.path} changed while the context was being read: ${reason}`, { path: this.path, reason });
  }

  /** Small files are read straight into the tar writer's blocks (see `SYNC_READ_MAX` for why only small ones). */
  [OPEN_SYNC](): SyncContentReader | undefined {
    if (this.size > SYNC_READ_MAX) return undefined;
    const observer = this.observer;
    return new ListedFileReader(this.hostPath, this.stats, (reason) => this.#changed(reason), observer && ((digest) => observer.read(this.path, digest)));
  }

  async *open(): AsyncGenerator<Uint8Array> {
    const { hostPath, stats, size, observer } = this;
    const changed = (reason: string) => this.#changed(reason);
    // Only a read that ran to the end, with the listed size, names the content.
    const hasher = observer ? createSha256() : undefined;
    if (size <= SYNC_READ_MAX) {
      const bytes = readSmall(hostPath, stats, changed);
      hasher?.update(bytes);
      if (size > 0) yield bytes;
      if (hasher) observer!.read(this.path, hasher.digest());
      return;
    }
    // O_NOFOLLOW: a file swapped for a symlink since it was listed fails the check instead of being followed.
    const handle = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: unknown) => {
      throw vanished(err, changed);
    });
    try {
      const now = await handle.stat({ bigint: true });
      if (now.ino !== stats.ino || now.dev !== stats.dev) throw changed('replaced by another file');
      if (now.size !== stats.size) throw changed(`size ${stats.size} became ${now.size}`);
      let remaining = size;
      while (remaining > 0) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, remaining));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, size - remaining);
        if (bytesRead === 0) throw changed('shorter than listed');
        remaining -= bytesRead;
        const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
        hasher?.update(chunk);
        yield chunk;
      }
      const probe = Buffer.allocUnsafe(1);
      if ((await handle.read(probe, 0, 1, size)).bytesRead !== 0) throw changed('longer than listed');
    } finally {
      await handle.close();
    }
    if (hasher) observer!.read(this.path, hasher.digest());
  }
}

/**
 * Synchronous reads of a listed file straight into the caller's buffer (the
 * tar writer's output block): no buffer of its own per file. The same checks
 * as {@link FileSource.open}: another inode or size, or more or fewer bytes
 * than listed, fail with `CONTEXT_CHANGED`; a read that reaches the end with
 * the listed size reports the file's digest to the observer.
 */
class ListedFileReader implements SyncContentReader {
  readonly #fd: number;
  readonly #size: number;
  readonly #changed: (reason: string) => Error;
  readonly #hasher: Hasher | undefined;
  readonly #done: ((digest: Digest) => void) | undefined;
  #position = 0;

  constructor(hostPath: string, stats: FileStats, changed: (reason: string) => Error, done?: (digest: Digest) => void) {
    this.#size = stats instanceof NodeStats ? stats.sizeNumber : Number(stats.size);
    this.#changed = changed;
    this.#fd = openListed(hostPath, stats, changed);
    this.#hasher = done ? createSha256() : undefined;
    this.#done = done;
  }

  read(into: Uint8Array, offset: number, length: number): number {
    let got = 0;
    while (got < length) {
      const n = readSync(this.#fd, into, offset + got, length - got, this.#position);
      if (n === 0) break;
      got += n;
      this.#position += n;
    }
    if (this.#position > this.#size) throw this.#changed('longer than listed');
    this.#hasher?.update(into.subarray(offset, offset + got));
    if (got < length) {
      if (this.#position < this.#size) throw this.#changed('shorter than listed');
      this.#done?.(this.#hasher!.digest());
    }
    return got;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Opens a listed file without following a symlink or blocking on a FIFO, and checks it is still the one listed. */
function openListed(hostPath: string, stats: FileStats, changed: (reason: string) => Error): number {
  let fd: number;
  try {
    // Non-blocking, so a file replaced by a FIFO since it was listed fails the check instead of hanging.
    fd = openSync(hostPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    throw vanished(err, changed);
  }
  try {
    // A listed node's own stats compare with a number fstat result when its values are safe integers.
    const listed = stats instanceof NodeStats ? stats : undefined;
    const now = listed?.numericIdentity ? fstatSync(fd) : fstatSync(fd, { bigint: true });
    const change = listed ? listed.changeIn(now) : now.ino !== stats.ino || now.dev !== stats.dev ? 'inode' : now.size !== stats.size ? 'size' : undefined;
    if (change === 'inode') throw changed('replaced by another file');
    if (change === 'size') throw changed(`size ${stats.size} became ${now.size}`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** The whole of a small file, read synchronously and checked against its listing. */
function readSmall(hostPath: string, stats: FileStats, changed: (reason: string) => Error): Buffer {
  const size = Number(stats.size);
  const fd = openListed(hostPath, stats, changed);
  try {
    // One read of size + 1 bytes: a regular file returns exactly `size` when nothing changed.
    const buffer = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, got, buffer.length - got, got);
      got += bytesRead;
      if (bytesRead === 0 || got > size) break;
    }
    if (got > size) throw changed('longer than listed');
    if (got < size) throw changed('shorter than listed');
    return buffer.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * An open of a listed file that failed because the file is gone, or is now a
 * symlink or a directory (another process changed the context): reported as
 * the context having changed. Other failures (a permission) stay as they are.
 */
function vanished(err: unknown, changed: (reason: string) => Error): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return changed('it is gone');
  if (code === 'ELOOP' || code === 'EMLINK') return changed('it became a symbolic link');
  if (code === 'EISDIR') return changed('it became a directory');
  return err;
}
