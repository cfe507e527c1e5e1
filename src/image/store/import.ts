/**
 * Loading images into a store from the files other tools exchange, as
 * `docker load` does: a docker-archive (`docker save`, `podman save`,
 * `skopeo copy … docker-archive:`), an OCI image layout tar (`buildx
 * --output type=oci`, `skopeo copy … oci-archive:`) or an OCI image layout
 * directory.
 *
 * Every image is read and every layer verified (blob digest and size, and
 * the diffID of its uncompressed tar) before the first one is stored, so a
 * corrupt archive leaves the store as it was.
 * @module
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../digest.js';
import { LayerkitError } from '../../errors.js';
import { blobPath } from '../blob-source.js';
import { listDockerArchive, readDockerArchive, type DockerArchiveEntry } from '../docker-archive.js';
import { InvalidArchiveError, InvalidLayoutError } from '../errors.js';
import { pathExists } from '../fs-atomic.js';
import type { Image } from '../image.js';
import { listOciLayout, readOciLayout } from '../layout.js';
import { parseTagReference } from '../reference.js';
import type { Platform } from '../types.js';
import type { ImageStore } from './store.js';

/**
 * The file or directory to load from cannot be read at all (it does not
 * exist, or is not a file or directory). `data.errno` keeps Node's code.
 *
 * @example
 * ```ts
 * try { await loadImages(store, 'nope.tar'); } catch (err) {
 *   if (err instanceof LoadSourceError) console.error(err.data.path, err.data.errno);
 * }
 * ```
 */
export class LoadSourceError extends LayerkitError<'LOAD_SOURCE_UNREADABLE', { path: string; reason: string; errno?: string }> {
  constructor(path: string, reason: string, errno?: string, options?: { cause?: unknown }) {
    super('LOAD_SOURCE_UNREADABLE', `cannot load from ${path}: ${reason}`, errno === undefined ? { path, reason } : { path, reason, errno }, options);
  }
}

/**
 * Options of {@link loadImages}.
 *
 * @example
 * ```ts
 * await loadImages(store, 'multi.tar', { platform: 'linux/arm64' });
 * ```
 */
export interface LoadOptions {
  /** The platform to take from a multi-platform index (default: the host's). */
  platform?: string | Platform;
}

/**
 * One image {@link loadImages} stored.
 *
 * @example
 * ```ts
 * const { images } = await loadImages(store, 'app.tar');
 * for (const i of images) console.log(i.tags.length > 0 ? i.tags : i.id);
 * ```
 */
export interface LoadedImage {
  /** The image ID (config digest), as the archive had it. */
  id: Digest;
  /** The manifest digest in the store. */
  digest: Digest;
  /** Canonical tags it now has (`docker.io/library/busybox:latest`); empty when the archive named none. */
  tags: string[];
}

/**
 * What {@link loadImages} found and stored.
 *
 * @example
 * ```ts
 * const { format, images } = await loadImages(store, 'app.tar');
 * ```
 */
export interface LoadResult {
  format: 'docker-archive' | 'oci-layout';
  images: LoadedImage[];
}

/** An image read from the source and the tags it comes with. */
interface Candidate {
  image: Image;
  tags: string[];
}

/**
 * Stores every image of a docker-archive, an OCI layout tar (plain or
 * gzip) or an OCI layout directory, with the names the source gives them:
 * `RepoTags` of a docker-archive; `io.containerd.image.name` of a layout
 * entry, or its `org.opencontainers.image.ref.name` when that is a full
 * name (`me/app:1`, not a bare tag such as `v1`). An image without a name is
 * stored untagged, like `docker load` does.
 *
 * The image IDs are the source's (config bytes are kept). Layers are stored
 * as the source has them: a docker-archive's are uncompressed.
 *
 * @throws {@link LoadSourceError} when `path` cannot be opened;
 * {@link InvalidArchiveError} for a file that is neither kind of archive or a
 * malformed tar; {@link InvalidLayoutError}, {@link DigestMismatchError},
 * {@link InvalidImageError}, {@link InvalidReferenceError} (a bad name in the
 * source) — all before anything is stored.
 * @example
 * ```ts
 * const store = new ImageStore();
 * const { images } = await loadImages(store, 'busybox.tar');   // docker save busybox > busybox.tar
 * console.log(images[0]?.tags);                               // ['docker.io/library/busybox:latest']
 * ```
 */
export async function loadImages(store: ImageStore, path: string, options: LoadOptions = {}): Promise<LoadResult> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new LoadSourceError(path, err.code === 'ENOENT' ? 'no such file or directory' : err.message, err.code, { cause: err });
  });
  if (!info.isFile() && !info.isDirectory()) throw new LoadSourceError(path, 'not a file or a directory');

  let format: LoadResult['format'];
  let candidates: Candidate[];
  const manifestJson = info.isFile() ? await dockerArchiveEntries(path) : undefined;
  if (manifestJson !== undefined) {
    format = 'docker-archive';
    candidates = await fromDockerArchive(path, manifestJson);
  } else {
    format = 'oci-layout';
    candidates = await fromLayout(path, info.isDirectory(), options);
  }

  await verifyLayers(store, candidates);
  const images: LoadedImage[] = [];
  for (const { image, tags } of candidates) {
    const stored = await store.putImage(image, tags);
    images.push({ id: stored.id, digest: stored.digest, tags: stored.tags });
  }
  return { format, images };
}

/** `manifest.json` of a docker-archive, or undefined when the tar has none (an OCI layout tar). */
async function dockerArchiveEntries(path: string): Promise<DockerArchiveEntry[] | undefined> {
  try {
    return await listDockerArchive(path);
  } catch (err) {
    if (err instanceof InvalidArchiveError && err.data.entry === 'manifest.json' && err.data.reason.startsWith('no manifest.json')) return undefined;
    throw err;
  }
}

function canonicalTags(names: Iterable<string>): string[] {
  return [...new Set([...names].map((name) => parseTagReference(name).canonical))];
}

async function fromDockerArchive(path: string, entries: DockerArchiveEntry[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const [i, entry] of entries.entries()) {
    const tags = canonicalTags(entry.RepoTags ?? []);
    out.push({ image: await readDockerArchive(path, `@${i}`), tags });
  }
  return out;
}

/** A layout entry's name: `io.containerd.image.name`, else a `ref.name` that is a whole reference. */
function entryName(entry: { imageName?: string; refName?: string }): string | undefined {
  const candidates = [entry.imageName, entry.refName !== undefined && /[:/]/.test(entry.refName) ? entry.refName : undefined];
  for (const name of candidates) {
    if (name === undefined) continue;
    try {
      return parseTagReference(name).canonical;
    } catch {
      continue; // a ref.name is free text; one that is not an image name names nothing here
    }
  }
  return undefined;
}

async function fromLayout(path: string, isDirectory: boolean, options: LoadOptions): Promise<Candidate[]> {
  let entries;
  try {
    entries = await listOciLayout(path);
  } catch (err) {
    if (err instanceof InvalidLayoutError && !isDirectory) {
      throw new InvalidArchiveError(path, 'neither a docker-archive (no manifest.json) nor an OCI image layout (no oci-layout and index.json)');
    }
    throw err;
  }
  const byImage = new Map<string, Candidate>();
  for (const digest of new Set(entries.map((e) => e.descriptor.digest))) {
    const image = await readOciLayout(path, digest, options.platform === undefined ? {} : { platform: options.platform });
    const names = entries.filter((e) => e.descriptor.digest === digest).map(entryName).filter((n): n is string => n !== undefined);
    // Two index entries (an index and its manifest) may lead to one image.
    const key = await image.digest();
    const known = byImage.get(key);
    if (known) known.tags = canonicalTags([...known.tags, ...names]);
    else byImage.set(key, { image, tags: canonicalTags(names) });
  }
  return [...byImage.values()];
}

/**
 * Reads every layer the store does not hold yet: the blob against its digest
 * and size, the uncompressed tar against its diffID. `putImage` checks blob
 * digests again while it copies; a diffID it would not check.
 */
async function verifyLayers(store: ImageStore, candidates: Candidate[]): Promise<void> {
  const seen = new Set<string>();
  for (const { image } of candidates) {
    const [layers, manifest] = await Promise.all([image.layers(), image.manifest()]);
    for (const [i, layer] of layers.entries()) {
      const digest = manifest.layers[i]?.digest as Digest | undefined;
      if (digest === undefined || seen.has(digest)) continue;
      seen.add(digest);
      if (await pathExists(join(store.root, blobPath(digest)))) continue;
      for await (const chunk of layer.uncompressed()) void chunk;
    }
  }
}
