/**
 * Changes → the entries of a layer changeset (OCI layer.md "Representing
 * Changes"): added and modified paths in full, deletions as whiteouts.
 * @module
 */
import type { Entry } from '../entry.js';
import { layerFromEntries, type LayerFromEntriesOptions } from '../from-entries.js';
import type { Layer } from '../layer.js';
import { comparePaths } from '../entry.js';
import { ancestorPaths } from '../path.js';
import type { Tree } from '../tree.js';
import type { Change } from './diff.js';
import { InvalidEntryError } from '../errors.js';
import { LayerFormatError } from './errors.js';
import { opaquePath, whiteoutPath } from './whiteout.js';

/** Options for {@link changesToEntries}. */
export interface ChangesToEntriesOptions {
  /**
   * The mtime of whiteout and opaque markers (seconds). Default: 0, or
   * `sourceDateEpoch` when given. Never the wall clock: moby stamps whiteouts
   * with the time of export, which makes layers irreproducible (notes §2).
   */
  whiteoutMtime?: number;
  /** SOURCE_DATE_EPOCH; used as the whiteout mtime when `whiteoutMtime` is not given. */
  sourceDateEpoch?: number;
}

/**
 * The entries of the layer that turns the lower tree into `upper`, sorted in
 * walk order (parents first).
 *
 * - `add`/`modify`: the upper entry in full. For a path hardlinked with
 *   others in `upper`, the whole group is written — members the changes do
 *   not name too (they survive in the lower tree, but a changeset does not
 *   record links to files outside it, OCI layer.md "Hardlinks") — the first
 *   path in canonical order in full and every other one as a `hardlink` to
 *   it. The layer then extracts on its own, and applying it keeps the group
 *   linked.
 * - `delete`: an empty regular file `<dir>/.wh.<name>`, mode 0600, owner 0:0.
 * - opaque `modify` of a directory: the directory plus `<dir>/.wh..wh..opq`.
 * - **parent policy**: every ancestor directory of a written entry is written
 *   too, with its metadata from `upper`, so the layer extracts on its own with
 *   the right directory modes and owners. (A diff already reports them as
 *   modified; changes from elsewhere may not.) The root `/` is written only
 *   when a change names it.
 *
 * @throws {@link LayerFormatError} when an added or modified path is missing from `upper`.
 * @example
 * ```ts
 * const entries = changesToEntries(diff(before, after), after);
 * const next = applyEntries(before, entries); // ≡ after
 * ```
 */
export function changesToEntries(changes: Iterable<Change>, upper: Tree, options: ChangesToEntriesOptions = {}): Entry[] {
  const markerMtime = options.whiteoutMtime ?? options.sourceDateEpoch ?? 0;
  const marker = (path: string): Entry => ({ path, type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: markerMtime, size: 0 });
  const out = new Map<string, Entry>();
  const changed = new Set<string>();
  const withParents = (path: string): void => {
    for (const dir of ancestorPaths(path)) {
      if (out.has(dir)) continue;
      const entry = upper.get(dir);
      if (!entry || entry.type !== 'dir') {
        throw new LayerFormatError('NOT_A_DIRECTORY', path, `parent ${dir} is not a directory in the upper tree`);
      }
      out.set(dir, entry);
    }
  };
  for (const change of changes) {
    if (change.kind === 'delete') {
      const path = whiteoutPath(change.path);
      withParents(path);
      out.set(path, marker(path));
      continue;
    }
    const entry = upper.get(change.path);
    if (!entry) throw new InvalidEntryError(change.path, `${change.kind} of a path missing from the upper tree`);
    withParents(change.path);
    out.set(change.path, entry);
    changed.add(change.path);
    if (change.opaque && entry.type === 'dir') out.set(opaquePath(change.path), marker(opaquePath(change.path)));
  }
  const linked = new Set<string>();
  for (const path of changed) {
    if (linked.has(path)) continue;
    const group = upper.hardlinks(path);
    if (group.length < 2) continue;
    // Members the changes do not name survive in the lower tree. A layer
    // cannot link to them (OCI: links to files outside a changeset are not
    // recorded), so the whole group is written: the first path in canonical
    // order in full, every other one as a hardlink to it.
    const first = group[0]!;
    for (const member of group) {
      linked.add(member);
      withParents(member);
      const entry = upper.get(member)!;
      if (member === first) {
        out.set(member, entry);
      } else {
        const { content: _content, ...metadata } = entry;
        out.set(member, { ...metadata, type: 'hardlink', size: 0, linkname: first });
      }
    }
  }
  return [...out.values()].sort((a, b) => comparePaths(a.path, b.path));
}

/** Options for {@link toLayer}: whiteout stamping plus the layer's compression and epoch. */
export interface ToLayerOptions extends ChangesToEntriesOptions, LayerFromEntriesOptions {}

/**
 * The layer of a changeset: {@link changesToEntries} written by the
 * deterministic tar writer (`layerFromEntries`). With `sourceDateEpoch`,
 * every mtime is clamped to it and whiteouts are stamped with it.
 *
 * @example
 * ```ts
 * const layer = toLayer(diff(before, after), after, { sourceDateEpoch: 0 });
 * console.log(await layer.diffId());
 * ```
 */
export function toLayer(changes: Iterable<Change>, upper: Tree, options: ToLayerOptions = {}): Layer {
  return layerFromEntries(changesToEntries(changes, upper, options), options);
}
