/**
 * fast-check arbitraries for in-memory file trees and their evolution, for
 * property tests of diffs and layer application: files, directories,
 * symlinks, hardlinks, fifos and devices, random modes and owners, deep and
 * long paths, unicode names, type changes (file → dir, dir → file,
 * dir → symlink), same-size same-mtime rewrites, metadata-only changes.
 * @module
 */
import fc from 'fast-check';
import { bytesSource, type Entry } from '../layers/entry.js';
import { childPath } from '../layers/path.js';
import { Tree } from '../layers/tree.js';
import { nameArbitrary } from './layers.js';

/** Options of the tree arbitraries. */
export interface FileTreeArbitraryOptions {
  /** Most edit operations per tree (default 16). */
  maxOps?: number;
  /** Generate xattrs (default true). */
  xattrs?: boolean;
  /** Generate fifos and char/block devices (default true). */
  specialFiles?: boolean;
  /** Generate hardlinks (default true). */
  hardlinks?: boolean;
  /** Mode bits to keep (default `0o7777`); e.g. `0o777` for trees a non-root extraction must reproduce. */
  modeMask?: number;
  /** Owners to pick from (default `[0, 1, 1000]`); `[0]` when only root owners can be reproduced. */
  owners?: number[];
  /** Symlink modes are forced to 0777, as Linux reports them (default false). */
  linuxSymlinks?: boolean;
}

/** Metadata an edit carries. */
interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs: Record<string, Uint8Array> | undefined;
}

/**
 * One edit of a tree. Positions (`at`, `target`) are indices into the
 * current lists of directories or paths, taken modulo their length, so any
 * list of edits applies to any tree.
 */
export type TreeEdit =
  | { op: 'add'; at: number; name: string; kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block'; meta: Meta; bytes: Uint8Array; link: string }
  | { op: 'deep'; at: number; names: string[]; meta: Meta }
  | { op: 'link'; at: number; name: string; target: number }
  | { op: 'remove'; target: number }
  | { op: 'replace'; target: number; kind: 'file' | 'dir' | 'symlink'; meta: Meta; bytes: Uint8Array; link: string }
  | { op: 'rewrite'; target: number; seed: number }
  | { op: 'metadata'; target: number; field: 'mode' | 'uid' | 'gid' | 'mtime' | 'xattrs'; meta: Meta };

function metaArbitrary(options: FileTreeArbitraryOptions): fc.Arbitrary<Meta> {
  const owners = options.owners ?? [0, 1, 1000];
  const xattrs =
    options.xattrs === false
      ? fc.constant(undefined)
      : fc.option(fc.dictionary(fc.constantFrom('user.a', 'user.b', 'security.capability'), fc.uint8Array({ maxLength: 8 }), { maxKeys: 2 }), {
          nil: undefined,
          freq: 4,
        });
  return fc.record({
    mode: fc.oneof(fc.constantFrom(0o755, 0o644, 0o700), fc.integer({ min: 0, max: 0o7777 })).map((m) => m & (options.modeMask ?? 0o7777)),
    uid: fc.constantFrom(...owners),
    gid: fc.constantFrom(...owners),
    mtime: fc.constantFrom(0, 1, 1_700_000_000),
    xattrs: xattrs.map((x) => (x && Object.keys(x).length > 0 ? x : undefined)),
  });
}

const linkTarget = fc.constantFrom('a', '../a', '/etc/passwd', 'b/c', '.', 'ünï', 'x'.repeat(120));

/**
 * Edits of a tree (see {@link TreeEdit}): adds of every type, deep chains of
 * directories, hardlinks, removals, type-changing replacements, same-size
 * rewrites and metadata-only changes.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(fileTreeArbitrary(), treeEditsArbitrary(), (tree, edits) => {
 *   const next = applyTreeEdits(tree.clone(), edits);
 *   expect(await snapshotTree(applyEntries(tree, changesToEntries(diff(tree, next), next)))).toEqual(await snapshotTree(next));
 * }));
 * ```
 */
export function treeEditsArbitrary(options: FileTreeArbitraryOptions = {}): fc.Arbitrary<TreeEdit[]> {
  const meta = metaArbitrary(options);
  const name = nameArbitrary();
  const kinds = options.specialFiles === false ? (['file', 'file', 'dir', 'dir', 'symlink'] as const) : (['file', 'file', 'dir', 'dir', 'symlink', 'fifo', 'char', 'block'] as const);
  const bytes = fc.uint8Array({ maxLength: 64 });
  const index = fc.nat({ max: 1000 });
  const edits: Array<fc.Arbitrary<TreeEdit>> = [
    fc.record({ op: fc.constant('add' as const), at: index, name, kind: fc.constantFrom(...kinds), meta, bytes, link: linkTarget }),
    fc.record({ op: fc.constant('add' as const), at: index, name, kind: fc.constantFrom(...kinds), meta, bytes, link: linkTarget }),
    fc.record({ op: fc.constant('add' as const), at: index, name, kind: fc.constant('file' as const), meta, bytes, link: linkTarget }),
    fc.record({ op: fc.constant('remove' as const), target: index }),
    fc.record({ op: fc.constant('replace' as const), target: index, kind: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const), meta, bytes, link: linkTarget }),
    fc.record({ op: fc.constant('rewrite' as const), target: index, seed: fc.nat() }),
    fc.record({ op: fc.constant('metadata' as const), target: index, field: fc.constantFrom('mode' as const, 'uid' as const, 'gid' as const, 'mtime' as const, 'xattrs' as const), meta }),
  ];
  if (options.hardlinks !== false) edits.push(fc.record({ op: fc.constant('link' as const), at: index, name, target: index }));
  const deep = fc.record({ op: fc.constant('deep' as const), at: index, names: fc.array(name, { minLength: 2, maxLength: 12 }), meta });
  return fc.array(fc.oneof({ weight: 12, arbitrary: fc.oneof(...edits) }, { weight: 1, arbitrary: deep }), { maxLength: options.maxOps ?? 16 });
}

/**
 * Applies edits to `tree` in place (a model of what a build step does to a
 * file system: in-place writes and metadata changes reach every hardlink of
 * an inode; replacing a path breaks its links).
 *
 * @example
 * ```ts
 * fc.assert(fc.property(treeEditsArbitrary(), (edits) => {
 *   const tree = Tree.empty();
 *   applyTreeEdits(tree, edits, {});
 * }));
 * ```
 */
export function applyTreeEdits(tree: Tree, edits: readonly TreeEdit[], options: FileTreeArbitraryOptions = {}): Tree {
  for (const edit of edits) {
    const all = [...tree.entries()].map((e) => e.path).filter((p) => p !== '/');
    const dirs = ['/', ...all.filter((p) => tree.get(p)!.type === 'dir')];
    const pick = (list: string[], i: number) => list[i % list.length]!;
    switch (edit.op) {
      case 'add':
        tree.put(makeEntry(childPath(pick(dirs, edit.at), edit.name), edit.kind, edit.meta, edit.bytes, edit.link, options));
        break;
      case 'deep': {
        let at = pick(dirs, edit.at);
        for (const name of edit.names) {
          at = childPath(at, name);
          tree.put(makeEntry(at, 'dir', edit.meta, new Uint8Array(0), '', options));
        }
        break;
      }
      case 'link': {
        const targets = all.filter((p) => tree.get(p)!.type !== 'dir');
        if (targets.length === 0) break;
        const path = childPath(pick(dirs, edit.at), edit.name);
        const target = pick(targets, edit.target);
        if (path === target || target.startsWith(path + '/')) break;
        tree.link(path, target);
        break;
      }
      case 'remove':
        if (all.length > 0) tree.remove(pick(all, edit.target));
        break;
      case 'replace':
        if (all.length > 0) tree.put(makeEntry(pick(all, edit.target), edit.kind, edit.meta, edit.bytes, edit.link, options));
        break;
      case 'rewrite': {
        const files = all.filter((p) => tree.get(p)!.type === 'file' && tree.get(p)!.size > 0);
        if (files.length === 0) break;
        const path = pick(files, edit.target);
        const old = tree.get(path)!;
        // Same size, same mtime, different bytes: what a size+mtime comparison misses.
        const bytes = new Uint8Array(old.size);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (edit.seed + i * 31) & 0xff;
        bytes[edit.seed % bytes.length] = (bytes[edit.seed % bytes.length]! + 1) & 0xff;
        rewriteInode(tree, path, { content: bytesSource(bytes) });
        break;
      }
      case 'metadata': {
        if (all.length === 0) break;
        const path = pick(all, edit.target);
        const entry = tree.get(path)!;
        if (entry.type === 'symlink' && options.linuxSymlinks && edit.field === 'mode') break;
        const patch: Partial<Entry> = { [edit.field]: edit.meta[edit.field] };
        if (edit.field === 'xattrs' && edit.meta.xattrs === undefined) patch.xattrs = undefined;
        rewriteInode(tree, path, patch);
        break;
      }
    }
  }
  return tree;
}

function makeEntry(path: string, kind: Entry['type'], meta: Meta, bytes: Uint8Array, link: string, options: FileTreeArbitraryOptions): Entry {
  const entry: Entry = { path, type: kind, mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: meta.mtime, size: 0 };
  if (meta.xattrs) entry.xattrs = meta.xattrs;
  if (kind === 'file' && bytes.length > 0) {
    entry.size = bytes.length;
    entry.content = bytesSource(bytes);
  }
  if (kind === 'symlink') {
    entry.linkname = link;
    if (options.linuxSymlinks) entry.mode = 0o777;
  }
  if (kind === 'char' || kind === 'block') {
    entry.devmajor = meta.mode & 0xff;
    entry.devminor = meta.uid & 0xff;
  }
  return entry;
}

/** Changes an inode in place: every hardlink of `path` sees the new metadata. */
function rewriteInode(tree: Tree, path: string, patch: Partial<Entry>): void {
  const links = tree.hardlinks(path);
  const next: Entry = { ...tree.get(path)!, ...patch };
  if (next.content) next.size = next.content.size;
  if (next.xattrs === undefined) delete next.xattrs;
  tree.put({ ...next, path: links[0]! });
  for (const other of links.slice(1)) tree.link(other, links[0]!);
}

/**
 * A random tree built by edits from an empty one.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(fileTreeArbitrary(), (tree) => diff(tree, tree).length === 0));
 * ```
 */
export function fileTreeArbitrary(options: FileTreeArbitraryOptions = {}): fc.Arbitrary<Tree> {
  return treeEvolutionArbitrary(1, options).map(([tree]) => tree!);
}

/**
 * `count` trees, the first built from empty and each next one an edit of the
 * one before: a chain of build steps.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(treeEvolutionArbitrary(2), ([a, b]) => { … }));
 * ```
 */
export function treeEvolutionArbitrary(count: number, options: FileTreeArbitraryOptions = {}): fc.Arbitrary<Tree[]> {
  return fc.array(treeEditsArbitrary(options), { minLength: count, maxLength: count }).map((steps) => {
    const trees: Tree[] = [];
    let tree = Tree.empty();
    for (const edits of steps) {
      tree = applyTreeEdits(tree.clone(), edits, options);
      trees.push(tree);
    }
    // Counterexamples print as the trees' entries rather than as `{}`.
    Object.defineProperty(trees, fc.toStringMethod, { value: () => describeTrees(trees) });
    return trees;
  });
}

/**
 * One path of a {@link snapshotTree}: the entry's metadata as plain data
 * (size 0 but for files), with a device as `major:minor` and bytes as hex.
 */
export interface TreeSnapshotRow extends Pick<Entry, 'path' | 'type' | 'mode' | 'uid' | 'gid' | 'mtime' | 'size' | 'linkname'> {
  device?: string;
  xattrs?: Record<string, string>;
  /** Content as hex. */
  content?: string;
  /** Other paths sharing the inode, when there are any. */
  links?: string[];
}

/**
 * A plain, comparable description of a tree: one row per path in walk order,
 * with contents read and hex-encoded and hardlink groups spelled out. Two
 * trees are equivalent when their snapshots are deep-equal.
 *
 * @example
 * ```ts
 * expect(await snapshotTree(apply(a, layer))).toEqual(await snapshotTree(b));
 * ```
 */
export async function snapshotTree(tree: Tree): Promise<TreeSnapshotRow[]> {
  const rows: TreeSnapshotRow[] = [];
  for (const listed of tree.entries()) {
    const e = tree.get(listed.path)!;
    const row: TreeSnapshotRow = { path: e.path, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.type === 'file' ? e.size : 0 };
    if (e.type === 'symlink') row.linkname = e.linkname!;
    if (e.type === 'char' || e.type === 'block') row.device = `${e.devmajor ?? 0}:${e.devminor ?? 0}`;
    if (e.xattrs && Object.keys(e.xattrs).length > 0) {
      row.xattrs = Object.fromEntries(Object.entries(e.xattrs).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, Buffer.from(v).toString('hex')]));
    }
    if (e.type === 'file' && e.content && e.size > 0) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of e.content.open()) chunks.push(chunk);
      row.content = Buffer.concat(chunks).toString('hex');
    }
    const links = tree.hardlinks(e.path);
    if (links.length > 1) row.links = links.filter((p) => p !== e.path);
    rows.push(row);
  }
  return rows;
}

function describeTrees(trees: Tree[]): string {
  const show = (e: Entry) => {
    const extra = e.type === 'file' ? ` ${e.size}B` : e.linkname !== undefined ? ` -> ${e.linkname}` : '';
    return `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} t${e.mtime}${extra}${e.xattrs ? ' x' + Object.keys(e.xattrs).join(',') : ''}`;
  };
  return trees.map((t, i) => `tree ${i}:\n  ${[...t.entries()].map(show).join('\n  ')}`).join('\n');
}
