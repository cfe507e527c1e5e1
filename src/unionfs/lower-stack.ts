/**
 * The merged index of a stack of read-only layers: the flattened tree every
 * lookup reads, so a lookup costs the same over 1 or 100 layers. Stacks are
 * persistent: adding a layer copies only the directories it touches, and a
 * stack is built once per distinct sequence of layer indexes, so containers
 * from one image (and stacks that share a prefix) share everything.
 * @module
 */
import { InvalidLayerError } from './errors.js';
import { allocIno, type LeafInode, type LowerDir, type LowerNode } from './inode.js';
import { metaFromEntry, type LayerIndex } from './layer-index.js';
import { baseName, parentPath } from './paths.js';

/**
 * Link facts of a lower inode that has more than one name.
 *
 * @example
 * ```ts
 * // a layer with /usr/bin/perl and /usr/bin/perl5.36 as one file:
 * // { ever: 2, paths: ['/usr/bin/perl', '/usr/bin/perl5.36'] }
 * ```
 */
export interface LowerLinks {
  /** Names it was given by the layers, counting those later deleted (what a per-layer directory would report). */
  readonly ever: number;
  /** Its names that are visible in the merged stack. */
  readonly paths: readonly string[];
}

/**
 * An ordered stack of read-only layers (bottom first) with its merged tree.
 *
 * @example
 * ```ts
 * const base = LowerStack.empty().withLayer(LayerIndex.fromEntries(baseEntries));
 * const app = base.withLayer(LayerIndex.fromEntries(appEntries)); // shares base's tree
 * app.lookup('/etc/os-release')?.type; // 'file'
 * ```
 */
export class LowerStack {
  /** The layer indexes, bottom first. */
  readonly layers: readonly LayerIndex[];
  /** The flattened tree. Frozen by convention: nothing may modify it. @internal */
  readonly root: LowerDir;
  /** Inodes with more than one name. @internal */
  readonly links: ReadonlyMap<LeafInode, LowerLinks>;
  /** Directories (paths) that contain, at any depth, a visible name of a multiply-linked inode. @internal */
  readonly linkDirs: ReadonlySet<string>;
  readonly #children = new WeakMap<LayerIndex, LowerStack>();

  /** @internal Use {@link LowerStack.of} or {@link LowerStack.withLayer}. */
  constructor(
    layers: readonly LayerIndex[],
    root: LowerDir,
    links: ReadonlyMap<LeafInode, LowerLinks>,
    linkDirs: ReadonlySet<string>,
  ) {
    this.layers = layers;
    this.root = root;
    this.links = links;
    this.linkDirs = linkDirs;
  }

  static #empty: LowerStack | undefined;

  /** The stack with no layers (`FROM scratch`): just a root directory, mode 0755, owned by 0:0. */
  static empty(): LowerStack {
    LowerStack.#empty ??= new LowerStack(
      [],
      { type: 'dir', ino: allocIno(), upper: false, children: new Map(), meta: { mode: 0o755, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0 } },
      new Map(),
      new Set(),
    );
    return LowerStack.#empty;
  }

  /** The stack of `indexes` (bottom first), reusing any stack already built for a prefix of them. */
  static of(indexes: Iterable<LayerIndex>): LowerStack {
    let stack = LowerStack.empty();
    for (const index of indexes) stack = stack.withLayer(index);
    return stack;
  }

  /**
   * This stack with `index` on top. Built once per (stack, index) pair and
   * then reused. The cost is the size of the layer plus the directories it
   * touches, not the size of the stack.
   *
   * @throws {@link InvalidLayerError} for an entry below a non-directory, a hardlink to a missing entry or a directory.
   */
  withLayer(index: LayerIndex): LowerStack {
    let next = this.#children.get(index);
    if (!next) {
      next = applyLayer(this, index);
      this.#children.set(index, next);
    }
    return next;
  }

  /** The node at a normalized absolute path, without following symlinks. */
  lookup(path: string): LowerNode | undefined {
    if (path === '/') return this.root;
    let node: LowerNode = this.root;
    let start = 1;
    while (start <= path.length) {
      if (node.type !== 'dir') return undefined;
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      const child: LowerNode | undefined = node.children.get(path.slice(start, end));
      if (!child) return undefined;
      node = child;
      start = end + 1;
    }
    return node;
  }

  /** Number of layers. */
  get depth(): number {
    return this.layers.length;
  }
}

function applyLayer(base: LowerStack, index: LayerIndex): LowerStack {
  const position = base.layers.length;
  const fresh = new WeakSet<LowerDir>();
  const copyDir = (dir: LowerDir): LowerDir => {
    if (fresh.has(dir)) return dir;
    const copy: LowerDir = { type: 'dir', ino: dir.ino, upper: false, meta: dir.meta, children: new Map(dir.children) };
    fresh.add(copy);
    return copy;
  };
  let root = copyDir(base.root);

  /** The directory at `path`, made private to this application; undefined if missing or not a directory. */
  const mutableDir = (path: string, create: boolean): LowerDir | undefined => {
    let dir = root;
    if (path === '/') return dir;
    let walked = '';
    for (const name of path.slice(1).split('/')) {
      walked += '/' + name;
      const child = dir.children.get(name);
      let next: LowerDir;
      if (child === undefined) {
        if (!create) return undefined;
        next = implicitDir();
        fresh.add(next);
      } else if (child.type !== 'dir') {
        if (!create) return undefined;
        throw new InvalidLayerError('entry below a non-directory', { path: walked, layer: position });
      } else next = copyDir(child);
      if (next !== child) dir.children.set(name, next);
      dir = next;
    }
    return dir;
  };

  // Opaque markers and whiteouts act on the layers below only, so they go first.
  for (const path of index.opaqueDirs) {
    const dir = mutableDir(path, false);
    if (dir) dir.children.clear();
  }
  for (const path of index.whiteouts) mutableDir(parentPath(path), false)?.children.delete(baseName(path));

  const hardlinks: string[] = [];
  for (const entry of index.entries.values()) {
    if (entry.type === 'hardlink') {
      hardlinks.push(entry.path);
      continue;
    }
    if (entry.path === '/') {
      if (entry.type !== 'dir') throw new InvalidLayerError('the root must be a directory', { path: '/', layer: position });
      root = { ...root, meta: metaFromEntry(entry) };
      fresh.add(root);
      continue;
    }
    const parent = mutableDir(parentPath(entry.path), true)!;
    const name = baseName(entry.path);
    if (entry.type === 'dir') {
      const existing = parent.children.get(name);
      const dir: LowerDir =
        existing?.type === 'dir'
          ? { type: 'dir', ino: existing.ino, upper: false, meta: metaFromEntry(entry), children: new Map(existing.children) }
          : { type: 'dir', ino: allocIno(), upper: false, meta: metaFromEntry(entry), children: new Map() };
      fresh.add(dir);
      parent.children.set(name, dir);
    } else {
      parent.children.set(name, index.leafFor(entry));
    }
  }

  const newNames = new Map<LeafInode, { target: string; added: string[] }>();
  for (const path of hardlinks) {
    const target = resolveLinkTarget(index, path, position);
    // A target this layer writes is its new file; any other is the lower file
    // as it was before the layer (so a layer may link to a file and white it out).
    let node: LowerNode | undefined = index.entries.has(target) ? root : base.root;
    for (const name of target === '/' ? [] : target.slice(1).split('/')) {
      node = node?.type === 'dir' ? node.children.get(name) : undefined;
    }
    if (!node) throw new InvalidLayerError(`hardlink to a missing entry ${target}`, { path, layer: position });
    if (node.type === 'dir') throw new InvalidLayerError(`hardlink to a directory ${target}`, { path, layer: position });
    mutableDir(parentPath(path), true)!.children.set(baseName(path), node);
    let names = newNames.get(node);
    if (!names) newNames.set(node, (names = { target, added: [] }));
    names.added.push(path);
  }

  const stackRoot = root;
  const lookup = (path: string): LowerNode | undefined => {
    let node: LowerNode | undefined = stackRoot;
    for (const name of path.slice(1).split('/')) node = node?.type === 'dir' ? node.children.get(name) : undefined;
    return node;
  };
  const links = new Map<LeafInode, LowerLinks>();
  for (const [inode, info] of base.links) {
    const added = newNames.get(inode)?.added ?? [];
    newNames.delete(inode);
    const paths = [...info.paths.filter((p) => lookup(p) === inode && !added.includes(p)), ...added];
    links.set(inode, { ever: info.ever + added.length, paths });
  }
  for (const [inode, { target, added }] of newNames) {
    links.set(inode, { ever: 1 + added.length, paths: [target, ...added.filter((p) => p !== target)] });
  }
  const linkDirs = new Set<string>();
  for (const [inode, info] of links) {
    if (info.paths.length < 2) {
      if (info.ever < 2) links.delete(inode);
      continue;
    }
    for (const p of info.paths) for (let d = parentPath(p); !linkDirs.has(d); d = parentPath(d)) {
      linkDirs.add(d);
      if (d === '/') break;
    }
  }
  return new LowerStack([...base.layers, index], stackRoot, links, linkDirs);
}

/** Follows a chain of hardlinks inside one layer to the entry that holds the inode. */
function resolveLinkTarget(index: LayerIndex, path: string, position: number): string {
  let target = index.entries.get(path)!.linkname!;
  for (let hops = 0; ; hops++) {
    const entry = index.entries.get(target);
    if (entry?.type !== 'hardlink') return target;
    if (hops > index.entries.size) throw new InvalidLayerError('hardlink cycle', { path, layer: position });
    target = entry.linkname!;
  }
}

function implicitDir(): LowerDir {
  return { type: 'dir', ino: allocIno(), upper: false, children: new Map(), meta: { mode: 0o755, uid: 0, gid: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0 } };
}
