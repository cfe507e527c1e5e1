/**
 * The layer of an overlay step: the upperdir's entries (the layers module's
 * `overlayUpperEntries` turns overlayfs whiteouts and opaque directories into
 * OCI markers), minus what overlayfs copied up without the command changing
 * it, with owners put right when the step ran in a user namespace.
 *
 * Only the upperdir is walked, plus one lookup in the stage's view per
 * upper entry: the cost follows what the command touched, not the size of
 * the root file system.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry } from '../layers/entry.js';
import { overlayUpperEntries } from '../layers/overlay.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../layers/changes/whiteout.js';
import type { UnionFS } from '../unionfs/union.js';
import { toNamespace, type IdMap } from './id-map.js';
import { readTreeXattrs } from './xattrs.js';

/** How upper files' owners map to the image's. */
export interface OwnerMapping {
  /** The host uid/gid the namespace's ids all map to (rootless), or undefined (ids are real). */
  hostIds?: { uid: number; gid: number };
  /** The step's user: the owner of what it created (rootless). */
  stepUser: { uid: number; gid: number };
  /**
   * Rootless with subordinate ids: the owners (namespace ids) and modes of
   * what was not root's when the command ended, by path; everything else is
   * root's (see `id-map.ts`). Replaces the guesswork of {@link hostIds}.
   */
  recorded?: ReadonlyMap<string, { uid: number; gid: number; mode: number }>;
  /** With {@link recorded}, for the copy strategy: the image's owners that are not root's, by path. */
  imageOwners?: ReadonlyMap<string, { uid: number; gid: number }>;
  /**
   * With {@link recorded}: the map, for objects not handed back (a container
   * still running): their host ids are translated.
   */
  idMap?: IdMap;
}

/**
 * An entry with its owner in the namespace: an object still owned by a
 * subordinate id is translated; one handed back to the caller has the owner
 * (and mode: chown cleared set-id bits) recorded for it, else it is root's.
 */
export function withRecorded(entry: Entry, recorded: NonNullable<OwnerMapping['recorded']>, idMap?: IdMap, caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }): Entry {
  if (idMap && (entry.uid !== caller.uid || entry.gid !== caller.gid)) {
    return { ...entry, uid: toNamespace(idMap.uids, entry.uid, caller.uid) ?? entry.uid, gid: toNamespace(idMap.gids, entry.gid, caller.gid) ?? entry.gid };
  }
  const rec = recorded.get(entry.path);
  if (!rec) return { ...entry, uid: 0, gid: 0 };
  return entry.type === 'symlink' || entry.type === 'hardlink' ? { ...entry, uid: rec.uid, gid: rec.gid } : { ...entry, uid: rec.uid, gid: rec.gid, mode: rec.mode };
}

const isMarker = (path: string) => path.slice(path.lastIndexOf('/') + 1).startsWith(WHITEOUT_PREFIX);

/**
 * The entries of the step's change from its upperdir, in canonical order.
 *
 * @example
 * ```ts
 * const entries = await upperEntries(join(stepDir, 'u'), ctx.rootfs, { stepUser: step.user });
 * const layer = entries.length > 0 ? layerFromEntries(entries, { sourceDateEpoch }) : null;
 * ```
 */
export async function upperEntries(upper: string, lower: UnionFS, owners: OwnerMapping, options: { whiteoutMtime?: number } = {}): Promise<Entry[]> {
  // One getfattr run over the upperdir (overlayUpperEntries would first probe for the tool).
  const xattrs = await readTreeXattrs(upper);
  const reader = {
    read: async (paths: readonly string[]) => new Map(paths.flatMap((p) => (xattrs.has(p) ? [[p, xattrs.get(p)!] as const] : []))),
  };
  const raw = await overlayUpperEntries(upper, { xattrs: reader, ...(options.whiteoutMtime === undefined ? {} : { whiteoutMtime: options.whiteoutMtime }) });
  const entries: Entry[] = [];
  for (const entry of raw) {
    if (entry.path.endsWith('/' + OPAQUE_WHITEOUT)) {
      // overlayfs marks every directory made over a whiteout opaque, and the mark moves with
      // a rename; it hides something only where the image has a directory.
      const dir = entry.path.slice(0, -OPAQUE_WHITEOUT.length - 1) || '/';
      if ((await lower.lstat(dir).catch(() => undefined))?.isDirectory()) entries.push(entry);
      continue;
    }
    if (isMarker(entry.path)) {
      entries.push(entry);
      continue;
    }
    entries.push(owners.recorded ? withRecorded(entry, owners.recorded, owners.idMap) : owners.hostIds ? await remapOwner(entry, lower, owners) : entry);
  }
  return prune(entries, upper, lower);
}

/**
 * In a user namespace every id maps to one host id, so the upperdir cannot
 * say who owns what: a copied-up object keeps its owner from the image (the
 * command could not have changed it to anything else that the host can
 * record), a new one belongs to the step's user.
 */
async function remapOwner(entry: Entry, lower: UnionFS, owners: OwnerMapping): Promise<Entry> {
  const below = await lower.lstat(entry.path).catch(() => undefined);
  const sameType =
    below &&
    ((entry.type === 'dir' && below.isDirectory()) ||
      (entry.type === 'file' && below.isFile()) ||
      (entry.type === 'symlink' && below.isSymbolicLink()));
  if (sameType) return { ...entry, uid: below.uid, gid: below.gid };
  return { ...entry, uid: owners.stepUser.uid, gid: owners.stepUser.gid };
}

/**
 * Drops what overlayfs copied up but the command left as it was: a file,
 * symlink or directory whose type, mode, owner, mtime (and content, or
 * target) equal the image's. Copy-up happens on any open for writing, so
 * without this an `>> file` of nothing would put the file in the layer; it
 * is also what a tree diff (the `copy` strategy, buildah) reports.
 * Directories go only when nothing below them remains.
 */
async function prune(entries: Entry[], upper: string, lower: UnionFS): Promise<Entry[]> {
  const linked = new Set(entries.filter((e) => e.type === 'hardlink').flatMap((e) => [e.path, e.linkname!]));
  const opaque = new Set(entries.filter((e) => e.path.endsWith('/' + OPAQUE_WHITEOUT)).map((e) => e.path.slice(0, -OPAQUE_WHITEOUT.length - 1) || '/'));
  const keep = new Array<boolean>(entries.length).fill(true);
  const aboveKept = new Set<string>();
  // Deepest first, so a directory knows whether anything below it stayed.
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    const hasKeptChild = aboveKept.has(entry.path);
    if (!isMarker(entry.path) && !linked.has(entry.path) && !(entry.type === 'dir' && (hasKeptChild || opaque.has(entry.path)))) {
      if (await unchanged(entry, upper, lower)) {
        keep[i] = false;
        continue;
      }
    }
    for (let p = entry.path; p !== '/'; ) {
      p = p.slice(0, p.lastIndexOf('/')) || '/';
      if (aboveKept.has(p)) break;
      aboveKept.add(p);
    }
  }
  return entries.filter((_, i) => keep[i]);
}

async function unchanged(entry: Entry, upper: string, lower: UnionFS): Promise<boolean> {
  const below = await lower.lstat(entry.path).catch(() => undefined);
  if (!below) return false;
  const sameMeta =
    (below.mode & 0o7777) === entry.mode && below.uid === entry.uid && below.gid === entry.gid && Math.floor(below.mtimeMs / 1000) === entry.mtime;
  if (!sameMeta) return false;
  switch (entry.type) {
    case 'dir':
      return below.isDirectory();
    case 'symlink':
      return below.isSymbolicLink() && (await lower.readlink(entry.path)) === entry.linkname;
    case 'file': {
      if (!below.isFile() || below.size !== entry.size) return false;
      const [a, b] = await Promise.all([lower.readFile(entry.path), readFile(join(upper, entry.path))]);
      return Buffer.compare(a as Buffer, b) === 0;
    }
    default:
      return false;
  }
}
