/**
 * The per-layer index: one layer's entries by path, its whiteouts and opaque
 * directories, and the frozen inodes its files become in every stack that
 * includes it. Built once per layer and shared by every view over it.
 * @module
 */
import { comparePaths, type Entry } from '../layers/entry.js';
import { InvalidLayerError } from './errors.js';
import { allocIno, FileContent, type LeafInode, type Meta } from './inode.js';
import { baseName, joinPath, normalizeEntryPath, OPAQUE_MARKER, parentPath, WHITEOUT_PREFIX } from './paths.js';

/**
 * Options of {@link LayerIndex.fromEntries}.
 *
 * @example
 * ```ts
 * LayerIndex.fromEntries(entries, { position: 3 }); // errors say "(layer 3)"
 * ```
 */
export interface LayerIndexOptions {
  /** Position of the layer in a stack, for error messages. */
  position?: number;
}

/**
 * One layer, indexed for stacking: its entries by normalized path (whiteouts
 * and opaque markers taken out), the paths it deletes, and the directories it
 * makes opaque. Immutable.
 *
 * @example
 * ```ts
 * const index = LayerIndex.fromEntries([
 *   { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
 *   { path: '/etc/.wh.motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 },
 * ]);
 * index.whiteouts; // ['/etc/motd']
 * ```
 */
export class LayerIndex {
  /** Paths this layer deletes from the layers below it. */
  readonly whiteouts: readonly string[];
  /** Directories whose lower content this layer hides. */
  readonly opaqueDirs: readonly string[];
  readonly #leaves = new Map<string, LeafInode>();
  /** The entries in order, when they came clean and ordered (the map is then made on first use). */
  readonly #ordered: readonly Entry[] | undefined;
  #byPath: Map<string, Entry> | undefined;

  private constructor(entries: Map<string, Entry> | readonly Entry[], whiteouts: string[], opaqueDirs: string[]) {
    if (entries instanceof Map) this.#byPath = entries;
    else this.#ordered = entries;
    this.whiteouts = whiteouts;
    this.opaqueDirs = opaqueDirs;
  }

  /**
   * Entries by normalized path, sorted parents-first (byte order). Hardlinks
   * keep their `linkname`, normalized. For a layer given as clean, ordered
   * entries (a build's own) the map is made when first asked for: a layer
   * that is only written and saved never needs one (a 100,000-file COPY's
   * would be megabytes).
   */
  get entries(): ReadonlyMap<string, Entry> {
    this.#byPath ??= new Map(this.#ordered!.map((e) => [e.path, e]));
    return this.#byPath;
  }

  /**
   * The entries in path order (the values of {@link entries}), without
   * making the map.
   *
   * @example
   * ```ts
   * for (const entry of index.ordered()) console.log(entry.path);
   * ```
   */
  ordered(): Iterable<Entry> {
    return this.#ordered ?? this.#byPath!.values();
  }

  /**
   * Indexes a layer given as entries (in any order). `.wh.<name>` entries
   * become whiteouts, `.wh..wh..opq` makes its directory opaque, other
   * `.wh..wh.*` names (AUFS metadata) are dropped. A path listed twice keeps
   * its last entry, as tar extraction would.
   *
   * @throws {@link InvalidLayerError} for `.wh.`, `.wh..`, `.wh...`, paths that climb above the root, NUL bytes.
   */
  static fromEntries(entries: Iterable<Entry>, options: LayerIndexOptions = {}): LayerIndex {
    const layer = options.position;
    // Entries usually arrive clean and in order (a build's own layers): then they are kept in a
    // list as given, not copied (a copy per entry was a fifth of the heap left after a 100,000-file
    // COPY), and the map by path is made only when asked for. The first entry out of order (or
    // a path given twice) moves what came so far into the map, which takes the rest.
    const ordered: Entry[] = [];
    let byPath: Map<string, Entry> | undefined;
    const whiteouts = new Set<string>();
    const opaque = new Set<string>();
    let last: string | undefined;
    for (const raw of entries) {
      const path = isClean(raw.path) ? raw.path : normalizeEntryPath(raw.path, layer);
      const name = baseName(path);
      // Below an AUFS metadata directory (`.wh..wh.plnk/…`): not part of the file system.
      if (path.slice(0, path.length - name.length).includes('/' + WHITEOUT_PREFIX)) continue;
      if (name.startsWith(WHITEOUT_PREFIX)) {
        const dir = parentPath(path);
        if (name === OPAQUE_MARKER) opaque.add(dir);
        else if (name.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) continue;
        else {
          const target = name.slice(WHITEOUT_PREFIX.length);
          if (target === '' || target === '.' || target === '..') {
            throw new InvalidLayerError(`invalid whiteout name ${JSON.stringify(name)}`, withLayer({ path }, layer));
          }
          whiteouts.add(joinPath(dir, target));
        }
        continue;
      }
      let entry = raw;
      if (raw.type === 'hardlink') {
        if (raw.linkname === undefined) throw new InvalidLayerError('hardlink without a target', withLayer({ path }, layer));
        const linkname = isClean(raw.linkname) ? raw.linkname : normalizeEntryPath(raw.linkname, layer);
        if (path !== raw.path || linkname !== raw.linkname) entry = { ...raw, path, linkname };
      } else if (path !== raw.path) entry = { ...raw, path };
      if (byPath === undefined) {
        if (last === undefined || comparePaths(last, path) < 0) {
          ordered.push(entry);
          last = path;
          continue;
        }
        byPath = new Map(ordered.splice(0).map((e) => [e.path, e]));
      }
      byPath.delete(path);
      byPath.set(path, entry);
    }
    const sorted = byPath === undefined ? ordered : new Map([...byPath].sort((a, b) => comparePaths(a[0], b[0])));
    return new LayerIndex(sorted, [...whiteouts].sort(comparePaths), [...opaque].sort(comparePaths));
  }

  /** Number of entries (whiteouts and markers not counted). */
  get size(): number {
    return this.#byPath?.size ?? this.#ordered!.length;
  }

  /**
   * The frozen inode for a non-directory, non-hardlink entry of this layer:
   * the same object in every stack, so stacks share their files.
   * @internal
   */
  leafFor(entry: Entry): LeafInode {
    let leaf = this.#leaves.get(entry.path);
    if (!leaf) {
      leaf = leafFromEntry(entry);
      this.#leaves.set(entry.path, leaf);
    }
    return leaf;
  }
}

function withLayer(data: { path: string }, layer: number | undefined): { path: string; layer?: number } {
  return layer === undefined ? data : { ...data, layer };
}

/**
 * Whether `path` is already what {@link normalizeEntryPath} makes of it:
 * absolute, no empty, `.` or `..` component, no trailing slash, no NUL.
 */
function isClean(path: string): boolean {
  if (path.charCodeAt(0) !== 0x2f) return false;
  if (path.length === 1) return true;
  if (path.charCodeAt(path.length - 1) === 0x2f || path.includes('\0') || path.includes('//')) return false;
  return !(path.includes('/./') || path.includes('/../') || path.endsWith('/.') || path.endsWith('/..'));
}

/** Metadata of an entry, with the tar's whole-second mtime as all three times. */
export function metaFromEntry(entry: Entry): Meta {
  const ms = entry.mtime * 1000;
  const meta: Meta = { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, atimeMs: ms, mtimeMs: ms, ctimeMs: ms };
  if (entry.xattrs && Object.keys(entry.xattrs).length > 0) meta.xattrs = entry.xattrs;
  return meta;
}

/**
 * Each kind of leaf is one object literal with all its fields: built as
 * `{ ...base, type, … }` every leaf got a hidden class of its own in V8,
 * which made a 100,000-file layer's leaves 25 MB heavier.
 */
function leafFromEntry(entry: Entry): LeafInode {
  switch (entry.type) {
    case 'file':
      return { type: 'file', ino: allocIno(), meta: metaFromEntry(entry), upper: false, nlink: 1, content: FileContent.fromSource(entry.content) };
    case 'symlink':
      return { type: 'symlink', ino: allocIno(), meta: metaFromEntry(entry), upper: false, nlink: 1, target: entry.linkname ?? '' };
    case 'char':
    case 'block':
    case 'fifo':
      return { type: entry.type, ino: allocIno(), meta: metaFromEntry(entry), upper: false, nlink: 1, devmajor: entry.devmajor ?? 0, devminor: entry.devminor ?? 0 };
    default:
      throw new InvalidLayerError(`entry of type ${entry.type} has no inode of its own`, { path: entry.path });
  }
}
