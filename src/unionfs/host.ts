/**
 * Between a view and real directories: writing the merged view (or a subtree
 * of it) out with the layers module's safe extractor, reading a directory in
 * as a layer, and bringing a view up to date with a directory that a process
 * changed (a RUN step executed on a materialized root file system).
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Entry } from '../layers/entry.js';
import { extractLayer, type ExtractOptions, type ExtractResult } from '../layers/extract.js';
import { entriesFromDirectory, type LayerFromDirectoryOptions } from '../layers/from-directory.js';
import type { TarMember } from '../layers/tar/read.js';
import { entryOf } from './commit.js';
import { LayerIndex } from './layer-index.js';
import { walkView } from './ops-read.js';
import type { AnyNode } from './inode.js';
import { joinPath } from './paths.js';
import type { WriteData } from './data.js';
import type { SpecialFile } from './ops-write.js';
import type { DirRef, View } from './view.js';

/**
 * The `UnionFS` methods the functions below call. Declared here, not taken
 * from the class, because the class's file imports this one.
 */
export interface ViewFs {
  readonly view: View;
  lstat(path: string): Promise<{ isDirectory(): boolean }>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: WriteData, options: { flag: string; mode: number }): Promise<void>;
  mkdir(path: string, options: { mode: number }): Promise<string | undefined>;
  rm(path: string, options: { recursive?: boolean; force?: boolean }): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  mknod(path: string, file: SpecialFile): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  lutimes(path: string, atime: number, mtime: number): Promise<void>;
}

/** Entries as tar members, for the extractor (no tar is written). */
export async function* membersOf(entries: Iterable<Entry>): AsyncIterable<TarMember> {
  for (const entry of entries) {
    const body: AsyncIterable<Uint8Array> = entry.type === 'file' && entry.content ? entry.content.open() : (async function* () {})();
    yield { entry, name: entry.path.slice(1) || '.', body };
  }
}

/**
 * The entries of the subtree at `ref` (whose path is `base`), renamed so
 * that `base` becomes `/`, hardlinks inside it kept as `hardlink` entries.
 * The subtree's root itself comes first, as `/`.
 */
export function subtreeEntries(view: View, ref: DirRef | undefined, base: string, node: AnyNode): Entry[] {
  const rebase = (p: string) => (base === '/' ? p : p.slice(base.length) || '/');
  return [{ ...entryOf('/', node) }, ...(ref ? linkedEntries(view, walkView(view, ref), rebase) : [])];
}

/**
 * The entries of walked nodes (renamed by `rename`): a node with several
 * names is written at its first name, then as `hardlink` entries to it.
 */
export function linkedEntries(view: View, walk: Iterable<{ path: string; node: AnyNode }>, rename: (path: string) => string = (p) => p): Entry[] {
  const out: Entry[] = [];
  const first = new Map<AnyNode, string>();
  for (const { path, node } of walk) {
    const at = rename(path);
    if (node.type !== 'dir' && view.nlink(node) > 1) {
      const seen = first.get(node);
      if (seen !== undefined) {
        out.push({ ...entryOf(at, node), type: 'hardlink', size: 0, linkname: seen, content: undefined });
        continue;
      }
      first.set(node, at);
    }
    out.push(entryOf(at, node));
  }
  return out;
}

/**
 * Options of `UnionFS.materialize`: those of the layers module's `extractLayer`.
 *
 * @example
 * ```ts
 * await view.materialize('/tmp/rootfs', { devices: 'skip', owners: false });
 * ```
 */
export type MaterializeOptions = ExtractOptions;

/**
 * Writes the merged view to `dir` through `extractLayer`: staged beside the
 * target and renamed into place, so `dir` is either untouched or complete.
 * Into a missing or empty `dir` this is a copy of the view; onto an existing
 * tree, the view's objects replace what is at their paths.
 */
export function materialize(view: View, dir: string, options: MaterializeOptions = {}): Promise<ExtractResult> {
  const root = view.rootRef();
  return extractLayer(membersOf(subtreeEntries(view, root, '/', root.upper ?? root.lower!)), dir, options);
}

/**
 * Options of {@link snapshotDirectory}: those of the layers module's directory walk.
 *
 * @example
 * ```ts
 * await snapshotDirectory('./rootfs', { owner: { uid: 0, gid: 0 }, xattrs: false });
 * ```
 */
export type SnapshotOptions = Pick<LayerFromDirectoryOptions, 'owner' | 'xattrs'>;

/**
 * A directory as a lower layer. File contents stay on disk and are read when
 * needed, so the directory must not change while views use the snapshot.
 *
 * @example
 * ```ts
 * const base = await snapshotDirectory('./rootfs', { owner: { uid: 0, gid: 0 } });
 * const view = await UnionFS.open([base]);
 * ```
 */
export async function snapshotDirectory(dir: string, options: SnapshotOptions = {}): Promise<LayerIndex> {
  return LayerIndex.fromEntries(await entriesFromDirectory(dir, { ...options, includeRoot: true }));
}

/** Options of {@link writeEntriesIntoView}. */
export interface WriteIntoViewOptions {
  /** Keep the entries' uid/gid (default true); otherwise everything becomes `owner`. */
  preserveOwners?: boolean;
  /** Owner when owners are not preserved (default 0:0, as `docker cp` does). */
  owner?: { uid: number; gid: number };
}

/**
 * Writes entries (paths relative to `base`, `/` being `base` itself) into a
 * view with its own operations, so copy-up and whiteouts happen as for any
 * write: what is at a path of a different type is removed first, a directory
 * onto a directory keeps its content.
 */
export async function writeEntriesIntoView(fs: ViewFs, entries: Iterable<Entry>, base: string, options: WriteIntoViewOptions = {}): Promise<void> {
  const at = (p: string) => (p === '/' ? base : base === '/' ? p : base + p);
  const dirs: Entry[] = [];
  for (const entry of entries) {
    const path = at(entry.path);
    const existing = await fs.lstat(path).catch(() => undefined);
    if (existing && !(existing.isDirectory() && entry.type === 'dir')) await fs.rm(path, { recursive: true, force: true });
    switch (entry.type) {
      case 'dir':
        if (!existing?.isDirectory()) await fs.mkdir(path, { mode: 0o700 });
        dirs.push(entry);
        continue;
      case 'file':
        await fs.writeFile(path, entry.content ? entry.content.open() : '', { flag: 'wx', mode: 0o600 });
        break;
      case 'symlink':
        await fs.symlink(entry.linkname ?? '', path);
        break;
      case 'hardlink':
        await fs.link(at(entry.linkname!), path);
        continue;
      default:
        await fs.mknod(path, { type: entry.type, mode: entry.mode, devmajor: entry.devmajor ?? 0, devminor: entry.devminor ?? 0 });
    }
    await setMetadata(fs, path, entry, options);
  }
  for (const entry of dirs.reverse()) await setMetadata(fs, at(entry.path), entry, options);
}

async function setMetadata(fs: ViewFs, path: string, entry: Entry, options: WriteIntoViewOptions): Promise<void> {
  const owner = options.preserveOwners === false ? options.owner ?? { uid: 0, gid: 0 } : entry;
  await fs.lchown(path, owner.uid, owner.gid);
  if (entry.type !== 'symlink') await fs.chmod(path, entry.mode);
  await fs.lutimes(path, entry.mtime, entry.mtime);
}

/**
 * Options of `UnionFS.syncFromDirectory`.
 *
 * @example
 * ```ts
 * await view.syncFromDirectory(rootfs, { owner: { uid: 0, gid: 0 }, compare: 'content' });
 * ```
 */
export interface SyncOptions extends SnapshotOptions {
  /** Compare file contents (default) or trust size and mtime (faster; misses same-size edits within a second). */
  compare?: 'content' | 'metadata';
}

/**
 * Makes the view equal to `dir` (typically the view materialized, then
 * changed by a process) with the fewest writes: paths missing from `dir` are
 * removed, changed ones rewritten, unchanged ones left alone, so the upper
 * records exactly what the process did.
 */
export async function syncFromDirectory(fs: ViewFs, dir: string, options: SyncOptions = {}): Promise<void> {
  const view = fs.view;
  const wanted = await entriesFromDirectory(dir, { owner: options.owner, xattrs: options.xattrs ?? false, includeRoot: true });
  const byPath = new Map(wanted.map((e) => [e.path, e]));
  let removed: string | undefined;
  const stale: string[] = [];
  for (const { path } of walkView(view)) {
    if (removed !== undefined && path.startsWith(removed + '/')) continue;
    if (!byPath.has(path)) stale.push((removed = path));
  }
  for (const path of stale) await fs.rm(path, { recursive: true, force: true });

  const replace = new Set<string>();
  const touch: Entry[] = [];
  for (const entry of wanted) {
    const node = view.locateCanonical(entry.path)?.node;
    const verdict = node ? await compareObject(fs, node, entry, dir, options.compare ?? 'content') : 'replace';
    if (verdict === 'replace') replace.add(entry.path);
    else if (verdict === 'metadata') touch.push(entry);
  }
  // A rewritten file takes every other name of it along.
  for (const entry of wanted) if (entry.type === 'hardlink' && replace.has(entry.linkname!)) replace.add(entry.path);
  await writeEntriesIntoView(fs, wanted.filter((e) => replace.has(e.path)), '/');
  for (const entry of touch) await setMetadata(fs, entry.path, entry, {});
}

/** Whether the view's object at a path already is `entry`, differs only in metadata, or must be replaced. */
async function compareObject(
  fs: ViewFs,
  node: AnyNode,
  entry: Entry,
  dir: string,
  compare: 'content' | 'metadata',
): Promise<'same' | 'metadata' | 'replace'> {
  if (entry.type === 'hardlink') return fs.view.locateCanonical(entry.linkname!)?.node === node ? 'same' : 'replace';
  const current = entryOf('/', node);
  if (current.type !== entry.type) return 'replace';
  if (entry.type === 'symlink' && current.linkname !== entry.linkname) return 'replace';
  if ((entry.type === 'char' || entry.type === 'block') && (current.devmajor !== entry.devmajor || current.devminor !== entry.devminor)) {
    return 'replace';
  }
  if (entry.type === 'file') {
    if (current.size !== entry.size) return 'replace';
    if (compare === 'content' || current.mtime !== entry.mtime) {
      const host = joinPath(dir.replace(/\/+$/, ''), entry.path.slice(1));
      if (!(await fs.readFile(entry.path)).equals(await readFile(host))) return 'replace';
    }
  }
  const sameMeta =
    current.mode === entry.mode && current.uid === entry.uid && current.gid === entry.gid && (entry.type === 'dir' || current.mtime === entry.mtime);
  return sameMeta ? 'same' : 'metadata';
}
