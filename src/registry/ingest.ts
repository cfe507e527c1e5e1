/**
 * Layer blobs from a registry straight into the store's blob directory: one
 * verification (the download's own), atomic writes, several at a time, and
 * on failure every blob this pull created and nothing references is removed
 * again — the store ends as it began.
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest.js';
import { blobPath } from '../image/blob-source.js';
import { fsyncDirectory, temporaryPath } from '../image/fs-atomic.js';
import { referencedBlobs } from '../image/store/blobs.js';
import { withLock } from '../image/store/lock.js';
import { readRefs } from '../image/store/refs.js';
import type { ImageStore } from '../image/store/store.js';
import { forEachLimit } from './limit.js';

/**
 * Streams a blob into `target` through a temporary file in `tmpDir` (named so
 * the store's sweeper knows its writer), fsyncs, renames, fsyncs the
 * directory — the store's own crash-safety, written with a Node stream so
 * chunks queued while the disk is busy go out together in one writev.
 */
async function writeBlobAtomic(target: string, source: AsyncIterable<Uint8Array>, tmpDir: string): Promise<void> {
  await mkdir(tmpDir, { recursive: true });
  await mkdir(dirname(target), { recursive: true });
  const tmp = temporaryPath(tmpDir);
  try {
    // `flush`: the file is fsynced before the stream closes it.
    await pipeline(Readable.from(source, { objectMode: false }), createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1 << 20 }));
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirectory(dirname(target));
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
  try {
    await forEachLimit(blobs, concurrency, async (blob) => {
      if (await storeHasBlob(store, blob.digest, blob.size)) return;
      await writeBlobAtomic(join(store.root, blobPath(blob.digest)), blob.open(), tmpDir);
      created.push(blob.digest);
    });
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
