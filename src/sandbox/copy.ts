/**
 * The `copy` strategy, for kernels or file systems that refuse overlayfs:
 * the stage's view is materialized into a directory of the step, indexed
 * with one `lstat` per path (the stat index), the command runs on it, and
 * the directory is walked again and compared with the index.
 *
 * The comparison takes the stat fast path: an object whose type, inode,
 * mode, owner, size, mtime and ctime are unchanged was not touched. When
 * only the ctime moved (a rewrite with the same size and mtime, a link
 * count change) the file's content is compared with the image's. Results
 * follow overlayfs's, so both strategies make the same layer for the same
 * command: a directory removed and made again (new inode or birth time) is
 * opaque; a file linked to a new name is in the layer with its links.
 * @module
 */
import { lstat, readdir, readFile, readlink, rmdir, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext } from './executor.js';
import { comparePaths, type Entry } from '../layers/entry.js';
import { fileSource } from '../layers/from-directory.js';
import { OPAQUE_WHITEOUT, whiteoutPath } from '../layers/changes/whiteout.js';
import type { UnionFS } from '../unionfs/union.js';
import { writeStubs } from './files.js';
import type { MountPoint } from './rootfs-paths.js';
import { withRecorded, type OwnerMapping } from './upper-layer.js';
import { readXattrs } from './xattrs.js';

/** What the executor does with a copy-strategy step. */
export interface CopyRun {
  /** The materialized root file system. */
  dir: string;
  /** Creates mount-point stubs (removed again before the diff). */
  addStubs(points: MountPoint[]): Promise<void>;
  /** Paths the setup creates on purpose (the workdir): stubs there stay. */
  keep(paths: string[]): void;
  /** The entries of the command's change. */
  changes(owners: OwnerMapping, options: { whiteoutMtime: number }): Promise<Entry[]>;
}

/** One path's stat index record. */
interface Snap {
  kind: 'dir' | 'file' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthNs: bigint;
  ino: bigint;
  nlink: bigint;
  rdev: bigint;
}

async function snap(host: string): Promise<Snap> {
  const st = await lstat(host, { bigint: true });
  const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
  return {
    kind,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    birthNs: st.birthtimeNs,
    ino: st.ino,
    nlink: st.nlink,
    rdev: st.rdev,
  };
}

/** The stat index of a tree, by image path (the root itself left out). */
async function indexTree(dir: string): Promise<Map<string, Snap>> {
  const index = new Map<string, Snap>();
  const visit = async (host: string, path: string): Promise<void> => {
    for (const name of await readdir(host)) {
      const childHost = join(host, name);
      const childPath = path === '/' ? `/${name}` : `${path}/${name}`;
      const s = await snap(childHost);
      index.set(childPath, s);
      if (s.kind === 'dir') await visit(childHost, childPath);
    }
  };
  await visit(dir, '/');
  return index;
}

const seconds = (ns: bigint) => Number(ns / 1_000_000_000n);
const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';

/** Materializes the view into `dir` and indexes it. */
export async function copyStrategy(ctx: RunContext, dir: string): Promise<CopyRun> {
  await ctx.rootfs.materialize(dir);
  const before = await indexTree(dir);
  const stubs: string[] = [];
  const kept = new Set<string>();
  const parentTimes = new Map<string, { orig: bigint; after?: bigint }>();
  return {
    dir,
    async addStubs(points) {
      for (const point of points) {
        const parent = point.path.slice(0, point.path.lastIndexOf('/')) || '/';
        if (!parentTimes.has(parent)) {
          const st = await lstat(join(dir, parent), { bigint: true }).catch(() => undefined);
          if (st) parentTimes.set(parent, { orig: st.mtimeNs });
        }
      }
      stubs.push(...(await writeStubs(dir, [], points, { onlyMissing: true })));
      for (const [parent, times] of parentTimes) {
        const st = await lstat(join(dir, parent), { bigint: true }).catch(() => undefined);
        if (st) times.after = st.mtimeNs;
      }
    },
    keep(paths) {
      for (const p of paths) kept.add(p);
    },
    async changes(owners, options) {
      await removeStubs(dir, stubs, kept, parentTimes);
      const after = await indexTree(dir);
      return diffIndexes(dir, before, after, ctx.rootfs, owners, options.whiteoutMtime);
    },
  };
}

/** Removes the stubs the command left as they were, and puts their parents' mtimes back where the command did not change them. */
async function removeStubs(dir: string, stubs: string[], kept: Set<string>, parentTimes: Map<string, { orig: bigint; after?: bigint }>): Promise<void> {
  const restore = new Map<string, bigint>();
  for (const [parent, times] of parentTimes) {
    const st = await lstat(join(dir, parent), { bigint: true }).catch(() => undefined);
    if (st) restore.set(parent, st.mtimeNs === times.after ? times.orig : st.mtimeNs);
  }
  for (const path of [...stubs].sort((a, b) => b.length - a.length)) {
    if (kept.has(path)) continue;
    const host = join(dir, path);
    const st = await lstat(host).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) await rmdir(host).catch(() => {});
    else if (st.isFile() && st.size === 0) await unlink(host);
  }
  for (const [parent, mtime] of [...restore].sort((a, b) => b[0].length - a[0].length)) {
    const host = join(dir, parent);
    const st = await lstat(host, { bigint: true }).catch(() => undefined);
    if (!st) continue;
    const ns = Number(mtime % 1_000_000_000n) / 1e9;
    await utimes(host, Number(st.atimeMs) / 1000, Number(mtime / 1_000_000_000n) + ns);
  }
}

async function diffIndexes(
  dir: string,
  before: Map<string, Snap>,
  after: Map<string, Snap>,
  view: UnionFS,
  owners: OwnerMapping,
  whiteoutMtime: number,
): Promise<Entry[]> {
  const changed = new Set<string>();
  const opaque = new Set<string>();
  // Directories whose whole content is new (created, or made again): everything below them is written.
  const fresh = new Set<string>();
  const paths = [...after.keys()].sort(comparePaths);
  for (const path of paths) {
    const now = after.get(path)!;
    const was = before.get(path);
    if (fresh.has(parentOf(path))) {
      changed.add(path);
      if (now.kind === 'dir') fresh.add(path);
      continue;
    }
    if (!was) {
      changed.add(path);
      if (now.kind === 'dir') fresh.add(path);
      continue;
    }
    if (was.kind !== now.kind || was.ino !== now.ino || (now.kind === 'dir' && was.birthNs !== now.birthNs)) {
      changed.add(path);
      if (now.kind === 'dir') {
        // A directory made again where the image had one: opaque (its old children are hidden).
        if (was.kind === 'dir') opaque.add(path);
        fresh.add(path);
      }
      continue;
    }
    let sameMeta = was.mode === now.mode && was.uid === now.uid && was.gid === now.gid && seconds(was.mtimeNs) === seconds(now.mtimeNs);
    if (owners.recorded) {
      // The copy's files were all the caller's before and after (see id-map.ts): compare the namespace's owners.
      const rec = owners.recorded.get(path) ?? { uid: 0, gid: 0, mode: now.mode };
      const image = owners.imageOwners?.get(path) ?? { uid: 0, gid: 0 };
      sameMeta = was.mode === rec.mode && image.uid === rec.uid && image.gid === rec.gid && seconds(was.mtimeNs) === seconds(now.mtimeNs);
    }
    if (!sameMeta) {
      changed.add(path);
      continue;
    }
    if (now.kind === 'file' && (was.size !== now.size || was.mtimeNs !== now.mtimeNs || was.ctimeNs !== now.ctimeNs)) {
      // Same metadata but touched: compare the bytes with the image's.
      const [a, b] = await Promise.all([view.readFile(path), readFile(join(dir, path))]);
      if (Buffer.compare(a as Buffer, b) !== 0) changed.add(path);
    } else if (now.kind === 'symlink' && was.ctimeNs !== now.ctimeNs) {
      if ((await view.readlink(path)) !== (await readlink(join(dir, path)))) changed.add(path);
    } else if (now.kind === 'other' && was.rdev !== now.rdev) {
      changed.add(path);
    }
  }
  // A file linked under a new name goes into the layer with all its names (overlayfs copies it up).
  const groups = new Map<bigint, string[]>();
  for (const path of paths) {
    const s = after.get(path)!;
    if (s.kind !== 'dir' && s.nlink > 1n) groups.set(s.ino, [...(groups.get(s.ino) ?? []), path]);
  }
  for (const group of groups.values()) if (group.some((p) => changed.has(p))) for (const p of group) changed.add(p);

  // Whiteouts: the top of each deleted subtree, unless a new object or a fresh directory covers it.
  const deleted: string[] = [];
  for (const path of [...before.keys()].sort(comparePaths)) {
    if (after.has(path)) continue;
    const parent = parentOf(path);
    if (parent !== '/') {
      const now = after.get(parent);
      if (!now || now.kind !== 'dir' || fresh.has(parent)) continue;
    }
    deleted.push(path);
  }

  // Ancestors of everything written.
  const written = new Set<string>(changed);
  for (const path of [...changed, ...deleted]) {
    for (let p = path.slice(0, path.lastIndexOf('/')) || '/'; p !== '/'; p = p.slice(0, p.lastIndexOf('/')) || '/') written.add(p);
  }
  const ordered = [...written].sort(comparePaths);
  const xattrs = await readXattrs(ordered.map((p) => join(dir, p)));
  const entries: Entry[] = [];
  const firstOfInode = new Map<bigint, string>();
  for (const path of ordered) {
    const s = after.get(path)!;
    const host = join(dir, path);
    let entry: Entry = { path, type: 'dir', mode: s.mode, uid: s.uid, gid: s.gid, mtime: seconds(s.mtimeNs), size: 0 };
    if (s.kind === 'file') {
      const first = s.nlink > 1n ? firstOfInode.get(s.ino) : undefined;
      if (first !== undefined) entry = { ...entry, type: 'hardlink', linkname: first };
      else {
        if (s.nlink > 1n) firstOfInode.set(s.ino, path);
        entry = { ...entry, type: 'file', size: Number(s.size), content: fileSource(host, Number(s.size)) };
      }
    } else if (s.kind === 'symlink') entry = { ...entry, type: 'symlink', linkname: await readlink(host) };
    else if (s.kind === 'other') {
      const st = await lstat(host);
      if (st.isFIFO()) entry = { ...entry, type: 'fifo' };
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        entry = { ...entry, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
      } else continue;
    }
    const x = xattrs.get(host);
    if (x && Object.keys(x).length > 0 && entry.type !== 'hardlink') entry.xattrs = x;
    if (owners.recorded) entry = withRecorded(entry, owners.recorded);
    else if (owners.hostIds) entry = await remap(entry, view, owners);
    entries.push(entry);
    if (opaque.has(path)) entries.push({ path: `${path}/${OPAQUE_WHITEOUT}`, type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: whiteoutMtime, size: 0 });
  }
  for (const path of deleted) entries.push({ path: whiteoutPath(path), type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: whiteoutMtime, size: 0 });
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}

async function remap(entry: Entry, view: UnionFS, owners: OwnerMapping): Promise<Entry> {
  const below = await view.lstat(entry.path).catch(() => undefined);
  const same = below && ((entry.type === 'dir' && below.isDirectory()) || (entry.type === 'file' && below.isFile()) || (entry.type === 'symlink' && below.isSymbolicLink()));
  return same ? { ...entry, uid: below.uid, gid: below.gid } : { ...entry, uid: owners.stepUser.uid, gid: owners.stepUser.gid };
}
