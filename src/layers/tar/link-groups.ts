/**
 * Hardlink groups in the canonical form a tar needs: extractors (GNU tar,
 * umoci, containerd) create a hardlink with link(2), so its target must be
 * extracted before it. In canonical order the first path of a group carries
 * the content and every later path is a `hardlink` naming that first path —
 * whichever member the entries happened to describe in full.
 * @module
 */
import { LayerFormatError } from '../changes/errors.js';
import type { Entry } from '../entry.js';

/** What to do with a hardlink whose target is not among the entries. */
export type ExternalHardlinks = 'reject' | 'keep';

/**
 * Rewrites `sorted` (entries in canonical order, no duplicates) in place so
 * that every hardlink group is in canonical form:
 *
 * - chains (`/c` → `/b` → `/a`) are followed to the member that is not a
 *   hardlink (the holder of the content and metadata);
 * - the first path of the group in canonical order becomes that holder (its
 *   path, the holder's type, metadata and content), and every other path a
 *   `hardlink` to it, with the holder's metadata if it was the holder.
 *
 * Entries are replaced, never mutated. A group already in canonical form is
 * left exactly as given.
 *
 * A hardlink whose target is not in the list refers to a lower layer. OCI
 * layer.md says a changeset does not record links to files outside it
 * ("the linkname is not recorded") and that extracting such a link "may
 * fail", so by default it is refused; `'keep'` writes it as given (for
 * re-writing an existing layer that has one).
 *
 * @throws {@link LayerFormatError} `HARDLINK_TARGET_MISSING` for a target that
 *   is missing (with `'reject'`), a directory, or a cycle of hardlinks.
 */
export function canonicalizeLinkGroups(sorted: Entry[], external: ExternalHardlinks = 'reject'): void {
  let anyLink = false;
  for (let i = 0; i < sorted.length && !anyLink; i++) anyLink = sorted[i]!.type === 'hardlink';
  if (!anyLink) return;

  const indexOf = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) indexOf.set(sorted[i]!.path, i);

  // holder index → indices of the hardlinks that end at it, in canonical order.
  const groups = new Map<number, number[]>();
  for (let i = 0; i < sorted.length; i++) {
    const link = sorted[i]!;
    if (link.type !== 'hardlink') continue;
    const holder = holderOf(sorted, indexOf, i);
    if (holder === undefined) {
      if (external === 'keep') continue;
      throw new LayerFormatError(
        'HARDLINK_TARGET_MISSING',
        link.path,
        `hardlink target ${link.linkname} is not in this layer (OCI changesets do not record links to files outside them)`,
      );
    }
    const members = groups.get(holder);
    if (members) members.push(i);
    else groups.set(holder, [i]);
  }

  for (const [holderIndex, links] of groups) {
    const firstIndex = Math.min(holderIndex, links[0]!);
    const holder = sorted[holderIndex]!;
    const firstPath = sorted[firstIndex]!.path;
    if (firstIndex !== holderIndex) {
      const { content: _content, ...metadata } = holder;
      sorted[firstIndex] = { ...holder, path: firstPath };
      sorted[holderIndex] = { ...metadata, type: 'hardlink', size: 0, linkname: firstPath };
    }
    for (const i of links) {
      if (i === firstIndex) continue;
      const link = sorted[i]!;
      if (link.linkname !== firstPath) sorted[i] = { ...link, linkname: firstPath };
    }
  }
}

/** The index of the non-hardlink entry a hardlink chain ends at; undefined when it leaves the list. */
function holderOf(sorted: readonly Entry[], indexOf: ReadonlyMap<string, number>, start: number): number | undefined {
  let at = start;
  for (let hops = 0; hops <= sorted.length; hops++) {
    const next = indexOf.get(sorted[at]!.linkname!);
    if (next === undefined) return undefined;
    const entry = sorted[next]!;
    if (entry.type === 'dir') {
      throw new LayerFormatError('HARDLINK_TARGET_MISSING', sorted[start]!.path, `hardlink target ${entry.path} is a directory`);
    }
    if (entry.type !== 'hardlink') return next;
    at = next;
  }
  throw new LayerFormatError('HARDLINK_TARGET_MISSING', sorted[start]!.path, 'hardlinks form a cycle with no file');
}
