/**
 * `UnionFS`: a copy-on-write view over read-only layers and a writable
 * upper, with the API of `fs.promises` and the semantics of overlayfs as
 * Docker mounts it.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { Entry } from '../layers/entry.js';
import { layerFromEntries, type LayerFromEntriesOptions } from '../layers/from-entries.js';
import type { ExtractResult } from '../layers/extract.js';
import type { Layer } from '../layers/layer.js';
import { changes, commitEntries, type UnionChange } from './commit.js';
import { linkedEntries, materialize, snapshotDirectory, syncFromDirectory, type MaterializeOptions, type SnapshotOptions, type SyncOptions } from './host.js';
import { dataChunks, encodingOf, parseMode, type EncodingOption, type WriteData } from './data.js';
import { LayerIndex } from './layer-index.js';
import { indexLayer, rememberIndex, type IndexLayerOptions } from './layer-source.js';
import { LowerStack } from './lower-stack.js';
import * as read from './ops-read.js';
import { rename } from './ops-rename.js';
import * as write from './ops-write.js';
import type { PathLike } from './paths.js';
import type { UnionDirent, UnionStats } from './stats.js';
import { createReadStream, createWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';
import { View, type ViewPolicy } from './view.js';
import type { FsLike } from './fs-like.js';

/**
 * A lower layer as {@link UnionFS.open} takes it: a `Layer`, an index of one, or its entries.
 *
 * @example
 * ```ts
 * const lowers: LowerInput[] = [layerFromTarFile('base.tar'), await snapshotDirectory('./overlay'), entries];
 * ```
 */
export type LowerInput = Layer | LayerIndex | readonly Entry[];

/**
 * Options of {@link UnionFS.open} and the constructor: the {@link ViewPolicy}
 * fields (all optional) and how `Layer` inputs are indexed.
 *
 * @example
 * ```ts
 * const view = await UnionFS.open(layers, { renameDir: 'copy-up', hardlinks: 'preserve', index: { memoryBudget: 16 << 20 } });
 * ```
 */
export interface UnionFSOptions extends Partial<ViewPolicy> {
  /** How layers given as `Layer` are indexed (memory budget, spool directory). */
  index?: IndexLayerOptions;
}

/**
 * Options of {@link UnionFS.commit}: those of `layerFromEntries` (compression, `sourceDateEpoch`).
 *
 * @example
 * ```ts
 * const layer = await view.commit({ sourceDateEpoch: 1700000000 });
 * ```
 */
export type CommitOptions = LayerFromEntriesOptions;

const COPYFILE_EXCL = 1;

/**
 * Options of `writeFile` and `appendFile`, as in `fs.promises`: an encoding,
 * or an object with `encoding`, `mode` and `flag`.
 *
 * @example
 * ```ts
 * const options: WriteFileOptions = { mode: 0o600, flag: 'wx' };
 * ```
 */
export type WriteFileOptions = BufferEncoding | { encoding?: BufferEncoding | null; mode?: number | string; flag?: string | number };

/**
 * Turns the inputs into a stack, indexing layers (once per `Layer` object) and entry lists.
 *
 * @example
 * ```ts
 * const image = await stackOf([baseLayer, appLayer]);
 * const views = [new UnionFS(image), new UnionFS(image)]; // one shared lower tree
 * ```
 */
export async function stackOf(lowers: LowerStack | readonly LowerInput[], options: IndexLayerOptions = {}): Promise<LowerStack> {
  if (lowers instanceof LowerStack) return lowers;
  const indexes = await Promise.all(
    lowers.map((lower, position) => {
      if (lower instanceof LayerIndex) return lower;
      if (Array.isArray(lower)) return LayerIndex.fromEntries(lower as readonly Entry[], { position });
      return indexLayer(lower as Layer, options);
    }),
  );
  return LowerStack.of(indexes);
}

/**
 * A copy-on-write union view: read-only lower layers (bottom first) under a
 * writable upper that only this view sees.
 *
 * Reads never copy. The first change to a lower object copies it up (data
 * lazily shared until written, metadata copied); deleting a lower name leaves
 * a whiteout; a directory removed and made again is opaque; names starting
 * with `.wh.` cannot be created (EINVAL) and never appear. Symlinks resolve
 * inside the view, as under chroot. `rename` of a directory with lower
 * content fails with EXDEV, as overlayfs without `redirect_dir` does (callers
 * such as `mv` then copy), unless `renameDir: 'copy-up'`.
 *
 * @example
 * ```ts
 * const view = await UnionFS.open([baseLayer, appLayer]);
 * await view.writeFile('/etc/motd', 'hello\n');
 * await view.rm('/var/cache', { recursive: true, force: true });
 * view.changes(); // [{ kind: 'modify', path: '/etc' }, { kind: 'modify', path: '/etc/motd' }, …]
 * const layer = await view.commit({ sourceDateEpoch: 0 });
 * ```
 */
export class UnionFS implements FsLike {
  readonly #view: View;

  /** A view over an already built stack (see {@link UnionFS.open} for the general case). */
  constructor(lowers: LowerStack = LowerStack.empty(), options: UnionFSOptions = {}) {
    this.#view = new View(lowers, {
      umask: options.umask ?? 0o022,
      renameDir: options.renameDir ?? 'exdev',
      hardlinks: options.hardlinks ?? 'break',
      uid: options.uid ?? 0,
      gid: options.gid ?? 0,
      now: options.now ?? Date.now,
    });
  }

  /**
   * Opens a view over `lowers`: `Layer`s, `LayerIndex`es, entry lists (OCI
   * whiteouts and opaque markers included) or a ready `LowerStack`. Each
   * `Layer` is read once and its index shared by every view that uses it.
   *
   * @throws {@link InvalidLayerError} when the layers cannot be stacked.
   * @example
   * ```ts
   * const view = await UnionFS.open([[{ path: '/hello', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 }]]);
   * await view.readFile('/hello', 'utf8'); // ''
   * ```
   */
  static async open(lowers: LowerStack | readonly LowerInput[] = [], options: UnionFSOptions = {}): Promise<UnionFS> {
    return new UnionFS(await stackOf(lowers, options.index), options);
  }

  /** The read-only stack under the upper (grows by one layer at each {@link UnionFS.commit}). */
  get lowers(): LowerStack {
    return this.#view.stack;
  }

  /** @internal The engine, for the modules of this package. */
  get view(): View {
    return this.#view;
  }

  async stat(path: PathLike): Promise<UnionStats> {
    return read.stat(this.#view, path, true);
  }

  async lstat(path: PathLike): Promise<UnionStats> {
    return read.stat(this.#view, path, false);
  }

  /** Checks `mode` (`F_OK`, `R_OK | W_OK`, `X_OK`…); the view acts as root. */
  async access(path: PathLike, mode: number = read.F_OK): Promise<void> {
    read.access(this.#view, path, mode);
  }

  readFile(path: PathLike, options?: { encoding?: null } | null): Promise<Buffer>;
  readFile(path: PathLike, options: BufferEncoding | { encoding: BufferEncoding }): Promise<string>;
  readFile(path: PathLike, options?: EncodingOption): Promise<Buffer | string>;
  async readFile(path: PathLike, options?: EncodingOption): Promise<Buffer | string> {
    const bytes = Buffer.from(await read.readFileBytes(this.#view, path));
    const encoding = encodingOf(options);
    return encoding ? bytes.toString(encoding) : bytes;
  }

  /** Writes a whole file (`flag` `'w'` by default; `'wx'`, `'a'`, `'r+'` as in Node). */
  async writeFile(path: PathLike, data: WriteData, options?: WriteFileOptions): Promise<void> {
    const opts = typeof options === 'string' ? { encoding: options } : options ?? {};
    const flags = write.parseFlags(opts.flag ?? 'w', 'open');
    const mode = parseMode(opts.mode ?? 0o666, 'open');
    const file = await write.openForWrite(this.#view, path, { ...flags, write: true }, mode);
    await write.writeChunks(this.#view, file, dataChunks(data, opts.encoding ?? 'utf8'), flags.append);
  }

  /** Appends to a file (`flag` `'a'` by default), creating it if needed. */
  async appendFile(path: PathLike, data: WriteData, options?: WriteFileOptions): Promise<void> {
    const opts = typeof options === 'string' ? { encoding: options } : options ?? {};
    await this.writeFile(path, data, { ...opts, flag: opts.flag ?? 'a' });
  }

  readdir(path: PathLike, options: { withFileTypes: true; recursive?: boolean }): Promise<UnionDirent[]>;
  readdir(path: PathLike, options?: { withFileTypes?: false; recursive?: boolean; encoding?: BufferEncoding } | BufferEncoding): Promise<string[]>;
  /** Names in byte order (Node's order is the file system's; this one is deterministic). */
  async readdir(
    path: PathLike,
    options?: { withFileTypes?: boolean; recursive?: boolean; encoding?: BufferEncoding } | BufferEncoding,
  ): Promise<string[] | UnionDirent[]> {
    const opts = typeof options === 'string' ? {} : options ?? {};
    if (!opts.withFileTypes && !opts.recursive) return read.readdirNames(this.#view, path);
    const entries = read.readdirEntries(this.#view, path, opts.recursive ?? false);
    return opts.withFileTypes ? read.direntsOf(entries) : entries.map((e) => e.name);
  }

  /** Creates a directory; with `recursive`, its missing parents too, returning the first one created. */
  async mkdir(path: PathLike, options?: number | string | { recursive?: boolean; mode?: number | string }): Promise<string | undefined> {
    const opts = typeof options === 'object' ? options : { mode: options };
    const mode = parseMode(opts.mode ?? 0o777, 'mkdir');
    if (opts.recursive) return write.mkdirRecursive(this.#view, path, mode);
    write.mkdir(this.#view, path, mode);
    return undefined;
  }

  /** Node's `rm`: `recursive` for directories, `force` to ignore a missing path. */
  async rm(path: PathLike, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    write.rm(this.#view, path, options);
  }

  async rmdir(path: PathLike, options: { recursive?: boolean } = {}): Promise<void> {
    if (options.recursive) write.rm(this.#view, path, { recursive: true });
    else write.rmdir(this.#view, path);
  }

  async unlink(path: PathLike): Promise<void> {
    write.unlink(this.#view, path);
  }

  /**
   * Renames a path. A directory that has lower content gives EXDEV (the
   * default, overlayfs without `redirect_dir`) or is copied up whole
   * (`renameDir: 'copy-up'`); a lower file is copied up and its old name
   * whited out.
   */
  async rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    rename(this.#view, oldPath, newPath);
  }

  /** Copies content and permission bits; `mode` `fs.constants.COPYFILE_EXCL` (1) fails if `dest` exists. */
  async copyFile(src: PathLike, dest: PathLike, mode = 0): Promise<void> {
    await write.copyFile(this.#view, src, dest, (mode & COPYFILE_EXCL) !== 0);
  }

  /** Creates a symlink (the `type` argument of Windows is accepted and ignored). */
  async symlink(target: string, path: PathLike, _type?: string | null): Promise<void> {
    write.symlink(this.#view, target, path);
  }

  async readlink(path: PathLike): Promise<string> {
    return read.readlink(this.#view, path);
  }

  /** The canonical path inside the view, symlinks resolved. */
  async realpath(path: PathLike): Promise<string> {
    return read.realpath(this.#view, path);
  }

  async link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    write.link(this.#view, existingPath, newPath);
  }

  async chmod(path: PathLike, mode: number | string): Promise<void> {
    write.chmod(this.#view, path, parseMode(mode, 'chmod'));
  }

  async chown(path: PathLike, uid: number, gid: number): Promise<void> {
    write.chown(this.#view, path, uid, gid, true);
  }

  async lchown(path: PathLike, uid: number, gid: number): Promise<void> {
    write.chown(this.#view, path, uid, gid, false);
  }

  /** Sets access and modification times (seconds, numeric strings or Dates). */
  async utimes(path: PathLike, atime: write.TimeLike, mtime: write.TimeLike): Promise<void> {
    write.utimes(this.#view, path, atime, mtime, true);
  }

  async lutimes(path: PathLike, atime: write.TimeLike, mtime: write.TimeLike): Promise<void> {
    write.utimes(this.#view, path, atime, mtime, false);
  }

  async truncate(path: PathLike, length = 0): Promise<void> {
    await write.truncate(this.#view, path, length);
  }

  /** A readable stream of a file (`start`/`end` inclusive, as in Node). Errors arrive as `'error'` events. */
  createReadStream(path: PathLike, options?: ReadStreamOptions | BufferEncoding): Readable {
    return createReadStream(this.#view, path, typeof options === 'string' ? { encoding: options } : options);
  }

  /** A writable stream into a file; the file is opened (created, truncated) before the first write. */
  createWriteStream(path: PathLike, options?: WriteStreamOptions | BufferEncoding): Writable & { bytesWritten: number; path: string } {
    return createWriteStream(this.#view, path, typeof options === 'string' ? { encoding: options } : options);
  }

  /**
   * Creates a FIFO or a device node (a layerkit extension: `fs.promises` has
   * no `mknod`). The mode is masked by the umask, as `mknod(2)` does.
   *
   * @example
   * ```ts
   * await view.mknod('/dev/null', { type: 'char', mode: 0o666, devmajor: 1, devminor: 3 });
   * ```
   */
  async mknod(path: PathLike, special: write.SpecialFile): Promise<void> {
    write.mknod(this.#view, path, special);
  }

  /**
   * Writes the merged view to a real directory with the layers module's
   * `extractLayer` (staged, then renamed into place: `dir` ends up complete or
   * untouched). Owners are set when running as root; device nodes are
   * created where permitted and listed in `skipped` otherwise.
   *
   * @example
   * ```ts
   * await view.materialize('/tmp/rootfs');
   * ```
   */
  materialize(dir: string, options?: MaterializeOptions): Promise<ExtractResult> {
    return materialize(this.#view, dir, options);
  }

  /**
   * Makes the view equal to `dir` with the fewest changes: the way back after
   * a process ran on a {@link UnionFS.materialize}d copy. Paths missing from
   * `dir` are removed, changed ones rewritten (contents compared, not just
   * times), the rest left alone, so {@link UnionFS.changes} lists exactly
   * what the process changed.
   *
   * @example
   * ```ts
   * await view.materialize(root);
   * await run('sh', ['-c', 'apk add curl'], { chroot: root });
   * await view.syncFromDirectory(root);
   * const layer = await view.commit();
   * ```
   */
  syncFromDirectory(dir: string, options?: SyncOptions): Promise<void> {
    return syncFromDirectory(this, dir, options);
  }

  /**
   * A view whose only lower layer is a snapshot of `dir` (see
   * {@link snapshotDirectory}): contents are read from disk when needed, so
   * the directory must stay as it is while the view lives.
   *
   * @example
   * ```ts
   * const view = await UnionFS.fromDirectory('./rootfs', { owner: { uid: 0, gid: 0 } });
   * ```
   */
  static async fromDirectory(dir: string, options: UnionFSOptions & SnapshotOptions = {}): Promise<UnionFS> {
    return new UnionFS(LowerStack.of([await snapshotDirectory(dir, options)]), options);
  }

  /** What `docker diff` prints for this view: changes of the upper against the lowers, by path. */
  changes(): UnionChange[] {
    return changes(this.#view);
  }

  /**
   * The upper as a layer (whiteouts `.wh.<name>`, opaque markers, hardlinks
   * among upper files), written by the layers module's deterministic writer.
   * The layer becomes the top lower and a fresh, empty upper starts, so the
   * view keeps going with the same content.
   *
   * @example
   * ```ts
   * await view.writeFile('/app/config.json', '{}');
   * const layer = await view.commit({ sourceDateEpoch: 1700000000 });
   * await layer.diffId();
   * view.changes(); // []
   * ```
   */
  async commit(options: CommitOptions = {}): Promise<Layer> {
    const entries = commitEntries(this.#view, { markerMtime: options.sourceDateEpoch ?? 0 });
    const layer = layerFromEntries(entries, options);
    const index = LayerIndex.fromEntries(
      options.sourceDateEpoch === undefined ? entries : entries.map((e) => (e.mtime > options.sourceDateEpoch! ? { ...e, mtime: options.sourceDateEpoch! } : e)),
      { position: this.#view.stack.depth },
    );
    rememberIndex(layer, index);
    this.#view.stack = this.#view.stack.withLayer(index);
    this.#view.upper = undefined;
    return layer;
  }

  /**
   * The merged view as entries in path order (files read lazily from the
   * view's current content), hardlinks as `hardlink` entries to the first
   * name. This is what a flattened export writes.
   */
  entries(): Entry[] {
    return linkedEntries(this.#view, read.walkView(this.#view));
  }
}
