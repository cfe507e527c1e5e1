/**
 * An in-memory file tree of {@link Entry} values: the state of an image file
 * system, as diffs compare it and layers are applied to it.
 *
 * Paths are normalized absolute POSIX paths; the root `/` always exists and is
 * a directory. Children are kept in UTF-8 byte order of their names, so every
 * walk is deterministic. Hardlinked paths share one inode record: they report
 * the same metadata and content, and a walk emits the first of them (in walk
 * order) in full and the others as `hardlink` entries pointing to it, the way
 * a layer tar stores them.
 * @module
 */
import type { Digest } from '../digest.js';
import { contentDigest, knownContentDigest } from './changes/content-digest.js';
import { LayerFormatError } from './changes/errors.js';
import { comparePaths, isCleanPath, parentPath, type Entry } from './entry.js';
import { DuplicatePathError, InvalidEntryError, UnsafePathError } from './errors.js';
import { baseName, compareNames, normalizePath } from './path.js';

/** @internal One path in a tree. */
export interface TreeNode {
  /** The last component of the path (`''` for the root). */
  name: string;
  /** The entry as stored: its own path, never of type `hardlink`. Replaced, never mutated. */
  entry: Entry;
  /** Children by name, for directories; `null` otherwise. */
  children: Map<string, TreeNode> | null;
  /** Children in name order, computed on demand and dropped on change. */
  sorted: TreeNode[] | null;
  /** Shared by all paths that are hardlinks of one another; `null` for a path with no links. */
  inode: Inode | null;
  /** sha256 of the content, once known (a cache of {@link contentDigest} kept where diff reads it). */
  digest: Digest | undefined;
}

/** @internal The link group of hardlinked paths. */
export interface Inode {
  links: Set<TreeNode>;
}

/**
 * The metadata of a directory a tree creates because an entry below it needs
 * a parent that no entry described: mode 0755, owner 0:0, mtime 0.
 *
 * @example
 * ```ts
 * Tree.fromEntries([{ ...IMPLICIT_DIRECTORY, path: '/a/b', mode: 0o700 }]).get('/a')?.mode; // 0o755
 * ```
 */
export const IMPLICIT_DIRECTORY: Readonly<Omit<Entry, 'path'>> = Object.freeze({
  type: 'dir',
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
});

function implicitDirectory(path: string): Entry {
  return { ...IMPLICIT_DIRECTORY, path };
}

function newNode(entry: Entry): TreeNode {
  const digest = entry.content ? knownContentDigest(entry.content) : undefined;
  return { name: baseName(entry.path), entry, children: entry.type === 'dir' ? new Map() : null, sorted: null, inode: null, digest };
}

/**
 * A mutable in-memory file tree.
 *
 * @example
 * ```ts
 * const tree = Tree.fromEntries([
 *   { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
 *   { path: '/etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3, content: bytesSource(new TextEncoder().encode('box')) },
 * ]);
 * tree.get('/etc/hostname')?.size; // 3
 * [...tree.entries()].map((e) => e.path); // ['/', '/etc', '/etc/hostname']
 * ```
 */
export class Tree {
  readonly #root: TreeNode;
  readonly #index = new Map<string, TreeNode>();

  private constructor(root: Entry) {
    this.#root = newNode(root);
    this.#index.set('/', this.#root);
  }

  /**
   * A tree holding only the root directory (by default with the
   * {@link IMPLICIT_DIRECTORY} metadata).
   *
   * @example
   * ```ts
   * Tree.empty().size; // 1
   * ```
   */
  static empty(root: Partial<Omit<Entry, 'path' | 'type'>> = {}): Tree {
    return new Tree({ ...IMPLICIT_DIRECTORY, ...root, path: '/', type: 'dir' });
  }

  /**
   * Builds a tree from entries in any order. Missing parents are created
   * with {@link IMPLICIT_DIRECTORY} metadata; `hardlink` entries are linked
   * after every other entry is in place; an entry for `/` sets the root's
   * metadata.
   *
   * @throws {@link LayerFormatError} on duplicate paths, whiteout names, an
   *   entry below a non-directory or a hardlink to a missing path;
   *   {@link UnsafePathError} for an entry below a symlink.
   * @example
   * ```ts
   * const t = Tree.fromEntries([{ path: '/a/b', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 0, size: 0 }]);
   * t.get('/a')?.type; // 'dir' (implicit)
   * ```
   */
  static fromEntries(entries: Iterable<Entry>): Tree {
    const list = [...entries].map((e) => (isCleanPath(e.path) ? e : { ...e, path: normalizePath(e.path) }));
    let sorted = true;
    for (let i = 1; i < list.length && sorted; i++) sorted = comparePaths(list[i - 1]!.path, list[i]!.path) < 0;
    if (!sorted) list.sort((a, b) => comparePaths(a.path, b.path));
    const tree = Tree.empty();
    const links: Entry[] = [];
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (i > 0 && list[i - 1]!.path === entry.path) throw new DuplicatePathError(entry.path);
      if (entry.type === 'hardlink') links.push(entry);
      else tree.put(entry);
    }
    // A link may name another link listed after it (a chain); link each one to where its chain ends.
    const linkTarget = new Map(links.map((link) => [link.path, link.linkname ?? '']));
    for (const link of links) {
      let target = link.linkname ?? '';
      for (let hops = 0; linkTarget.has(target) && hops <= links.length; hops++) target = linkTarget.get(target)!;
      if (linkTarget.has(target)) throw new LayerFormatError('HARDLINK_TARGET_MISSING', link.path, 'hardlinks form a cycle with no file');
      tree.link(link.path, target);
    }
    return tree;
  }

  /** Number of paths, the root included. */
  get size(): number {
    return this.#index.size;
  }

  /**
   * The entry at `path` as `lstat` would describe it: a hardlinked path
   * reports its inode's type (never `hardlink`); see {@link Tree.hardlinks}.
   *
   * @example
   * ```ts
   * tree.get('/etc/passwd')?.mode;
   * ```
   */
  get(path: string): Entry | undefined {
    return this.#index.get(cleanLookup(path))?.entry;
  }

  /** True when `path` exists (symlinks are not followed). */
  has(path: string): boolean {
    return this.get(path) !== undefined;
  }

  /**
   * Names of the children of a directory in UTF-8 byte order, or `undefined`
   * when `path` is missing or not a directory.
   *
   * @example
   * ```ts
   * tree.readdir('/'); // ['bin', 'etc', …]
   * ```
   */
  readdir(path: string): string[] | undefined {
    const node = this.#index.get(cleanLookup(path));
    return node?.children ? sortedChildren(node).map((child) => baseName(child.entry.path)) : undefined;
  }

  /**
   * Every path that shares `path`'s inode, itself included, in walk order;
   * `[path]` when it has no other links, `[]` when it does not exist.
   *
   * @example
   * ```ts
   * tree.hardlinks('/usr/bin/perl5.36'); // ['/usr/bin/perl', '/usr/bin/perl5.36']
   * ```
   */
  hardlinks(path: string): string[] {
    const node = this.#index.get(cleanLookup(path));
    if (!node) return [];
    if (!node.inode || node.inode.links.size < 2) return [node.entry.path];
    return [...node.inode.links].map((n) => n.entry.path).sort(comparePaths);
  }

  /**
   * All entries, depth first, parents before children, siblings in UTF-8
   * byte order: the root first, then as a layer tar lists them. The first
   * path of a hardlink group comes out in full and later ones as `hardlink`
   * entries naming it.
   *
   * @example
   * ```ts
   * for (const entry of tree.entries()) console.log(entry.type, entry.path);
   * ```
   */
  *entries(): Generator<Entry> {
    const firstOfGroup = new Map<Inode, string>();
    const stack: TreeNode[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const inode = node.inode;
      if (inode && inode.links.size > 1) {
        const first = firstOfGroup.get(inode);
        if (first === undefined) {
          firstOfGroup.set(inode, node.entry.path);
          yield node.entry;
        } else {
          const { content: _content, ...rest } = node.entry;
          yield { ...rest, type: 'hardlink', size: 0, linkname: first };
        }
      } else {
        yield node.entry;
      }
      if (node.children) {
        const kids = sortedChildren(node);
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
      }
    }
  }

  [Symbol.iterator](): Generator<Entry> {
    return this.entries();
  }

  /**
   * A deep copy (entries and content sources are shared: they are immutable).
   *
   * @example
   * ```ts
   * const next = tree.clone();
   * next.remove('/tmp'); // tree is unchanged
   * ```
   */
  clone(): Tree {
    const copy = new Tree(this.#root.entry);
    const inodes = new Map<Inode, Inode>();
    const copyChildren = (from: TreeNode, to: TreeNode): void => {
      for (const [name, child] of from.children!) {
        const node: TreeNode = { name, entry: child.entry, children: child.children ? new Map() : null, sorted: null, inode: null, digest: child.digest };
        if (child.inode) {
          let inode = inodes.get(child.inode);
          if (!inode) inodes.set(child.inode, (inode = { links: new Set() }));
          inode.links.add(node);
          node.inode = inode;
        }
        to.children!.set(name, node);
        copy.#index.set(child.entry.path, node);
        if (child.children) copyChildren(child, node);
      }
    };
    copyChildren(this.#root, copy.#root);
    return copy;
  }

  /**
   * Adds `entry`, or replaces what is at its path the way a layer does (OCI
   * layer.md "Changeset over existing files"): directory onto directory
   * replaces the directory's attributes and keeps its children; anything else
   * removes the old path (with its subtree) and creates the new one. Missing
   * parents are created with {@link IMPLICIT_DIRECTORY} metadata. A
   * `hardlink` entry is handed to {@link Tree.link}.
   *
   * @throws {@link UnsafePathError} when an ancestor is a symlink;
   *   {@link LayerFormatError} when an ancestor is not a directory, the name
   *   starts with `.wh.`, or the entry contradicts itself.
   * @example
   * ```ts
   * tree.put({ path: '/etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 });
   * ```
   */
  put(entry: Entry): void {
    const path = isCleanPath(entry.path) ? entry.path : normalizePath(entry.path);
    if (path !== entry.path) entry = { ...entry, path };
    if (entry.type === 'hardlink') return this.link(path, entry.linkname ?? '');
    checkEntry(entry);
    if (path === '/') {
      if (entry.type !== 'dir') throw new InvalidEntryError(path, 'the root must be a directory');
      this.#root.entry = entry;
      return;
    }
    const parent = this.#parentFor(path);
    const name = baseName(path);
    const existing = parent.children!.get(name);
    if (existing && existing.entry.type === 'dir' && entry.type === 'dir') {
      existing.entry = entry;
      return;
    }
    if (existing) this.#detach(parent, existing);

    this.#attach(parent, name, newNode(entry));
  }

  /**
   * Makes `path` a hardlink of `target` (replacing what was at `path`).
   *
   * @throws {@link LayerFormatError} `HARDLINK_TARGET_MISSING` when `target`
   *   does not exist or is a directory.
   * @example
   * ```ts
   * tree.link('/usr/bin/perl5.36', '/usr/bin/perl');
   * ```
   */
  link(path: string, target: string): void {
    path = cleanLookup(path);
    const source = this.#index.get(target) ?? this.#index.get(cleanLookup(target));
    if (!source) throw new LayerFormatError('HARDLINK_TARGET_MISSING', path, `hardlink target ${JSON.stringify(target)} does not exist`);
    this.linkNode(path, source);
  }

  /** @internal Links `path` to the inode of `source`, which may since have left the tree. */
  linkNode(path: string, source: TreeNode): void {
    if (source.entry.type === 'dir') throw new LayerFormatError('HARDLINK_TARGET_MISSING', path, `hardlink target ${source.entry.path} is a directory`);
    if (path === '/') throw new InvalidEntryError(path, 'the root cannot be a hardlink');
    if (source === this.#index.get(path)) return;
    let inode = source.inode;
    if (!inode) {
      inode = source.inode = { links: new Set() };
      if (this.#index.get(source.entry.path) === source) inode.links.add(source);
    }
    const parent = this.#parentFor(path);
    const name = baseName(path);
    const existing = parent.children!.get(name);
    if (existing) this.#detach(parent, existing);
    const node: TreeNode = { name, entry: { ...source.entry, path }, children: null, sorted: null, inode, digest: source.digest };
    inode.links.add(node);
    this.#attach(parent, name, node);
  }

  /**
   * Removes `path` and everything below it. Returns false when nothing was
   * there. The root cannot be removed (its children can).
   *
   * @example
   * ```ts
   * tree.remove('/var/cache'); // true
   * ```
   */
  remove(path: string): boolean {
    path = cleanLookup(path);
    const node = this.#index.get(path);
    if (!node || path === '/') return false;
    this.#detach(this.#index.get(parentPath(path))!, node);
    return true;
  }

  /**
   * Reads every file's content once and remembers its sha256, so that
   * {@link diff} compares contents by digest rather than by identity of the
   * content source. Sources already hashed are not read again.
   *
   * @example
   * ```ts
   * await Promise.all([a.hashContents(), b.hashContents()]);
   * diff(a, b); // exact content comparison
   * ```
   */
  async hashContents(): Promise<void> {
    for (const node of this.#index.values()) {
      const content = node.entry.content;
      if (node.entry.type === 'file' && content && content.size > 0) node.digest ??= await contentDigest(content);
    }
  }

  /** @internal The node at a normalized path. */
  node(path: string): TreeNode | undefined {
    return this.#index.get(path);
  }

  /** @internal The root node. */
  get rootNode(): TreeNode {
    return this.#root;
  }

  /** The parent directory node for `path`, creating implicit directories; checks every ancestor. */
  #parentFor(path: string): TreeNode {
    const parentAt = parentPath(path);
    const direct = this.#index.get(parentAt);
    if (direct?.children) return direct;
    let node = this.#root;
    for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) {
      const at = path.slice(0, i);
      let next = this.#index.get(at);
      if (!next) {
        next = newNode(implicitDirectory(at));
        this.#attach(node, baseName(at), next);
      } else if (next.entry.type === 'symlink') {
        throw new UnsafePathError(path, `ancestor ${at} is a symlink`);
      } else if (!next.children) {
        throw new LayerFormatError('NOT_A_DIRECTORY', path, `${at} is a ${next.entry.type}, not a directory`);
      }
      node = next;
    }
    return node;
  }

  #attach(parent: TreeNode, name: string, node: TreeNode): void {
    parent.children!.set(name, node);
    parent.sorted = null;
    this.#index.set(node.entry.path, node);
  }

  #detach(parent: TreeNode, node: TreeNode): void {
    parent.children!.delete(baseName(node.entry.path));
    parent.sorted = null;
    const stack = [node];
    while (stack.length > 0) {
      const gone = stack.pop()!;
      this.#index.delete(gone.entry.path);
      gone.inode?.links.delete(gone);
      if (gone.children) for (const child of gone.children.values()) stack.push(child);
    }
  }
}

/** @internal Children of a directory node in name order (cached until the directory changes). */
export function sortedChildren(node: TreeNode): TreeNode[] {
  let sorted = node.sorted;
  if (!sorted) {
    const names = [...node.children!.keys()].sort(compareNames);
    sorted = node.sorted = names.map((name) => node.children!.get(name)!);
  }
  return sorted;
}

function cleanLookup(path: string): string {
  return isCleanPath(path) ? path : normalizePath(path);
}

function checkEntry(entry: Entry): void {
  const name = baseName(entry.path);
  if (name.startsWith('.wh.')) {
    throw new LayerFormatError('INVALID_WHITEOUT', entry.path, 'names starting with .wh. are whiteouts and cannot exist in a tree');
  }
  if (entry.type === 'file' && (entry.content?.size ?? 0) !== entry.size) {
    throw new InvalidEntryError(entry.path, `size ${entry.size} but content of ${entry.content?.size ?? 0} bytes`);
  }
  if (entry.type === 'symlink' && !entry.linkname) {
    throw new InvalidEntryError(entry.path, 'symlink without a target');
  }
}

export { contentDigest, knownContentDigest, rememberContentDigest } from './changes/content-digest.js';
