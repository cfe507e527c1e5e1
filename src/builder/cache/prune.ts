/**
 * Pruning the cache to a size bound, least recently used records first,
 * without taking a blob from under a running build (see `leases.ts`).
 * The caller holds the store's lock.
 * @module
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestHex, type Digest } from '../../digest.js';
import { sweepTemporaryFiles } from '../../image/store/blobs.js';
import { pruneExtracted } from '../../sandbox/extracted-gc.js';
import { blobFile } from './blobs.js';
import { blobOf, listBlobFiles, listRecords } from './files.js';
import { indexFile } from './layer-index.js';
import { leasedDigests } from './leases.js';

/**
 * What `BuildCache.prune` removed and kept.
 *
 * @example
 * ```ts
 * const { removedRecords, freedBytes, keptBytes } = await cache.prune({ keepStorage: 0 });
 * ```
 */
export interface PruneResult {
  removedRecords: number;
  removedBlobs: number;
  freedBytes: number;
  keptBytes: number;
}

/**
 * Removes records, oldest use first, until records plus the blobs they use
 * (each once, with its saved index) fit in `keep` bytes; then every blob no
 * record uses. Leased blobs and their records stay.
 */
export async function pruneCache(root: string, keep: number): Promise<PruneResult> {
  const records = await listRecords(root, true);
  const leases = join(root, 'leases');
  const leased = await leasedDigests(leases);
  const blobSizes = new Map<Digest, number>();
  for (const { digest, path } of await listBlobFiles(root)) {
    const [info, index] = await Promise.all([stat(path).catch(() => undefined), stat(indexFile(root, digest)).catch(() => undefined)]);
    // A saved index counts with its blob and goes with it.
    if (info) blobSizes.set(digest, info.size + (index?.size ?? 0));
  }
  const uses = new Map<Digest, number>();
  let total = 0;
  for (const r of records) {
    total += r.bytes;
    const digest = blobOf(r.record);
    if (digest !== undefined) uses.set(digest, (uses.get(digest) ?? 0) + 1);
  }
  for (const [digest, size] of blobSizes) if (uses.has(digest) || leased.has(digest)) total += size;

  let removedRecords = 0;
  let freedBytes = 0;
  // Oldest use first; the key breaks ties so the order is the same for everyone.
  const byAge = [...records].sort((a, b) => a.mtimeMs - b.mtimeMs || (a.key < b.key ? -1 : 1));
  for (const r of byAge) {
    if (total <= keep) break;
    const digest = blobOf(r.record);
    if (digest !== undefined && leased.has(digest)) continue;
    await rm(r.path, { force: true });
    removedRecords++;
    total -= r.bytes;
    freedBytes += r.bytes;
    if (digest !== undefined) {
      const left = (uses.get(digest) ?? 1) - 1;
      uses.set(digest, left);
      if (left === 0) total -= blobSizes.get(digest) ?? 0;
    }
  }

  // Blobs no record uses go to a trash directory first; a build that leased
  // one in the meantime gets it back, the rest is deleted.
  const trash = join(root, 'trash');
  const trashed: Array<{ digest: Digest; from: string; to: string; size: number }> = [];
  for (const [digest, size] of blobSizes) {
    if ((uses.get(digest) ?? 0) > 0 || leased.has(digest)) continue;
    const from = blobFile(root, digest);
    const to = join(trash, digestHex(digest));
    await mkdir(trash, { recursive: true });
    await rm(to, { force: true });
    try {
      await rename(from, to);
      trashed.push({ digest, from, to, size });
    } catch {
      // Gone already.
    }
  }
  const leasedNow = trashed.length > 0 ? await leasedDigests(leases) : new Set<string>();
  let removedBlobs = 0;
  for (const t of trashed) {
    if (leasedNow.has(t.digest)) {
      await rename(t.to, t.from).catch(() => undefined);
      total += t.size;
      continue;
    }
    await rm(t.to, { force: true });
    await rm(indexFile(root, t.digest), { force: true });
    removedBlobs++;
    freedBytes += t.size;
  }
  // Saved indexes whose blob is gone (a crash between the two removals).
  for (const name of await readdir(join(root, 'indexes')).catch(() => [] as string[])) {
    const hex = name.replace(/\.json$/, '');
    if (/^[0-9a-f]{64}$/.test(hex) && !blobSizes.has(`sha256:${hex}` as Digest)) await rm(join(root, 'indexes', name), { force: true });
  }
  await sweepTemporaryFiles(join(root, 'tmp'));
  // The store's unpacked layers count with the cache and go least recently used first, within what is left of `keep`.
  const extracted = await pruneExtracted(dirname(root), { keepBytes: Math.max(0, keep - total) });
  return { removedRecords, removedBlobs, freedBytes: freedBytes + extracted.freedBytes, keptBytes: total + extracted.keptBytes };
}
