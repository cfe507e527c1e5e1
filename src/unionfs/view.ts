/**
 * The engine under the fs-shaped API: path resolution through the merged
 * view (upper over lower, symlinks confined to the view's root), copy-up, and
 * the bookkeeping of link counts. Operations in `ops-*.ts` are written on it.
 * @module
 */
import { LINUX_MAX_SYMLINKS, resolveSync, type NodeKind, type SyncPathReader } from '../layers/resolve-path.js';
import { fsError } from './errors.js';
import {
  allocIno,
  copyMeta,
  newUpperDir,
  WHITEOUT,
  type AnyNode,
  type LeafInode,
  type LowerDir,
  type LowerNode,
  type UpperDir,
  type UpperNode,
} from './inode.js';
import type { LowerStack } from './lower-stack.js';
import { compareBytes, isReservedName, joinPath, type UserPath } from './paths.js';

/** Linux follows at most 40 symlinks in one lookup. */
export const MAX_SYMLINK_HOPS = LINUX_MAX_SYMLINKS;

/** A non-directory met by a lookup, where its name was. */
interface Leaf {
  leaf: AnyNode;
  path: string;
  name: string;
}
/** A node of a lookup: a directory reference or a leaf. */
type Hop = DirRef | Leaf;
const kindOf = (hop: Hop): NodeKind => ('leaf' in hop ? (hop.leaf.type === 'symlink' ? 'symlink' : 'other') : 'dir');

/**
 * How a view behaves where overlayfs has mount options.
 *
 * @example
 * ```ts
 * const docker: Partial<ViewPolicy> = {}; // defaults: umask 022, renameDir 'exdev', hardlinks 'break', owner 0:0
 * const plain: Partial<ViewPolicy> = { renameDir: 'copy-up', hardlinks: 'preserve' };
 * ```
 */
export interface ViewPolicy {
  /** Mask applied to the mode of created files and directories. */
  umask: number;
  /** `rename` of a directory that has lower content: fail with EXDEV (overlayfs without redirect_dir) or copy it up. */
  renameDir: 'exdev' | 'copy-up';
  /**
   * Copy-up of a file with several names: `break` gives the copy its own inode,
   * as overlayfs with `index=off` (Docker's setting); `preserve` keeps every name
   * on one inode, as a plain file system (overlayfs `index=on`).
   */
  hardlinks: 'break' | 'preserve';
  /** Owner of created objects. */
  uid: number;
  gid: number;
  /** Clock for timestamps, in milliseconds. */
  now: () => number;
}

/**
 * A directory of the view as seen during one lookup: its upper part, the
 * lower part merged under it (absent when the upper is opaque or the lower
 * is not a directory), and how it was reached.
 */
export interface DirRef {
  path: string;
  name: string;
  parent: DirRef | undefined;
  upper: UpperDir | undefined;
  lower: LowerDir | undefined;
}

/** The outcome of resolving a path down to its last component. */
export interface Located {
  /** Canonical path of the object (or of where it would be created). */
  path: string;
  /** The directory holding the last name; undefined for `/` and for paths ending in `.` or `..`. */
  parent: DirRef | undefined;
  name: string;
  /** The object, or undefined when the last name does not exist. */
  node: AnyNode | undefined;
  /** For a directory, its merged reference. */
  dir: DirRef | undefined;
  /** The path ended in `.` or `..` (or was `/`): it names a directory but not a directory entry. */
  dotted: boolean;
}

/** Options of {@link View.resolve}. */
export interface ResolveOptions {
  /** Follow a symlink in the last component (a trailing slash always follows). */
  follow: boolean;
  syscall: string;
}

/** The state of one view: its lower stack and its writable upper. */
export class View {
  stack: LowerStack;
  upper: UpperDir | undefined;
  readonly policy: ViewPolicy;

  constructor(stack: LowerStack, policy: ViewPolicy) {
    this.stack = stack;
    this.policy = policy;
  }

  /** The root directory reference for a fresh lookup. */
  rootRef(): DirRef {
    const upper = this.upper;
    return { path: '/', name: '', parent: undefined, upper, lower: upper?.opaque ? undefined : this.stack.root };
  }

  /** The visible child `name` of `dir`, and the lower directory merged under it. */
  child(dir: DirRef, name: string): { node: AnyNode; lower: LowerDir | undefined } | undefined {
    if (isReservedName(name)) return undefined;
    const up = dir.upper?.children.get(name);
    if (up !== undefined) {
      if (up === WHITEOUT) return undefined;
      if (up.type !== 'dir' || up.opaque) return { node: up as UpperNode, lower: undefined };
      const low = dir.lower?.children.get(name);
      return { node: up, lower: low?.type === 'dir' ? low : undefined };
    }
    const low = dir.lower?.children.get(name);
    if (low === undefined) return undefined;
    return { node: low, lower: low.type === 'dir' ? low : undefined };
  }

  /** The lower object the upper would hide at `dir/name` (what a whiteout must cover). */
  lowerAt(dir: DirRef, name: string): LowerNode | undefined {
    return dir.lower?.children.get(name);
  }

  childRef(dir: DirRef, name: string, found: { node: AnyNode; lower: LowerDir | undefined }): DirRef {
    return {
      path: joinPath(dir.path, name),
      name,
      parent: dir,
      upper: found.node.upper ? (found.node as UpperDir) : undefined,
      lower: found.lower,
    };
  }

  /**
   * Resolves a user path as the kernel would under chroot: `..` never climbs
   * above the root and is taken after symlinks (physically), absolute link
   * targets start again at the view's root, more than 40 links give ELOOP.
   */
  resolve(path: UserPath, options: ResolveOptions): Located {
    const walk = resolveSync<Hop>(
      path.parts,
      { root: this.rootRef(), kindOf, follow: options.follow || path.trailingSlash, maxLinks: MAX_SYMLINK_HOPS },
      this.#reader,
    );
    const top = walk.stack[walk.stack.length - 1]!;
    switch (walk.stop) {
      case 'found': {
        if (walk.dotted) return this.#dirLocated(top as DirRef, true);
        const parent = walk.stack[walk.stack.length - 2] as DirRef;
        if (!('leaf' in top)) return { path: top.path, parent, name: top.name, node: top.upper ?? top.lower!, dir: top, dotted: false };
        if (path.trailingSlash) throw fsError('ENOTDIR', options.syscall, path.display);
        return { path: top.path, parent, name: top.name, node: top.leaf, dir: undefined, dotted: false };
      }
      case 'missing': {
        if (walk.rest.length > 0) throw fsError('ENOENT', options.syscall, path.display);
        const dir = top as DirRef;
        return { path: joinPath(dir.path, walk.name!), parent: dir, name: walk.name!, node: undefined, dir: undefined, dotted: false };
      }
      case 'notdir':
        throw fsError('ENOTDIR', options.syscall, path.display);
      case 'loop':
        throw fsError('ELOOP', options.syscall, path.display);
      default:
        throw fsError('ENOENT', options.syscall, path.display);
    }
  }

  /** The walk's reads: directories become references, other objects {@link Leaf}s. */
  readonly #reader: SyncPathReader<Hop> = {
    child: (dir, name) => {
      const ref = dir as DirRef;
      const found = this.child(ref, name);
      if (!found) return undefined;
      if (found.node.type === 'dir') return this.childRef(ref, name, found);
      return { leaf: found.node, path: joinPath(ref.path, name), name };
    },
    readlink: (hop) => ((hop as Leaf).leaf as { target: string }).target,
  };

  #dirLocated(ref: DirRef, dotted: boolean): Located {
    return { path: ref.path, parent: undefined, name: ref.name, node: ref.upper ?? ref.lower!, dir: ref, dotted };
  }

  /** Resolves a canonical path without following any symlink; undefined when it is not there. */
  locateCanonical(path: string): Located | undefined {
    let dir = this.rootRef();
    if (path === '/') return this.#dirLocated(dir, true);
    const names = path.slice(1).split('/');
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const found = this.child(dir, name);
      if (!found) return undefined;
      if (i === names.length - 1) {
        const ref = found.node.type === 'dir' ? this.childRef(dir, name, found) : undefined;
        return { path, parent: dir, name, node: found.node, dir: ref, dotted: false };
      }
      if (found.node.type !== 'dir') return undefined;
      dir = this.childRef(dir, name, found);
    }
    return undefined;
  }

  /**
   * The upper part of a directory if it has one. References are made per
   * lookup, so another reference may have copied the directory up since.
   */
  peekUpper(ref: DirRef): UpperDir | undefined {
    if (ref.upper) return ref.upper;
    const parentUpper = ref.parent ? this.peekUpper(ref.parent) : this.upper;
    if (!ref.parent) return (ref.upper = parentUpper);
    const existing = parentUpper?.children.get(ref.name);
    if (existing !== undefined && existing !== WHITEOUT && existing.type === 'dir') ref.upper = existing as UpperDir;
    return ref.upper;
  }

  /** The upper part of a directory, copying it (and its ancestors) up first. */
  ensureUpper(ref: DirRef): UpperDir {
    const present = this.peekUpper(ref);
    if (present) return present;
    const lower = ref.lower!;
    const dir = newUpperDir(copyMeta(lower.meta), false, lower.ino);
    if (ref.parent) this.ensureUpper(ref.parent).children.set(ref.name, dir);
    else this.upper = dir;
    ref.upper = dir;
    return dir;
  }

  /** The names of a directory, merged, reserved names hidden, in no particular order. */
  names(ref: DirRef): string[] {
    const out: string[] = [];
    const up = ref.upper?.children;
    if (up) for (const [name, node] of up) if (node !== WHITEOUT) out.push(name);
    if (ref.lower) for (const name of ref.lower.children.keys()) if (!up?.has(name)) out.push(name);
    return out;
  }

  /**
   * The names of a directory in byte order: the lower directory's sorted
   * names (computed once per lower directory, which never changes) merged
   * with the upper's, so listing costs the same however many layers fed it.
   */
  sortedNames(ref: DirRef): string[] {
    const lower = ref.lower ? sortedLowerNames(ref.lower) : [];
    const up = this.peekUpper(ref)?.children;
    if (!up || up.size === 0) return lower.slice();
    const upper = [...up.keys()].sort(compareBytes);
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < lower.length || j < upper.length) {
      const l = lower[i];
      const u = upper[j];
      const order = l === undefined ? 1 : u === undefined ? -1 : compareBytes(l, u);
      if (order < 0) {
        if (!up.has(l!)) out.push(l!);
        i++;
        continue;
      }
      if (order === 0) i++;
      if (up.get(u!)!.type !== 'whiteout') out.push(u!);
      j++;
    }
    return out;
  }

  /** True when a directory shows no entries. */
  isEmpty(ref: DirRef): boolean {
    const up = ref.upper?.children;
    if (up) for (const node of up.values()) if (node !== WHITEOUT) return false;
    if (ref.lower) for (const name of ref.lower.children.keys()) if (!up?.has(name)) return false;
    return true;
  }

  /** Link count as `stat` reports it. Directories report 1, as merged overlayfs directories (and btrfs) do. */
  nlink(node: AnyNode): number {
    if (node.type === 'dir') return 1;
    if (node.upper) return node.nlink;
    const info = this.stack.links.get(node);
    if (!info) return 1;
    return this.policy.hardlinks === 'break' ? info.ever : info.paths.length;
  }

  /**
   * The upper inode for the leaf at `loc`, copying it up (data shared lazily,
   * metadata copied) if it is still a lower one. With `hardlinks: 'preserve'`,
   * every visible name of a multiply-linked lower inode moves to the copy.
   */
  copyUpLeaf(loc: Located): LeafInode {
    const node = loc.node as LeafInode;
    if (node.upper) return node;
    if (this.policy.hardlinks === 'preserve' && (this.stack.links.get(node)?.paths.length ?? 1) > 1) {
      return this.promote(node);
    }
    const copy = cloneLeaf(node, node.ino);
    this.ensureUpper(loc.parent!).children.set(loc.name, copy);
    return copy;
  }

  /** Moves every visible name of a multiply-linked lower inode onto one upper copy. */
  promote(node: LeafInode): LeafInode {
    const copy = cloneLeaf(node, node.ino);
    copy.nlink = 0;
    for (const path of this.stack.links.get(node)?.paths ?? []) {
      const alias = this.locateCanonical(path);
      if (alias?.node !== node) continue;
      this.ensureUpper(alias.parent!).children.set(alias.name, copy);
      copy.nlink++;
    }
    return copy;
  }

  /**
   * Before a lower subtree at `path` disappears or is copied, moves the
   * multiply-linked inodes it shares with the rest of the view to the upper,
   * so their other names keep the right link count (`preserve` only).
   */
  promoteLinksUnder(path: string): void {
    if (this.policy.hardlinks !== 'preserve' || !this.stack.linkDirs.has(path)) return;
    const prefix = path === '/' ? '/' : path + '/';
    for (const [inode, info] of this.stack.links) {
      for (const p of info.paths) {
        if (!p.startsWith(prefix)) continue;
        if (this.locateCanonical(p)?.node === inode) {
          this.promote(inode);
          break;
        }
      }
    }
  }

  /**
   * Removes the name `loc.name` from its parent: upper entry dropped (link
   * counts of the upper inodes below it decremented unless the object is
   * being moved, `release` false), a whiteout left when a lower object would
   * otherwise show through.
   */
  removeEntry(loc: Located, release = true): void {
    const parent = loc.parent!;
    const old = this.peekUpper(parent)?.children.get(loc.name);
    if (release && old !== undefined && old.type !== 'whiteout') releaseUpper(old);
    const hidden = this.lowerAt(parent, loc.name);
    const upper = hidden || old !== undefined ? this.ensureUpper(parent) : undefined;
    if (hidden) upper!.children.set(loc.name, WHITEOUT);
    else upper?.children.delete(loc.name);
  }

  /** Sets `name` in a directory to a new upper object, replacing a whiteout if there is one. */
  place(parent: DirRef, name: string, node: UpperNode): void {
    this.ensureUpper(parent).children.set(name, node);
  }

  /** Marks a directory's content as changed now. */
  touchDir(ref: DirRef): void {
    const now = this.policy.now();
    const meta = this.ensureUpper(ref).meta;
    meta.mtimeMs = now;
    meta.ctimeMs = now;
  }

  /** A fresh inode number for a created object. */
  newIno(): number {
    return allocIno();
  }
}

const lowerSorted = new WeakMap<LowerDir, string[]>();

/** A lower directory's names in byte order, computed once. */
function sortedLowerNames(dir: LowerDir): string[] {
  let names = lowerSorted.get(dir);
  if (!names) {
    names = [...dir.children.keys()].sort(compareBytes);
    lowerSorted.set(dir, names);
  }
  return names;
}

/** A private upper copy of a leaf inode (content shared until written). */
export function cloneLeaf(node: LeafInode, ino: number): LeafInode {
  const base = { ino, meta: copyMeta(node.meta), upper: true, nlink: 1 };
  switch (node.type) {
    case 'file':
      return { ...base, type: 'file', content: node.content.clone() };
    case 'symlink':
      return { ...base, type: 'symlink', target: node.target };
    default:
      return { ...base, type: node.type, devmajor: node.devmajor, devminor: node.devminor };
  }
}

/** Decrements the link counts of the upper leaves of a subtree being dropped. */
function releaseUpper(node: UpperNode): void {
  if (node.type !== 'dir') {
    node.nlink = Math.max(0, node.nlink - 1);
    return;
  }
  for (const child of node.children.values()) if (child.type !== 'whiteout') releaseUpper(child);
}
