/**
 * The destination side of one COPY/ADD: the stage's file system (read-only,
 * as a lower stack) under the objects the instruction writes. It resolves
 * destination paths the way BuildKit's copier does (symlinks followed inside
 * the root), creates missing directories, and turns what was written into
 * the entries of the instruction's layer.
 * @module
 */
import { posix } from 'node:path';
import { comparePaths, type Entry } from '../../layers/entry.js';
import { ancestorPaths, baseName, childPath } from '../../layers/path.js';
import { CONTINUITY_MAX_SYMLINKS, resolveSync, type NodeKind } from '../../layers/resolve-path.js';
import { entryOf } from '../../unionfs/commit.js';
import type { LowerStack } from '../../unionfs/lower-stack.js';

/** Linux follows at most 40 symlinks per lookup; BuildKit's continuity allows 255. */
const MAX_LINKS = CONTINUITY_MAX_SYMLINKS;

/** A node of the walk: a resolved path and its object (the root: none read). */
interface Hop {
  path: string;
  entry: Entry | undefined;
}
const ROOT: Hop = { path: '/', entry: undefined };
const kindOf = (hop: Hop): NodeKind => (!hop.entry || hop.entry.type === 'dir' ? 'dir' : hop.entry.type === 'symlink' ? 'symlink' : 'other');

/** How created directories look. */
export interface CreatedDirAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** The file system a COPY writes into: a lower stack plus the objects written so far. */
export class CopyTarget {
  readonly #lower: LowerStack;
  readonly #upper = new Map<string, Entry>();

  constructor(lower: LowerStack) {
    this.#lower = lower;
  }

  /** The object at a resolved path, without following a final symlink. */
  lstat(path: string): Entry | undefined {
    const written = this.#upper.get(path);
    if (written) return written;
    // Something written higher up (a file where a lower dir was) hides the lower below it.
    for (const ancestor of ancestorPaths(path)) {
      const up = this.#upper.get(ancestor);
      if (up && up.type !== 'dir') return undefined;
    }
    const node = this.#lower.lookup(path);
    return node ? entryOf(path, node, { content: false }) : undefined;
  }

  /**
   * Resolves `path` inside the root, following every symlink met (the last
   * component too when `followFinal`), `..` stopping at the root — what
   * continuity's `RootPath` does. From the first missing component (or a
   * non-directory with names below it) on, the path is kept as written;
   * past the symlink limit it ends at the link.
   */
  resolve(path: string, followFinal = true): string {
    const walk = resolveSync<Hop>(
      path,
      { root: ROOT, kindOf, follow: followFinal, maxLinks: MAX_LINKS },
      {
        child: (dir, name) => {
          const child = childPath(dir.path, name);
          const entry = this.lstat(child);
          return entry ? { path: child, entry } : undefined;
        },
        readlink: (hop) => hop.entry?.linkname ?? '',
      },
    );
    const top = walk.stack[walk.stack.length - 1]!.path;
    switch (walk.stop) {
      case 'found':
        return top;
      case 'loop':
        return childPath(top, walk.name!);
      case 'notdir':
        return posix.normalize(top + '/' + walk.rest.join('/'));
      default:
        return posix.normalize(top + '/' + [walk.name!, ...walk.rest].join('/'));
    }
  }

  /** The object at `path` with a final symlink followed. */
  stat(path: string): Entry | undefined {
    return this.lstat(this.resolve(path, true));
  }

  /**
   * Creates `dir` and its missing parents (each resolved through symlinks
   * that already exist). Returns false when a non-directory is in the way.
   */
  mkdirAll(dir: string, attrs: CreatedDirAttrs): boolean {
    const resolved = this.resolve(dir, true);
    const existing = this.lstat(resolved);
    if (existing) return existing.type === 'dir';
    if (resolved !== '/') {
      const parent = resolved.slice(0, resolved.lastIndexOf('/')) || '/';
      if (!this.mkdirAll(parent, attrs)) return false;
    }
    this.put({ path: resolved, type: 'dir', mode: attrs.mode, uid: attrs.uid, gid: attrs.gid, mtime: attrs.mtime, size: 0 });
    return true;
  }

  /** Writes an object (replacing whatever the path held). */
  put(entry: Entry): void {
    this.#upper.set(entry.path, entry);
  }

  /** Number of objects written. */
  get size(): number {
    return this.#upper.size;
  }

  /**
   * The layer's entries: every object written, plus each directory above
   * them as it stands (copied up from the lower stack with its metadata),
   * the root excluded — the way an overlay upper records a change.
   */
  entries(): Entry[] {
    // One array, sorted in place: no second map of every path (a large copy writes 100,000 objects).
    // Only ancestors that were not written need a record of being added, and there are few.
    const out: Entry[] = [];
    const copiedUp = new Set<string>();
    for (const [path, entry] of this.#upper) {
      if (path === '/') continue;
      out.push(entry);
      for (const ancestor of ancestorPaths(path)) {
        if (this.#upper.has(ancestor) || copiedUp.has(ancestor)) continue;
        const up = this.lstat(ancestor);
        if (up) {
          out.push(up);
          copiedUp.add(ancestor);
        }
      }
    }
    return firstNameHoldsContent(out.sort((a, b) => comparePaths(a.path, b.path)));
  }
}

/** The directory part of a clean path. */
export function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

export { baseName, childPath };

/**
 * Tar readers (GNU tar, go-archive) create a hardlink from a member that is
 * already extracted, and the tar writer orders members by path: so in each
 * group of names for one file, the first name in path order must be the
 * file and the others links to it. Rewrites groups where a link comes first.
 */
export function firstNameHoldsContent(sorted: Entry[]): Entry[] {
  // Most copies have no hardlinks: no index of every path for them.
  if (!sorted.some((e) => e.type === 'hardlink')) return sorted;
  const byPath = new Map(sorted.map((e, i) => [e.path, i] as const));
  const groups = new Map<string, number[]>();
  for (const [i, e] of sorted.entries()) {
    if (e.type !== 'hardlink' || e.linkname === undefined || !byPath.has(e.linkname)) continue;
    const group = groups.get(e.linkname) ?? [byPath.get(e.linkname)!];
    group.push(i);
    groups.set(e.linkname, group);
  }
  for (const members of groups.values()) {
    members.sort((a, b) => a - b);
    const first = members[0]!;
    const holder = sorted.find((e) => e.type !== 'hardlink' && members.includes(sorted.indexOf(e)));
    if (!holder || sorted[first] === holder) continue;
    const firstPath = sorted[first]!.path;
    for (const i of members) {
      const entry = sorted[i]!;
      sorted[i] = i === first ? { ...holder, path: firstPath } : { ...entry, type: 'hardlink', size: 0, linkname: firstPath, content: undefined };
    }
  }
  return sorted;
}
