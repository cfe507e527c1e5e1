/**
 * Blob files of the store: verified atomic writes, the set of blobs the
 * reference index reaches, and cleanup of temporary files of dead writers.
 * @module
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../../digest.js';
import { blobPath, directoryBlobSource, readBlob } from '../blob-source.js';
import { placeFileAtomic, temporaryWriter, writeFileAtomic } from '../fs-atomic.js';
import { parseIndex, parseManifest } from '../json.js';
import type { PlannedBlob } from '../layout.js';
import { verified } from '../streams.js';
import { isIndexMediaType, type Descriptor } from '../types.js';
import { processAlive } from './lock.js';
import type { StoredEntry } from './refs.js';

const TEMP_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * Writes a blob into `<root>/blobs/…` through `tmpDir` unless it is present
 * with the right size, verifying digest and size on the way — or, for a
 * blob this process wrote and hashed itself ({@link PlannedBlob.file}),
 * linking that file in (a copy across file systems). Returns true when it
 * created the file.
 */
export async function putBlob(root: string, tmpDir: string, blob: PlannedBlob): Promise<boolean> {
  const target = join(root, blobPath(blob.digest));
  try {
    if ((await stat(target)).size === blob.size) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (blob.file !== undefined) {
    // The store's own file from here on: a link shares the bytes with a staging file that is removed, never rewritten.
    await placeFileAtomic(target, blob.file, { size: blob.size, what: `blob ${blob.digest}`, tmpDir, link: true });
    return true;
  }
  const content = blob.content instanceof Uint8Array ? [blob.content] : blob.content();
  await writeFileAtomic(target, verified(content, { digest: blob.digest, size: blob.size }, `blob ${blob.digest}`), { tmpDir });
  return true;
}

/**
 * Every blob digest reachable from the index entries: manifests, their
 * configs and layers, and the children of nested indexes. A manifest that
 * cannot be read makes this throw — better no gc than a wrong one.
 */
export async function referencedBlobs(root: string, entries: StoredEntry[]): Promise<Set<string>> {
  const source = directoryBlobSource(root);
  const seen = new Set<string>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    const bytes = await readBlob(source, parseDigest(d.digest), d.size);
    if (isIndexMediaType(d.mediaType)) {
      for (const child of parseIndex(bytes).manifests) await walk(child);
      return;
    }
    const manifest = parseManifest(bytes);
    seen.add(manifest.config.digest);
    for (const layer of manifest.layers) seen.add(layer.digest);
  };
  for (const e of entries) await walk(e.descriptor);
  return seen;
}

/** Every blob file in the store, as digest and path. */
export async function listBlobs(root: string): Promise<Array<{ digest: string; path: string }>> {
  const out: Array<{ digest: string; path: string }> = [];
  const blobsRoot = join(root, 'blobs');
  for (const algorithm of await readdir(blobsRoot).catch(() => [] as string[])) {
    for (const hex of await readdir(join(blobsRoot, algorithm)).catch(() => [] as string[])) {
      out.push({ digest: `${algorithm}:${hex}`, path: join(blobsRoot, algorithm, hex) });
    }
  }
  return out;
}

/**
 * Removes temporary files whose writer is a dead process on this host, or
 * that are older than a day (a writer elsewhere, or a name we did not make).
 * Returns how many went.
 */
export async function sweepTemporaryFiles(tmpDir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    const path = join(tmpDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info) continue;
    const writer = temporaryWriter(name);
    const dead = writer?.thisHost === true && !processAlive(writer.pid);
    if (dead || Date.now() - info.mtimeMs > TEMP_MAX_AGE_MS) {
      // A directory here is a dead writer's too (an unpacked upload, a spill): it goes whole.
      await rm(path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
