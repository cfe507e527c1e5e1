/**
 * The upper as a changeset: the `docker diff` list, and the entries of the
 * layer that records it (whiteouts and opaque markers as OCI writes them).
 * @module
 */
import type { ChangeKind } from '../layers/changes/diff.js';
import type { Entry } from '../layers/entry.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, compareBytes, joinPath } from './paths.js';
import type { AnyNode, LowerDir, UpperDir } from './inode.js';
import type { View } from './view.js';

/**
 * One line of `docker diff`: the path and what happened to it, in the words
 * of the layers module's {@link ChangeKind} (`add`, `modify`, `delete`; the
 * CLI prints them as Docker's `A`, `C`, `D`).
 *
 * @example
 * ```ts
 * for (const { kind, path } of view.changes()) console.log(kind, path); // modify /etc, add /etc/motd
 * ```
 */
export interface UnionChange {
  kind: ChangeKind;
  path: string;
}

interface UpperVisit {
  path: string;
  name: string;
  dirPath: string;
  /** Undefined for a whiteout. */
  node: AnyNode | undefined;
  /** What the lower stack has at this path, if it shows through the upper's parents. */
  lower: AnyNode | undefined;
}

/** Walks the upper in path order (parents first), pairing each name with what the lower has there. */
function* walkUpper(dir: UpperDir, lower: LowerDir | undefined, path: string): Generator<UpperVisit> {
  const names = [...dir.children.keys()].sort(compareBytes);
  for (const name of names) {
    const child = dir.children.get(name)!;
    const childPath = joinPath(path, name);
    const below = lower?.children.get(name);
    if (child.type === 'whiteout') {
      if (below) yield { path: childPath, name, dirPath: path, node: undefined, lower: below };
      continue;
    }
    const node = child as AnyNode;
    yield { path: childPath, name, dirPath: path, node, lower: below };
    if (node.type === 'dir') {
      const upperDir = node as UpperDir;
      yield* walkUpper(upperDir, upperDir.opaque || below?.type !== 'dir' ? undefined : below, childPath);
    }
  }
}

function rootLower(view: View): LowerDir | undefined {
  return view.upper?.opaque ? undefined : view.stack.root;
}

/**
 * The changes of the upper relative to the lower stack, sorted by path, as
 * `docker diff` lists them: a deleted subtree once, at its top; directories
 * the upper holds (copied up because something below changed) as `modify`.
 */
export function changes(view: View): UnionChange[] {
  if (!view.upper) return [];
  const out: UnionChange[] = [];
  for (const visit of walkUpper(view.upper, rootLower(view), '/')) {
    out.push({ kind: visit.node ? (visit.lower ? 'modify' : 'add') : 'delete', path: visit.path });
  }
  return out;
}

/** Options of {@link commitEntries}. */
export interface CommitEntriesOptions {
  /** Mtime (seconds) of whiteouts and opaque markers; default 0. */
  markerMtime?: number;
}

/**
 * The entries of the layer that records the upper: every upper object in
 * full (files keep their content lazily), a second name of an upper inode
 * as a `hardlink` to its first, `.wh.<name>` for each whiteout and
 * `<dir>/.wh..wh..opq` for each opaque directory. The root is written only
 * when its mode, owner or xattrs differ from the lower root's (OCI leaves
 * root attributes unspecified; its mtime alone is not worth an entry).
 */
export function commitEntries(view: View, options: CommitEntriesOptions = {}): Entry[] {
  const upper = view.upper;
  if (!upper) return [];
  const markerMtime = options.markerMtime ?? 0;
  const marker = (path: string): Entry => ({ path, type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: markerMtime, size: 0 });
  const out: Entry[] = [];
  const lowerRoot = view.stack.root;
  if (upper.opaque || !sameMeta(upper, lowerRoot)) out.push(entryOf('/', upper));
  if (upper.opaque) out.push(marker('/' + OPAQUE_MARKER));
  const firstName = new Map<AnyNode, string>();
  for (const visit of walkUpper(upper, rootLower(view), '/')) {
    if (!visit.node) {
      out.push(marker(joinPath(visit.dirPath, WHITEOUT_PREFIX + visit.name)));
      continue;
    }
    const node = visit.node;
    if (node.type !== 'dir') {
      const first = firstName.get(node);
      if (first !== undefined) {
        out.push({ ...entryOf(visit.path, node), type: 'hardlink', size: 0, linkname: first, content: undefined });
        continue;
      }
      if (node.upper && node.nlink > 1) firstName.set(node, visit.path);
    }
    out.push(entryOf(visit.path, node));
    if (node.type === 'dir' && (node as UpperDir).opaque) out.push(marker(joinPath(visit.path, OPAQUE_MARKER)));
  }
  return out;
}

/** Root attributes worth a `/` entry: the root's mtime moves with every top-level change and is left out. */
function sameMeta(a: AnyNode, b: AnyNode): boolean {
  return a.meta.mode === b.meta.mode && a.meta.uid === b.meta.uid && a.meta.gid === b.meta.gid && a.meta.xattrs === b.meta.xattrs;
}

/**
 * The entry describing a view object at `path` (content lazy: the file's
 * current source; left out with `content: false`, for metadata-only uses).
 */
export function entryOf(path: string, node: AnyNode, options: { content?: boolean } = {}): Entry {
  const entry: Entry = {
    path,
    type: node.type,
    mode: node.meta.mode,
    uid: node.meta.uid,
    gid: node.meta.gid,
    mtime: Math.floor(node.meta.mtimeMs / 1000),
    size: 0,
  };
  if (node.meta.xattrs) entry.xattrs = node.meta.xattrs;
  switch (node.type) {
    case 'file':
      entry.size = node.content.size;
      if (node.content.size > 0 && options.content !== false) entry.content = node.upper ? node.content.seal() : contentOf(node.content);
      break;
    case 'symlink':
      entry.linkname = node.target;
      break;
    case 'char':
    case 'block':
      entry.devmajor = node.devmajor;
      entry.devminor = node.devminor;
      break;
  }
  return entry;
}

function contentOf(content: { size: number; read(): AsyncIterable<Uint8Array> }): Entry['content'] {
  return { size: content.size, open: () => content.read() };
}
