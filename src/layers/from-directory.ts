/**
 * Layers from a real directory: walk it with lstat, describe every object
 * as an entry, and write those entries.
 * @module
 */
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { comparePaths, type ContentSource, type Entry } from './entry.js';
import { layerFromEntries, type LayerFromEntriesOptions } from './from-entries.js';
import type { Layer } from './layer.js';

const READ_CHUNK = 1024 * 1024;

/** Reads the extended attributes of one path (absolute host path). */
export type XattrReader = (hostPath: string) => Promise<Readonly<Record<string, Uint8Array>> | undefined>;

/** Options of {@link layerFromDirectory} and {@link entriesFromDirectory}. */
export interface LayerFromDirectoryOptions extends LayerFromEntriesOptions {
  /** Write every entry with this owner instead of the files' own (e.g. `{ uid: 0, gid: 0 }`). */
  owner?: { uid: number; gid: number };
  /** Include the directory itself as the root entry `/` (default false, as most layers). */
  includeRoot?: boolean;
  /**
   * Extended attributes. Node has no xattr API, so by default (`'auto'`) they
   * are read with one `getfattr -R` run per walk when `getfattr` (Debian
   * package `attr`) is installed, and not at all otherwise. `security.selinux`
   * and `system.*` (host labels and ACLs) are left out. `false` reads none; a
   * function reads them your way.
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
  return {
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
  };
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
  const bulkXattrs = xattrMode === 'auto' ? await readXattrsWithGetfattr(dir) : undefined;
  const readXattrs: XattrReader | undefined = typeof xattrMode === 'function' ? xattrMode : undefined;

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
    const xattrs = bulkXattrs ? bulkXattrs.get(hostPath) : readXattrs ? await readXattrs(hostPath) : undefined;
    if (xattrs && Object.keys(xattrs).length > 0) entry.xattrs = xattrs;
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
  let walk: Promise<Entry[]> | undefined;
  return layerFromEntries(() => {
    walk ??= entriesFromDirectory(dir, options);
    return (async function* () {
      yield* await walk!;
    })();
  }, options);
}

async function findOnPath(tool: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** getfattr prints names with `\ooo` escapes for bytes it considers unprintable (and for `\`). */
function unescapeOctal(bytes: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c && i + 3 < bytes.length && isOctal(bytes[i + 1]) && isOctal(bytes[i + 2]) && isOctal(bytes[i + 3])) {
      out.push(((bytes[i + 1]! - 0x30) << 6) | ((bytes[i + 2]! - 0x30) << 3) | (bytes[i + 3]! - 0x30));
      i += 3;
    } else out.push(b);
  }
  return Buffer.from(out).toString('utf8');
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x37;
}

function hexValue(text: string): Uint8Array {
  if (text.startsWith('0x')) return Uint8Array.from(Buffer.from(text.slice(2), 'hex'));
  if (text.startsWith('"') && text.endsWith('"')) return new TextEncoder().encode(text.slice(1, -1));
  return new Uint8Array(0);
}

/** One `getfattr -R` over the tree: host path → xattrs. Undefined when getfattr is absent or fails. */
async function readXattrsWithGetfattr(dir: string): Promise<Map<string, Record<string, Uint8Array>> | undefined> {
  const tool = await findOnPath('getfattr');
  if (!tool) return undefined;
  const stdout = await new Promise<Buffer | undefined>((resolve) => {
    execFile(
      tool,
      ['--absolute-names', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--', dir],
      { encoding: 'buffer', maxBuffer: 1 << 30 },
      // getfattr exits 1 when some file could not be read; what it printed is still valid.
      (err, out) => resolve(out && out.length > 0 ? out : err ? undefined : Buffer.alloc(0)),
    );
  });
  if (!stdout) return undefined;
  const result = new Map<string, Record<string, Uint8Array>>();
  let current: Record<string, Uint8Array> | undefined;
  let start = 0;
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start);
    if (end < 0) end = stdout.length;
    const line = stdout.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      current = {};
      result.set(unescapeOctal(line.subarray(8)), current);
      continue;
    }
    if (!current) continue;
    const text = unescapeOctal(line);
    const eq = text.indexOf('=');
    const name = eq < 0 ? text : text.slice(0, eq);
    if (name === 'security.selinux' || name.startsWith('system.')) continue;
    Object.defineProperty(current, name, { value: eq < 0 ? new Uint8Array(0) : hexValue(text.slice(eq + 1)), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
