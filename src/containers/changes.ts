/**
 * What a container changed: its writable layer (the overlayfs upper kept in
 * its directory) as OCI layer entries, and `docker diff`'s view of them.
 * Only the upper is walked, plus a lookup in the image per entry, so the
 * cost follows what the container touched, not the image's size.
 * @module
 */
import type { Entry } from '../layers/entry.js';
import { comparePaths } from '../layers/entry.js';
import { classifyPath } from '../layers/changes/whiteout.js';
import { childPath } from '../layers/path.js';
import type { UnionChange } from '../unionfs/commit.js';
import type { UnionFS } from '../unionfs/union.js';
import { upperEntries } from '../sandbox/upper-layer.js';
import { readOwners, type IdMap } from '../sandbox/id-map.js';
import type { ContainerSpec } from './state.js';

/**
 * The writable layer's entries in canonical order, as the RUN executor
 * makes a layer from an upper: overlay markers turned into OCI whiteouts and
 * opaque directories, copied-up but unchanged objects left out, owners put
 * right when the container ran in a user namespace (`rootless`).
 */
export async function writableEntries(
  upper: string,
  image: UnionFS,
  spec: Pick<ContainerSpec, 'user'>,
  options: { rootless: boolean; whiteoutMtime?: number; ids?: { map: IdMap; owners: string } },
): Promise<Entry[]> {
  const stepUser = { uid: spec.user.uid, gid: spec.user.gid };
  const hostIds = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  // Subordinate ids: what the container made is owned by them while it runs, handed back with a list when it stops.
  const owners = options.ids
    ? { hostIds, stepUser, recorded: await readOwners(options.ids.owners), idMap: options.ids.map }
    : options.rootless
      ? { hostIds, stepUser }
      : { stepUser };
  return upperEntries(upper, image, owners, options.whiteoutMtime === undefined ? {} : { whiteoutMtime: options.whiteoutMtime });
}

/**
 * `docker diff` of a writable layer against the image: `add` (Docker's `A`)
 * for a path the image does not have, `modify` (`C`) for one it has
 * (directories that hold a change included), `delete` (`D`) for a whiteout's
 * target and for every child an opaque directory hides. Parents before children, siblings in byte order.
 *
 * @example
 * ```ts
 * containerChanges(entries, imageView); // [{ kind: 'modify', path: '/srv' }, { kind: 'add', path: '/srv/made.txt' }]
 * ```
 */
export async function containerChanges(entries: readonly Entry[], image: UnionFS): Promise<UnionChange[]> {
  const inLayer = new Set(entries.map((e) => e.path));
  const out: UnionChange[] = [];
  for (const entry of entries) {
    const what = classifyPath(entry.path);
    if (what.kind === 'whiteout') {
      out.push({ kind: 'delete', path: what.target });
    } else if (what.kind === 'opaque') {
      const children = await image.readdir(what.dir).catch(() => [] as string[]);
      for (const name of children) {
        const path = childPath(what.dir, String(name));
        if (!inLayer.has(path)) out.push({ kind: 'delete', path });
      }
    } else if (entry.path !== '/') {
      const before = await image.lstat(entry.path).catch(() => undefined);
      out.push({ kind: before ? 'modify' : 'add', path: entry.path });
    }
  }
  return out.sort((a, b) => comparePaths(a.path, b.path));
}
