/**
 * The changes between two trees, in the `docker diff` sense.
 *
 * The two trees are walked together, each directory's children in name
 * order, merged like two sorted lists (moby's `ChangesDirs`, the walk of
 * isomorphic-git's `walk`). Rules, in the words of
 * `/work/shared/notes/layers-unionfs-cache.md` §2 where they agree with moby:
 *
 * - **add**: the path exists only in `upper`. Every path of a new subtree is
 *   reported (`docker diff` prints `A` for each).
 * - **delete**: the path exists only in `lower`; reported once, at the top of
 *   a deleted subtree.
 * - **modify**: the path exists in both and differs in type, mode, uid, gid,
 *   mtime, size, content, symlink target, device numbers, xattrs, or in which
 *   other surviving paths it is hardlinked with. A type change is one modify
 *   (the old subtree is replaced, its children are not reported); a new
 *   directory's children are then adds.
 * - **parents**: a directory with any change below it is reported as
 *   modified, ahead of its children, as moby does "to restore permissions".
 *   The root is reported only when its own metadata changed.
 *
 * Two deliberate departures from moby: contents are compared (moby compares
 * size and mtime only, so a same-size same-second rewrite slips through:
 * buildkit#4950), and directory mtimes are compared (moby ignores them,
 * moby#9874) so that applying the diff reproduces `upper` exactly.
 *
 * Contents are equal when both entries share one content source, or when both
 * sources have a known sha256 (see {@link Tree.hashContents}; trees built by
 * `apply` are always hashed) and the digests match. Two distinct sources
 * without known digests count as different: a diff may over-report an
 * unhashed file, never miss a change.
 * @module
 */
import type { Entry } from '../entry.js';
import { compareNames } from '../path.js';
import { knownContentDigest, sortedChildren, type Tree, type TreeNode } from '../tree.js';

/** `add`, `modify` or `delete`, as `docker diff` prints `A`, `C` and `D`. */
export type ChangeKind = 'add' | 'modify' | 'delete';

/** One changed path. */
export interface Change {
  kind: ChangeKind;
  /** Normalized absolute path. */
  path: string;
  /** The entry in the upper tree (`add` and `modify`); absent for `delete`. */
  entry?: Entry;
  /**
   * On a directory `modify`: every child it had below is gone, and the change
   * is written as an opaque directory (`<dir>/.wh..wh..opq`) instead of one
   * whiteout per child. Only set when {@link DiffOptions.opaque} asks for it.
   */
  opaque?: boolean;
}

/** Options for {@link diff}. */
export interface DiffOptions {
  /**
   * Report a directory none of whose lower children survive (`rm -rf d &&
   * mkdir d`) as one opaque `modify` instead of a `delete` per child. Off by
   * default: OCI layer.md says writers SHOULD use explicit whiteouts.
   */
  opaque?: boolean;
}

/**
 * Lists what changed from `lower` to `upper`, parents before children,
 * siblings in UTF-8 byte order of their names.
 *
 * @example
 * ```ts
 * for (const c of diff(before, after)) console.log(c.kind[0].toUpperCase(), c.path); // C /etc, A /etc/motd
 * ```
 */
export function diff(lower: Tree, upper: Tree, options: DiffOptions = {}): Change[] {
  const out: (Change | null)[] = [];
  const walker = new DiffWalk(lower, upper, out, options.opaque === true);
  const a = lower.rootNode;
  const b = upper.rootNode;
  if (!sameEntry(a.entry, b.entry)) out.push({ kind: 'modify', path: '/', entry: b.entry });
  walker.directory(a, b);
  return out.filter((c): c is Change => c !== null);
}

class DiffWalk {
  constructor(
    readonly lower: Tree,
    readonly upper: Tree,
    readonly out: (Change | null)[],
    readonly opaque: boolean,
  ) {}

  /** Compares the children of two directories; true when anything below changed. */
  directory(a: TreeNode, b: TreeNode): boolean {
    const left = sortedChildren(a);
    const right = sortedChildren(b);
    const out = this.out;
    let changed = false;
    let i = 0;
    let j = 0;
    while (i < left.length || j < right.length) {
      const x = left[i];
      const y = right[j];
      const order = x === undefined ? 1 : y === undefined ? -1 : x.name === y.name ? 0 : compareNames(x.name, y.name);
      if (order < 0) {
        out.push({ kind: 'delete', path: x!.entry.path });
        changed = true;
        i++;
        continue;
      }
      if (order > 0) {
        this.added(y!);
        changed = true;
        j++;
        continue;
      }
      i++;
      j++;
      if (x === y) continue;
      const xe = x!.entry;
      const ye = y!.entry;
      if (xe.type === 'dir' && ye.type === 'dir') {
        const at = out.length;
        out.push(null);
        let below: boolean;
        let opaque = false;
        if (this.opaque && x!.children!.size > 0 && noneSurvive(x!, y!)) {
          opaque = true;
          for (const child of sortedChildren(y!)) this.added(child);
          below = true;
        } else {
          below = this.directory(x!, y!);
        }
        if (below || !sameEntry(xe, ye)) {
          out[at] = opaque ? { kind: 'modify', path: ye.path, entry: ye, opaque: true } : { kind: 'modify', path: ye.path, entry: ye };
          changed = true;
        }
      } else if (xe.type !== ye.type || !sameNode(x!, y!) || !sameLinks(x!, y!, this.lower, this.upper)) {
        out.push({ kind: 'modify', path: ye.path, entry: ye });
        changed = true;
        if (ye.type === 'dir') for (const child of sortedChildren(y!)) this.added(child);
      }
    }
    return changed;
  }

  added(node: TreeNode): void {
    this.out.push({ kind: 'add', path: node.entry.path, entry: node.entry });
    if (node.children) for (const child of sortedChildren(node)) this.added(child);
  }
}

function noneSurvive(a: TreeNode, b: TreeNode): boolean {
  for (const name of a.children!.keys()) if (b.children!.has(name)) return false;
  return true;
}

/** {@link sameEntry} for tree nodes, comparing contents by the digests the nodes carry. */
function sameNode(x: TreeNode, y: TreeNode): boolean {
  const a = x.entry;
  const b = y.entry;
  if (a === b) return true;
  if (a.type === 'file' && a.content !== b.content && a.size === b.size && a.size > 0) {
    const da = x.digest ?? (a.content && knownContentDigest(a.content));
    const db = y.digest ?? (b.content && knownContentDigest(b.content));
    if (da === undefined || da !== db) return false;
    return sameMetadata(a, b, true);
  }
  return sameEntry(a, b);
}

/**
 * True when two entries describe the same object: type, mode, owner, mtime,
 * xattrs, and per type the size and content, symlink target or device numbers.
 * Paths are not compared.
 *
 * @example
 * ```ts
 * sameEntry(tree.get('/a')!, other.get('/a')!);
 * ```
 */
export function sameEntry(x: Entry, y: Entry): boolean {
  if (x === y) return true;
  return sameMetadata(x, y, false);
}

function sameMetadata(x: Entry, y: Entry, contentChecked: boolean): boolean {
  if (x.type !== y.type || x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid || x.mtime !== y.mtime) return false;
  switch (x.type) {
    case 'file':
      if (x.size !== y.size || (!contentChecked && !sameContent(x, y))) return false;
      break;
    case 'symlink':
    case 'hardlink':
      if (x.linkname !== y.linkname) return false;
      break;
    case 'char':
    case 'block':
      if ((x.devmajor ?? 0) !== (y.devmajor ?? 0) || (x.devminor ?? 0) !== (y.devminor ?? 0)) return false;
      break;
    default:
      break;
  }
  return x.xattrs === y.xattrs || sameXattrs(x.xattrs, y.xattrs);
}

function sameContent(x: Entry, y: Entry): boolean {
  const a = x.content;
  const b = y.content;
  if (a === b || x.size === 0) return true;
  if (!a || !b) return false;
  const da = knownContentDigest(a);
  return da !== undefined && da === knownContentDigest(b);
}

function sameXattrs(a: Entry['xattrs'], b: Entry['xattrs']): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const key of ka) {
    const u = a![key]!;
    const v = b?.[key];
    if (!v || u.byteLength !== v.byteLength) return false;
    for (let i = 0; i < u.byteLength; i++) if (u[i] !== v[i]) return false;
  }
  return true;
}

/**
 * Hardlink structure: a path is unchanged only if, among the paths present in
 * both trees, it is linked with exactly the same others. New paths joining a
 * group are adds (written as links to a surviving member); paths leaving it
 * are deletes or modifies of their own.
 */
function sameLinks(x: TreeNode, y: TreeNode, lower: Tree, upper: Tree): boolean {
  const la = x.inode && x.inode.links.size > 1 ? x.inode.links : null;
  const lb = y.inode && y.inode.links.size > 1 ? y.inode.links : null;
  if (!la && !lb) return true;
  const before = new Set<string>();
  if (la) {
    for (const n of la) if (upper.node(n.entry.path)) before.add(n.entry.path);
  } else {
    before.add(x.entry.path);
  }
  let after = 0;
  if (lb) {
    for (const n of lb) {
      const p = n.entry.path;
      if (!lower.node(p)) continue;
      if (!before.has(p)) return false;
      after++;
    }
  } else {
    after = 1;
  }
  return after === before.size;
}
