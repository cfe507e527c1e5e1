/**
 * Layers from a real directory: walk it with lstat, describe every object
 * as an entry, and write those entries.
 * @module
 */
import { closeSync, constants as fsConstants, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { comparePaths, OPEN_SYNC, type ContentSource, type Entry } from './entry.js';
import { layerFromWalk, type LayerFromEntriesOptions } from './from-entries.js';
import type { Layer } from './layer.js';
import { isHostXattr, readTreeXattrs, type BatchXattrReader } from './xattrs.js';

const READ_CHUNK = 1024 * 1024;

/**
 * Reads extended attributes of host files, many paths per call: the one
 * reader shape of layerkit (the `getfattr` reader has it; so can yours).
 */
export type XattrReader = BatchXattrReader;

/** Options of {@link layerFromDirectory} and {@link entriesFromDirectory}. */
export interface LayerFromDirectoryOptions extends LayerFromEntriesOptions {
  /** Write every entry with this owner instead of the files' own (e.g. `{ uid: 0, gid: 0 }`). */
  owner?: { uid: number; gid: number };
  /** Include the directory itself as the root entry `/` (default false, as most layers). */
  includeRoot?: boolean;
  /**
   * Extended attributes. Node has no xattr API, so by default (`'auto'`) they
   * are read with one `getfattr -R` run per walk (alongside the walk) when
   * `getfattr` (Debian package `attr`) is installed, and not at all otherwise. `security.selinux`
   * and `system.*` (host labels and ACLs) are left out. `false` reads none; an
   * {@link XattrReader} (`{ read(paths) }`) reads them your way.
   */
  xattrs?: 'auto' | false | XattrReader;
}

/**
 * A content source over a file on disk: read in 1 MiB chunks on every
 * `open()`, never held whole. A file that has grown since `size` was taken
 * yields the extra bytes too, so the tar writer reports the mismatch instead
 * of cutting the file silently.
 *
 * Reads are synchronous, one chunk per step of the stream: a page-cache read
 * takes microseconds, while an asynchronous one waits for a libuv pool
 * thread — the same threads the parallel compressor keeps busy. Measured on
 * a 5,000-file tree, synchronous reads halve the time to stream it.
 *
 * @example
 * ```ts
 * const st = await lstat('/etc/hosts');
 * const source = fileSource('/etc/hosts', st.size);
 * ```
 */
export function fileSource(hostPath: string, size: number): ContentSource {
  const source = {
    size,
    async *open() {
      const fd = openSync(hostPath, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
      try {
        let left = size;
        for (;;) {
          // On the last read ask for one byte more than expected: a file that grew shows it without another call.
          const want = left >= READ_CHUNK ? READ_CHUNK : left + 1;
          // A fresh buffer per chunk (small ones from Node's pool): consumers may keep chunks.
          const buffer = want < 4096 ? Buffer.allocUnsafe(want) : Buffer.allocUnsafeSlow(want);
          const bytesRead = readSync(fd, buffer, 0, want, null);
          if (bytesRead === 0) return;
          left -= bytesRead;
          yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
          if (left < 0 || (left === 0 && bytesRead < want)) return;
        }
      } finally {
        closeSync(fd);
      }
    },
    // The tar writer reads files straight into its output blocks through this.
    [OPEN_SYNC]() {
      const fd = openSync(hostPath, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
      return {
        read: (into: Uint8Array, offset: number, length: number) => readSync(fd, into, offset, length, null),
        close: () => closeSync(fd),
      };
    },
  };
  return source;
}

/** Linux dev_t → major/minor (glibc's gnu_dev_major/minor encoding). */
function deviceNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { devmajor: Number(major), devminor: Number(minor) };
}

/**
 * Walks `dir` (without following symlinks; synchronous lstat/readdir, for
 * the reason given at {@link fileSource}) and returns its entries in
 * canonical order: directories, files (contents read lazily from disk),
 * symlinks as symlinks, fifos and devices; a file with several links
 * becomes one `file` (the first path in canonical order) and `hardlink`
 * entries pointing at it. Sockets are skipped: tar cannot hold them.
 *
 * @example
 * ```ts
 * const entries = await entriesFromDirectory('./rootfs', { owner: { uid: 0, gid: 0 } });
 * ```
 */
export async function entriesFromDirectory(directory: string, options: LayerFromDirectoryOptions = {}): Promise<Entry[]> {
  const dir = resolve(directory);
  const entries: Entry[] = [];
  const inodes = new Map<string, Entry[]>();
  const xattrMode = options.xattrs ?? 'auto';
  // The getfattr run reads the tree while the walk below does: a process start costs more than the reading.
  const bulkXattrs = xattrMode === 'auto' ? readTreeXattrs(dir, { exclude: isHostXattr }) : undefined;
  const reader: XattrReader | undefined = typeof xattrMode === 'object' ? xattrMode : undefined;
  const hostPaths = bulkXattrs || reader ? new Map<Entry, string>() : undefined;

  const visit = async (hostPath: string, path: string): Promise<void> => {
    // Plain (number) stats are several times cheaper than bigint ones; the exact
    // 64-bit dev/ino/rdev are fetched only for the few objects that need them.
    const st = lstatSync(hostPath);
    const base = {
      path,
      mode: st.mode & 0o7777,
      uid: options.owner?.uid ?? st.uid,
      gid: options.owner?.gid ?? st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: 0,
    };
    let entry: Entry;
    if (st.isDirectory()) entry = { ...base, type: 'dir' };
    else if (st.isFile()) entry = { ...base, type: 'file', size: st.size, content: fileSource(hostPath, st.size) };
    else if (st.isSymbolicLink()) entry = { ...base, type: 'symlink', linkname: readlinkSync(hostPath) };
    else if (st.isFIFO()) entry = { ...base, type: 'fifo' };
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      entry = { ...base, type: st.isCharacterDevice() ? 'char' : 'block', ...deviceNumbers(lstatSync(hostPath, { bigint: true }).rdev) };
    } else return; // sockets, doors
    if (hostPaths) hostPaths.set(entry, hostPath);
    if (path !== '/' || options.includeRoot) entries.push(entry);
    if (entry.type !== 'dir' && st.nlink > 1) {
      const exact = lstatSync(hostPath, { bigint: true });
      const key = `${exact.dev}:${exact.ino}`;
      const group = inodes.get(key);
      if (group) group.push(entry);
      else inodes.set(key, [entry]);
    }
    if (entry.type === 'dir') {
      const names = readdirSync(hostPath);
      for (const name of names) await visit(join(hostPath, name), path === '/' ? `/${name}` : `${path}/${name}`);
    }
  };
  await visit(dir, '/');
  const found = reader ? await reader.read([...hostPaths!.values()]) : await bulkXattrs;
  if (found && found.size > 0) {
    for (const [entry, hostPath] of hostPaths!) {
      const xattrs = found.get(hostPath);
      if (xattrs && Object.keys(xattrs).length > 0) entry.xattrs = xattrs;
    }
  }

  entries.sort((a, b) => comparePaths(a.path, b.path));
  for (const group of inodes.values()) {
    if (group.length < 2) continue;
    group.sort((a, b) => comparePaths(a.path, b.path));
    const first = group[0]!;
    for (const link of group.slice(1)) {
      link.type = 'hardlink';
      link.linkname = first.path;
      link.size = 0;
      delete link.content;
    }
  }
  return entries;
}

/**
 * A layer holding the contents of `dir` (see {@link entriesFromDirectory}).
 * The walk happens once, when a getter first needs it; file contents are
 * read from disk on every stream, and a file changed between two streams is
 * caught by the digest check.
 *
 * @example
 * ```ts
 * const layer = layerFromDirectory('./rootfs', { owner: { uid: 0, gid: 0 }, sourceDateEpoch: 0 });
 * console.log(await layer.digest());
 * ```
 */
export function layerFromDirectory(dir: string, options: LayerFromDirectoryOptions = {}): Layer {
  return layerFromWalk(() => entriesFromDirectory(dir, options), options);
}
