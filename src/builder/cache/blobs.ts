/**
 * Layer blobs of the cache: `blobs/sha256/<hex>` under the cache directory,
 * written atomically and verified against their digest on the way in and
 * on every read.
 * @module
 */
import { createReadStream } from 'node:fs';
import { link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestHex, sha256Stream, type Digest } from '../../digest.js';
import { storedLayer } from '../../image/blob-layer.js';
import { placeFileAtomic, temporaryPath, writeFileAtomic } from '../../image/fs-atomic.js';
import { verified } from '../../image/streams.js';
import { ownBlobFile, type Layer } from '../../layers/layer.js';
import type { CachedLayer } from './records.js';

/** The path of a blob under a directory laid out as `blobs/sha256/<hex>`. */
export function blobFile(root: string, digest: Digest): string {
  return join(root, 'blobs', 'sha256', digestHex(digest));
}

/** True when the blob is present with the recorded size. */
export async function hasBlob(root: string, layer: CachedLayer): Promise<boolean> {
  const info = await stat(blobFile(root, layer.digest)).catch(() => undefined);
  return info !== undefined && info.isFile() && info.size === layer.size;
}

/**
 * Writes a layer's blob into the cache unless it is there already. A staged
 * layer's file (hashed as it was written) is hard-linked, or copied by the
 * kernel across file systems; any other layer is streamed and verified
 * against its digest on the way.
 */
export async function writeBlob(root: string, layer: Layer, info: CachedLayer, tmpDir: string): Promise<void> {
  if (await hasBlob(root, info)) return;
  const staged = ownBlobFile(layer);
  if (staged !== undefined) {
    await placeFileAtomic(blobFile(root, info.digest), staged, { size: info.size, what: `layer ${info.digest}`, tmpDir, link: true });
    return;
  }
  const content = verified(layer.compressed(), { digest: info.digest, size: info.size }, `layer ${info.digest}`);
  await writeFileAtomic(blobFile(root, info.digest), content, { tmpDir });
}

/**
 * Brings a blob from another directory (an imported cache) into the cache:
 * a hard link when both are on one file system, else a copy — verified
 * either way. Returns false (and leaves nothing behind) when the source is
 * missing or is not what its digest says.
 */
export async function adoptBlob(root: string, sourceRoot: string, info: CachedLayer, tmpDir: string): Promise<boolean> {
  if (await hasBlob(root, info)) return true;
  const source = blobFile(sourceRoot, info.digest);
  const target = blobFile(root, info.digest);
  const sourceInfo = await stat(source).catch(() => undefined);
  if (!sourceInfo?.isFile() || sourceInfo.size !== info.size) return false;
  // A link shares the bytes; hashing them once is still cheaper than a copy.
  const linked = temporaryPath(tmpDir, 'blob');
  await mkdir(tmpDir, { recursive: true });
  try {
    await link(source, linked);
    const { digest, size } = await sha256Stream(createReadStream(linked) as AsyncIterable<Uint8Array>);
    if (digest !== info.digest || size !== info.size) return false;
    await mkdir(dirname(target), { recursive: true });
    await rename(linked, target);
    return true;
  } catch {
    // Another file system, or no links here: copy.
  } finally {
    await rm(linked, { force: true });
  }
  try {
    const content = verified(createReadStream(source) as AsyncIterable<Uint8Array>, { digest: info.digest, size: info.size }, `imported layer ${info.digest}`);
    await writeFileAtomic(target, content, { tmpDir });
    return true;
  } catch {
    return false;
  }
}

/** A verified `Layer` over a cached blob. */
export function blobLayer(root: string, info: CachedLayer): Layer {
  const file = blobFile(root, info.digest);
  return storedLayer({
    mediaType: info.mediaType,
    digest: info.digest,
    size: info.size,
    diffId: info.diffId,
    open: () => readBlobFile(file),
    what: `cached layer ${digestHex(info.digest).slice(0, 12)}`,
  });
}

/**
 * Streams a blob file. A prune moves blobs it is about to delete to its
 * trash and moves back any that a build leased meanwhile, so a missing file
 * is retried a few times before it is reported.
 */
async function* readBlobFile(file: string): AsyncGenerator<Uint8Array> {
  let handle;
  for (let attempt = 0; ; attempt++) {
    try {
      handle = await open(file, 'r');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20 << attempt));
    }
  }
  // The open handle keeps the bytes readable whatever happens to the name now.
  yield* handle.createReadStream() as AsyncIterable<Uint8Array>;
}
