/**
 * Layer blobs from a registry straight into the store's blob directory: one
 * verification (the download's own), atomic writes, several at a time, and
 * on failure every blob this pull created and nothing references is removed
 * again — the store ends as it began.
 * @module
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Digest } from '../digest.js';
import { blobPath } from '../image/blob-source.js';
import { fsyncDirectory, temporaryPath } from '../image/fs-atomic.js';
import { referencedBlobs } from '../image/store/blobs.js';
import { withLock } from '../image/store/lock.js';
import { readRefs } from '../image/store/refs.js';
import type { ImageStore } from '../image/store/store.js';
import { forEachLimit } from './limit.js';

/**
 * Streams a verified blob into a temporary file in `tmpDir` (named so the
 * store's sweeper knows its writer). Chunks go straight into a Node write
 * stream — no `Readable` wrapped around the source, which cost about a tenth
 * of a pull's CPU — and chunks queued while the disk is busy still go out
 * together in one writev. The file is removed again if the source or the
 * disk fails (a digest mismatch throws at the source's end).
 */
async function writeTemporary(source: AsyncIterable<Uint8Array>, tmpDir: string): Promise<string> {
  const tmp = temporaryPath(tmpDir);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 });
  // A write error while the source is being read is kept and thrown at the next chunk.
  let failed: { error: unknown } | undefined;
  out.on('error', (error) => void (failed ??= { error }));
  try {
    for await (const chunk of source) {
      if (failed) throw failed.error;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    await finished(out).catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  return tmp;
}

/** The store's crash safety: the content reaches the disk before the name does. */
async function commitTemporary(tmp: string, target: string): Promise<void> {
  const handle = await open(tmp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await mkdir(dirname(target), { recursive: true });
  await rename(tmp, target);
}

/** True when the store has a blob file of that size. */
export async function storeHasBlob(store: ImageStore, digest: Digest, size: number): Promise<boolean> {
  try {
    return (await stat(join(store.root, blobPath(digest))).then((s) => s.size)) === size;
  } catch {
    return false;
  }
}

/** A blob to bring into the store: its digest, size and a verified stream of it. */
export interface IngestBlob {
  digest: Digest;
  size: number;
  /** Must throw before its end if the bytes are not what `digest` names. */
  open: () => AsyncIterable<Uint8Array>;
}

/**
 * Runs `commit` after writing every missing blob (`concurrency` at a time)
 * into the store. If writing or `commit` fails, the blobs written here that
 * no stored image references are removed (under the store's lock).
 */
export async function ingestBlobs<T>(store: ImageStore, blobs: readonly IngestBlob[], concurrency: number, commit: () => Promise<T>): Promise<T> {
  const created: Digest[] = [];
  const tmpDir = join(store.root, 'tmp');
  // A blob's fsync and rename run while the next blob downloads: the download slot is not held
  // waiting for the disk (which, on a busy machine, is where a pull's time would go).
  const commits: Array<Promise<void>> = [];
  try {
    await mkdir(tmpDir, { recursive: true });
    try {
      await forEachLimit(blobs, concurrency, async (blob) => {
        if (await storeHasBlob(store, blob.digest, blob.size)) return;
        const tmp = await writeTemporary(blob.open(), tmpDir);
        const target = join(store.root, blobPath(blob.digest));
        const committed = commitTemporary(tmp, target).then(
          () => void created.push(blob.digest),
          async (err: unknown) => {
            await rm(tmp, { force: true });
            throw err;
          },
        );
        // Settled together below; marked handled now so a failure is not reported as unhandled meanwhile.
        committed.catch(() => {});
        commits.push(committed);
      });
    } finally {
      const settled = await Promise.allSettled(commits);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    for (const dir of new Set(created.map((d) => dirname(join(store.root, blobPath(d)))))) await fsyncDirectory(dir);
    return await commit();
  } catch (err) {
    if (created.length > 0) {
      await withLock(join(store.root, 'lock'), async () => {
        const referenced = await referencedBlobs(store.root, await readRefs(store.root));
        for (const digest of created) if (!referenced.has(digest)) await rm(join(store.root, blobPath(digest)), { force: true });
      }).catch(() => {});
    }
    throw err;
  }
}
