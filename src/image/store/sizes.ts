/**
 * The unpacked size of stored layers, which `images`, `history` and
 * `inspect` show as Docker does: one image has one size however its layers
 * are compressed (a docker-archive stores plain tars, an OCI layout gzip).
 *
 * A layer's size is the length of its uncompressed tar, a function of its
 * diffID alone; it is computed once (by decompressing the blob, verified
 * against the diffID) and remembered in `<store>/sizes/<algorithm>/<hex>`.
 * @module
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../../digest.js';
import { directoryBlobSource } from '../blob-source.js';
import { storedLayer } from '../blob-layer.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { Descriptor, ImageConfig, Manifest } from '../types.js';

/** Media types whose blob is the uncompressed tar itself. */
function isPlainTar(mediaType: string): boolean {
  return !/(gzip|zstd)/.test(mediaType);
}

function memoPath(root: string, diffId: Digest): string {
  return join(root, 'sizes', digestAlgorithm(diffId), digestHex(diffId));
}

async function layerSize(root: string, layer: Descriptor, diffId: Digest): Promise<number> {
  if (isPlainTar(layer.mediaType) || layer.digest === diffId) return layer.size;
  const memo = memoPath(root, diffId);
  const known = await readFile(memo, 'utf8').then((t) => Number(t.trim()), () => Number.NaN);
  if (Number.isSafeInteger(known) && known >= 0) return known;
  const source = directoryBlobSource(root);
  const stored = storedLayer({
    mediaType: layer.mediaType,
    digest: parseDigest(layer.digest),
    size: layer.size,
    diffId,
    open: () => source.open(parseDigest(layer.digest)),
    what: `layer ${layer.digest}`,
  });
  let size = 0;
  for await (const chunk of stored.uncompressed()) size += chunk.length;
  // The stream verified the diffID: the size can be remembered under it.
  await mkdir(join(root, 'sizes', digestAlgorithm(diffId)), { recursive: true });
  await writeFileAtomic(memo, new TextEncoder().encode(`${size}\n`), { tmpDir: join(root, 'tmp') });
  return size;
}

/**
 * The uncompressed size of each layer of a stored image, in manifest order.
 *
 * @throws {@link DigestMismatchError} when a blob does not decompress to its diffID.
 * @example
 * ```ts
 * const sizes = await uncompressedSizes(store.root, manifest, config);
 * const total = sizes.reduce((a, b) => a + b, 0); // docker images' SIZE
 * ```
 */
export async function uncompressedSizes(root: string, manifest: Manifest, config: ImageConfig): Promise<number[]> {
  const sizes: number[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const diffId = config.rootfs.diff_ids[i];
    sizes.push(diffId === undefined ? layer.size : await layerSize(root, layer, parseDigest(diffId)));
  }
  return sizes;
}
