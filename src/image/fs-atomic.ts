/**
 * Crash-safe file writes: write a temporary file beside the target, fsync
 * it, rename it over the target, fsync the directory. A reader sees the old
 * file or the new one, never half of one.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DigestMismatchError } from '../errors.js';

const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/**
 * A unique temporary name in `dir`: `.<hint>-<pid>-<host tag>-<random>`, so
 * cleanup can tell a live writer's file from a dead one's.
 */
export function temporaryPath(dir: string, hint = 'tmp'): string {
  return join(dir, `.${hint}-${process.pid}-${HOST_TAG}-${randomBytes(6).toString('hex')}`);
}

/** The writer of a temporary file named by {@link temporaryPath}, if the name is one. */
export function temporaryWriter(name: string): { pid: number; thisHost: boolean } | undefined {
  const match = /^\.[a-z]+-(\d+)-([0-9a-f]{8})-[0-9a-f]+$/.exec(name);
  if (!match) return undefined;
  return { pid: Number(match[1]), thisHost: match[2] === HOST_TAG };
}

/** Fsyncs a directory so a rename in it survives a crash (a no-op where directories cannot be opened). */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms and file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}

/**
 * Streams `source` into `target` atomically. `tmpDir` must be on the same file
 * system as `target` (default: the target's directory). On any error — from
 * the source, a verifier inside it, or the disk — the temporary file is
 * removed and the target is untouched.
 *
 * `durable: false` skips the fsyncs, for files whose loss in a crash is
 * harmless because readers treat a missing or torn file as absent (cache
 * records, saved indexes): the rename still keeps readers from seeing half
 * a file while the system runs.
 *
 * @example
 * ```ts
 * await writeFileAtomic(join(root, 'index.json'), bytes, { tmpDir: join(root, 'tmp') });
 * await writeFileAtomic(recordPath, ['{"key":', json, '}'], { tmpDir, durable: false });
 * ```
 */
export async function writeFileAtomic(
  target: string,
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | Uint8Array,
  options: { tmpDir?: string; mode?: number; durable?: boolean; hint?: string } = {},
): Promise<void> {
  const durable = options.durable ?? true;
  await replaceAtomically(target, options.tmpDir, options.hint ?? 'tmp', durable, async (tmp) => {
    const handle = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      if (source instanceof Uint8Array) {
        await handle.writeFile(source);
      } else {
        for await (const piece of source) {
          const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
          let written = 0;
          while (written < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
            written += bytesWritten;
          }
        }
      }
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/**
 * Puts the file `source` at `target` atomically without reading it through
 * this process: a hard link when `link` is set and both names are on one
 * file system (they then share the bytes, so only for files nobody writes
 * again), otherwise a copy made by the kernel (a reflink where the file
 * system has them). The placed file must have `size` bytes; if not, it is
 * removed and {@link DigestMismatchError} names `what`. The target gets
 * `mode` (default 0644) less the umask, is fsynced and renamed into place
 * as {@link writeFileAtomic} does.
 *
 * @example
 * ```ts
 * await placeFileAtomic(join(root, 'blobs/sha256', hex), stagedFile, { size, tmpDir: join(root, 'tmp'), link: true, what: 'layer blob' });
 * ```
 */
export async function placeFileAtomic(
  target: string,
  source: string,
  options: { size: number; what: string; tmpDir?: string; link?: boolean; mode?: number },
): Promise<void> {
  await replaceAtomically(target, options.tmpDir, 'place', true, async (tmp) => {
    // Created first as writeFileAtomic creates its files, to learn the mode the umask leaves (chmod ignores the umask).
    const probe = await open(tmp, 'wx', options.mode ?? 0o644);
    const mode = (await probe.stat().finally(() => probe.close())).mode & 0o7777;
    await rm(tmp);
    const linked = options.link === true && (await link(source, tmp).then(() => true, () => false));
    if (!linked) await copyFile(source, tmp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    const handle = await open(tmp, 'r');
    try {
      const { size } = await handle.stat();
      if (size !== options.size) throw new DigestMismatchError(`${options.what} size`, String(options.size), String(size));
      // The mode writeFileAtomic gives, whatever the source's was (a private staging file's is 0600).
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/**
 * The frame of both: `target`'s directories, a temporary name in `tmpDir`
 * (default: beside the target) that `fill` makes a complete file of, the
 * rename over `target`, and with `durable` the directory's fsync. Whatever
 * fails, the temporary file goes and the target is untouched.
 */
async function replaceAtomically(target: string, tmpDir: string | undefined, hint: string, durable: boolean, fill: (tmp: string) => Promise<void>): Promise<void> {
  const dir = dirname(target);
  await mkdir(tmpDir ?? dir, { recursive: true });
  await mkdir(dir, { recursive: true });
  const tmp = temporaryPath(tmpDir ?? dir, hint);
  try {
    await fill(tmp);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncDirectory(dir);
}

/** True when `path` exists (any type). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
