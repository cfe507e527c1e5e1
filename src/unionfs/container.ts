/**
 * Docker's container notion without a daemon: an image's layers (shared,
 * read-only) plus a writable layer of its own, with `docker cp`, `docker
 * diff`, `docker commit` and `docker export`.
 * @module
 */
import { lstat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Entry } from '../layers/entry.js';
import { entriesFromDirectory } from '../layers/from-directory.js';
import type { Layer } from '../layers/layer.js';
import { writeTar } from '../layers/tar/write.js';
import { extractLayer, type ExtractResult } from '../layers/extract.js';
import type { UnionChange } from './commit.js';
import { fsError } from './errors.js';
import { membersOf, subtreeEntries, writeEntriesIntoView } from './host.js';
import type { LowerStack } from './lower-stack.js';
import { parseUserPath } from './paths.js';
import { stackOf, UnionFS, type CommitOptions, type LowerInput, type UnionFSOptions } from './union.js';

/**
 * Options of `docker cp`-like copies.
 *
 * @example
 * ```ts
 * await container.copyIn('./data', '/srv/data', { archive: true }); // keep uid/gid, as `docker cp -a`
 * ```
 */
export interface CopyOptions {
  /** `docker cp -a`: keep uid/gid (default: copies into a container are owned by 0:0, copies out by the caller). */
  archive?: boolean;
}

/**
 * What {@link Container.commit} returns.
 *
 * @example
 * ```ts
 * const { layer, changes } = await container.commit({ changes: { Env: ['MODE=prod'] } });
 * ```
 */
export interface ContainerCommit<ConfigChanges> {
  /** The container's writable layer as a layer (it is now a read-only layer of the container too). */
  layer: Layer;
  /** The configuration changes given to `commit`, passed through for whoever builds the image. */
  changes: ConfigChanges | undefined;
}

/**
 * A container: the layers of an image under a writable layer of its own.
 * Containers made from the same layers share them and their indexes (each
 * `Layer` is indexed once per process), and never see each other's writes.
 *
 * @example
 * ```ts
 * const layers = [baseLayer, appLayer];
 * const a = await Container.create(layers);
 * const b = await Container.create(layers);
 * await a.fs.writeFile('/etc/motd', 'a\n');
 * await b.fs.readFile('/etc/motd', 'utf8'); // the image's motd
 * await a.copyIn('./config.json', '/app/');
 * a.diff(); // [{ kind: 'modify', path: '/app' }, { kind: 'add', path: '/app/config.json' }, …]
 * const { layer } = await a.commit({ changes: { Cmd: ['node', 'server.js'] } });
 * ```
 */
export class Container {
  /** The container's file system. */
  readonly fs: UnionFS;

  private constructor(fs: UnionFS) {
    this.fs = fs;
  }

  /** A container over an image's layers (bottom first) or a ready stack. */
  static async create(image: LowerStack | readonly LowerInput[], options: UnionFSOptions = {}): Promise<Container> {
    return new Container(new UnionFS(await stackOf(image, options.index), options));
  }

  /** `docker diff`: what the container changed, by path (`add`, `modify`, `delete`). */
  diff(): UnionChange[] {
    return this.fs.changes();
  }

  /**
   * `docker commit`: the writable layer as a layer, which then becomes a
   * read-only layer of this container (a fresh writable layer starts).
   * Turning it into an image (config, history) is the image module's job;
   * `changes` (Dockerfile-style config changes) are handed back untouched.
   */
  async commit<ConfigChanges = Record<string, unknown>>(
    options: CommitOptions & { changes?: ConfigChanges } = {},
  ): Promise<ContainerCommit<ConfigChanges>> {
    const { changes, ...layerOptions } = options;
    return { layer: await this.fs.commit(layerOptions), changes };
  }

  /**
   * `docker export`: the flattened file system as an uncompressed tar
   * (deterministic: the layers module's writer; `sourceDateEpoch` clamps times).
   */
  export(options: { sourceDateEpoch?: number } = {}): AsyncIterable<Uint8Array> {
    return writeTar(this.fs.entries(), options);
  }

  /**
   * `docker cp HOST CONTAINER`. A file goes to `containerPath`, or into it
   * when it is a directory; a directory becomes `containerPath` when that
   * does not exist, or goes into it (its content only when `hostPath` ends
   * in `/.`). Symlinks are copied as symlinks; `containerPath` resolves
   * inside the container.
   */
  async copyIn(hostPath: string, containerPath: string, options: CopyOptions = {}): Promise<void> {
    const contentsOnly = /\/\.$/.test(hostPath);
    const source = await lstat(hostPath);
    const dest = await this.#lookup(containerPath);
    const trailing = containerPath.endsWith('/');
    let base: string;
    if (dest?.isDirectory) base = contentsOnly ? dest.path : join(dest.path, basename(hostPath.replace(/\/+\.?$/, '')));
    else if (dest) {
      if (source.isDirectory()) throw fsError('ENOTDIR', 'copy', containerPath);
      base = dest.path;
    } else {
      if (trailing && !source.isDirectory()) throw fsError('ENOENT', 'copy', containerPath);
      base = containerPath.replace(/\/+$/, '') || '/';
    }
    // A file (or symlink) comes back as the single entry `/`.
    const entries = await entriesFromDirectory(hostPath, { includeRoot: true });
    const write = { preserveOwners: options.archive ?? false, owner: { uid: 0, gid: 0 } };
    await writeEntriesIntoView(this.fs, entries, base, write);
  }

  /**
   * `docker cp CONTAINER HOST`, with the same rules as {@link copyIn} the
   * other way. Written with the layers module's `extractLayer` (staged, then
   * moved into place).
   */
  async copyOut(containerPath: string, hostPath: string, options: CopyOptions = {}): Promise<ExtractResult> {
    const contentsOnly = /\/\.$/.test(containerPath);
    const view = this.fs.view;
    const loc = view.resolve(parseUserPath(containerPath, 'copy'), { follow: !contentsOnly && containerPath.endsWith('/'), syscall: 'copy' });
    if (!loc.node) throw fsError('ENOENT', 'copy', containerPath);
    const entries = subtreeEntries(view, loc.dir, loc.path, loc.node);
    const extract = { owners: options.archive ?? false };
    const host = await lstat(hostPath).catch(() => undefined);
    if (loc.node.type === 'dir') {
      if (host && !host.isDirectory()) throw fsError('ENOTDIR', 'copy', hostPath);
      const target = host && !contentsOnly ? join(hostPath, loc.path === '/' ? '' : basename(loc.path)) : hostPath;
      return extractLayer(membersOf(entries), target, extract);
    }
    const [file] = entries as [Entry];
    if (host?.isDirectory()) return extractLayer(membersOf([{ ...file, path: '/' + basename(loc.path) }]), hostPath, extract);
    if (hostPath.endsWith('/')) throw fsError('ENOENT', 'copy', hostPath);
    return extractLayer(membersOf([{ ...file, path: '/' + basename(hostPath) }]), dirname(hostPath), extract);
  }

  async #lookup(path: string): Promise<{ path: string; isDirectory: boolean } | undefined> {
    try {
      const loc = this.fs.view.resolve(parseUserPath(path, 'copy'), { follow: true, syscall: 'copy' });
      return loc.node ? { path: loc.path, isDirectory: loc.node.type === 'dir' } : undefined;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
