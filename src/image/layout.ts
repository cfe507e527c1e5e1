/**
 * OCI image layouts (image-layout.md), as a directory or a tar file:
 * `oci-layout`, `index.json` with `org.opencontainers.image.ref.name`
 * annotations, and `blobs/<alg>/<hex>`.
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../digest.js';
import { ownBlobFile } from '../layers/layer.js';
import { blobPath } from './blob-source.js';
import { ImageNotFoundError, InvalidLayoutError, InvalidReferenceError } from './errors.js';
import { placeFileAtomic, writeFileAtomic } from './fs-atomic.js';
import { imageParts, type Image } from './image.js';
import { canonicalJson, parseIndex } from './json.js';
import {
  layoutEntries,
  openLayoutSource,
  readLayoutIndex,
  resolveManifest,
  selectEntry,
  type LayoutEntry,
} from './layout-source.js';
import { formatPlatform, parsePlatform, platformMatches } from './platform.js';
import { isValidRefName, parseTagReference } from './reference.js';
import { imageFromManifestDescriptor } from './stored-image.js';
import { verified } from './streams.js';
import { writeArchive, type ArchiveMember } from './tar-writer.js';
import { Annotation, ImageMediaType, type Descriptor, type ImageIndex, type Platform } from './types.js';

/**
 * Options of {@link readOciLayout}.
 *
 * @example
 * ```ts
 * await readOciLayout('out/', 'v1', { platform: 'linux/arm64' });
 * ```
 */
export interface ReadOciLayoutOptions {
  /** Platform to pick from a multi-platform index (`linux/arm64` or an object). Default: the only one, else the host's. */
  platform?: Platform | string;
}

/**
 * Reads one image from an OCI layout directory or tar (plain or gzip).
 *
 * `ref` is matched against `org.opencontainers.image.ref.name`, then
 * `io.containerd.image.name` (normalized, so `busybox` finds
 * `docker.io/library/busybox:latest`), then a manifest digest; without `ref`
 * the layout must hold exactly one image. Entries of unknown media types are
 * ignored; indexes are followed down to the wanted platform. Manifest and
 * config are read and verified now; layers are verified when streamed.
 *
 * @throws {@link InvalidLayoutError}, {@link ImageNotFoundError}, {@link AmbiguousReferenceError},
 * {@link DigestMismatchError}, {@link InvalidImageError}.
 * @example
 * ```ts
 * const image = await readOciLayout('out/', 'v1');
 * const same = await readOciLayout('out.tar', 'v1');
 * ```
 */
export async function readOciLayout(path: string, ref?: string, options: ReadOciLayoutOptions = {}): Promise<Image> {
  const source = await openLayoutSource(path);
  const index = await readLayoutIndex(source);
  const entry = selectEntry(layoutEntries(index), ref, path);
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const manifest = await resolveManifest(source, entry.descriptor, platform);
  const image = await imageFromManifestDescriptor(source.blobs, manifest);
  if (platform) {
    // A single-platform entry carries no platform in index.json: check the config.
    const config = await image.config();
    const actual = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    if (!platformMatches(platform, actual)) {
      throw new ImageNotFoundError(formatPlatform(platform), `${path} (the image is ${formatPlatform(actual)})`, [formatPlatform(actual)]);
    }
  }
  return image;
}

/**
 * Lists what a layout's `index.json` names (readable media types only).
 *
 * @example
 * ```ts
 * for (const e of await listOciLayout('out/')) console.log(e.refName, e.descriptor.digest);
 * ```
 */
export async function listOciLayout(path: string): Promise<LayoutEntry[]> {
  return layoutEntries(await readLayoutIndex(await openLayoutSource(path)));
}

/**
 * An image to write and the names to give it.
 *
 * `tags` are image names as everywhere in layerkit (`me/app:1`, normalized
 * like Docker's), written the way BuildKit and Docker do: the full name as
 * `io.containerd.image.name` and its tag as `org.opencontainers.image.ref.name`.
 * `refs` are not image names but bare OCI ref names, written verbatim as
 * `org.opencontainers.image.ref.name` (what `skopeo … oci:DIR:REF` and
 * `umoci --image DIR:REF` look up).
 *
 * @example
 * ```ts
 * await writeOciLayout('out/', { image, refs: ['v1'], tags: ['me/app:1'] });
 * ```
 */
export interface ImageWithRefs {
  image: Image;
  refs?: string[];
  tags?: string[];
}

/**
 * Options of {@link writeOciLayout}.
 *
 * @example
 * ```ts
 * await writeOciLayout('out', image, { tar: true });
 * ```
 */
export interface WriteOciLayoutOptions {
  /** Write a tar file instead of a directory. Default: true when `dest` ends with `.tar`. */
  tar?: boolean;
}

/** The annotated index entries for one image. */
function entriesFor(item: ImageWithRefs, descriptor: Descriptor): Descriptor[] {
  const out: Descriptor[] = [];
  for (const ref of item.refs ?? []) out.push({ ...descriptor, annotations: { [Annotation.refName]: ref } });
  for (const name of item.tags ?? []) {
    const parsed = parseTagReference(name);
    out.push({ ...descriptor, annotations: { [Annotation.imageName]: parsed.canonical, [Annotation.refName]: parsed.tag } });
  }
  if (out.length === 0) out.push(descriptor);
  return out;
}

/** Validates every name before anything is written. */
export function normalizeImageList(images: Image | ImageWithRefs | Array<Image | ImageWithRefs>): ImageWithRefs[] {
  const list = Array.isArray(images) ? images : [images];
  const items = list.map((i) => ('image' in i && typeof (i as ImageWithRefs).image === 'object' ? (i as ImageWithRefs) : { image: i as Image }));
  for (const item of items) {
    for (const ref of item.refs ?? []) {
      if (!isValidRefName(ref)) throw new InvalidReferenceError(ref, 'not a valid org.opencontainers.image.ref.name');
    }
    for (const name of item.tags ?? []) parseTagReference(name);
  }
  return items;
}

/** A blob to write: its size and a fresh verified stream (or bytes). */
export interface PlannedBlob {
  digest: Digest;
  size: number;
  content: Uint8Array | (() => AsyncIterable<Uint8Array>);
  /**
   * A file that holds exactly this blob, written and hashed by this process
   * (a layer's {@link ownBlobFile}): writers may place the file instead of
   * streaming `content`.
   */
  file?: string;
}

/** The blobs of an image as its manifest names them (layer streams verified against the manifest). */
export async function planImageBlobs(image: Image): Promise<{ descriptor: Descriptor; configDigest: Digest; blobs: PlannedBlob[] }> {
  const parts = await imageParts(image);
  const blobs: PlannedBlob[] = [];
  for (const [i, d] of parts.manifest.layers.entries()) {
    const layer = parts.layers[i];
    if (!layer) continue;
    const digest = parseDigest(d.digest);
    const blob: PlannedBlob = { digest, size: d.size, content: () => verified(layer.compressed(), { digest, size: d.size }, `layer ${i} (${digest})`) };
    const file = ownBlobFile(layer);
    // The file is the layer's own; it stands for the manifest's blob only if the layer says it is that blob.
    if (file !== undefined && (await layer.digest()) === digest && (await layer.size()) === d.size) blob.file = file;
    blobs.push(blob);
  }
  blobs.push({ digest: parts.configDigest, size: parts.rawConfig.byteLength, content: parts.rawConfig });
  blobs.push({ digest: parts.digest, size: parts.rawManifest.byteLength, content: parts.rawManifest });
  return {
    descriptor: { mediaType: image.mediaType, digest: parts.digest, size: parts.rawManifest.byteLength },
    configDigest: parts.configDigest,
    blobs,
  };
}

function dedupe(blobs: PlannedBlob[]): PlannedBlob[] {
  const byDigest = new Map<string, PlannedBlob>();
  for (const b of blobs) if (!byDigest.has(b.digest)) byDigest.set(b.digest, b);
  return [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
}

const LAYOUT_MARKER = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');

function sameAnnotations(a: Descriptor, b: Descriptor): boolean {
  return JSON.stringify(a.annotations ?? {}) === JSON.stringify(b.annotations ?? {});
}

/** Merges new entries into an index: an entry with the same ref name (or image name) replaces the old one. */
function mergeEntries(existing: Descriptor[], added: Descriptor[]): Descriptor[] {
  const claims = new Set<string>();
  for (const d of added) {
    const a = d.annotations ?? {};
    if (a[Annotation.imageName] !== undefined) claims.add(`name:${a[Annotation.imageName]}`);
    else if (a[Annotation.refName] !== undefined) claims.add(`ref:${a[Annotation.refName]}`);
  }
  const kept = existing.filter((d) => {
    const a = d.annotations ?? {};
    if (a[Annotation.imageName] !== undefined) return !claims.has(`name:${a[Annotation.imageName]}`);
    if (a[Annotation.refName] !== undefined) return !claims.has(`ref:${a[Annotation.refName]}`);
    return true;
  });
  const out: Descriptor[] = [];
  for (const d of [...kept, ...added]) {
    if (!out.some((o) => o.digest === d.digest && sameAnnotations(o, d))) out.push(d);
  }
  return out;
}

async function existingLayoutIndex(dest: string): Promise<Descriptor[]> {
  let names: string[];
  try {
    names = await readdir(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  if (names.length === 0) return [];
  if (!names.includes('oci-layout')) throw new InvalidLayoutError(dest, 'directory exists, is not empty and is not an OCI layout');
  const source = await openLayoutSource(dest);
  return (await readLayoutIndex(source)).manifests;
}

async function writeBlobIfMissing(root: string, blob: PlannedBlob): Promise<void> {
  const target = join(root, blobPath(blob.digest));
  try {
    if ((await stat(target)).size === blob.size) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // A layout is the user's to change: a copy, never a link to the file.
  if (blob.file !== undefined) return placeFileAtomic(target, blob.file, { size: blob.size, what: `blob ${blob.digest}` });
  const content = blob.content instanceof Uint8Array ? blob.content : blob.content();
  await writeFileAtomic(target, content instanceof Uint8Array ? verifiedBytes(content, blob) : content);
}

function verifiedBytes(bytes: Uint8Array, blob: PlannedBlob): AsyncIterable<Uint8Array> {
  return verified([bytes], { digest: blob.digest, size: blob.size }, `blob ${blob.digest}`);
}

/**
 * Writes images into an OCI image layout, as a directory or (with
 * `tar: true`, or a `dest` ending in `.tar`) a tar file.
 *
 * A directory that already is a layout is added to: blobs are shared, and an
 * entry with the same ref name is replaced. Names are checked before anything
 * is written; blobs are written atomically and verified on the way; the tar
 * appears only once complete. Returns the `index.json` written.
 *
 * @throws {@link InvalidReferenceError} for a bad ref or name, {@link InvalidLayoutError}
 * for a non-empty directory that is not a layout, {@link DigestMismatchError} for a layer
 * whose bytes disagree with its digest.
 * @example
 * ```ts
 * await writeOciLayout('out/', { image, refs: ['v1'] });          // skopeo inspect oci:out:v1
 * await writeOciLayout('out.tar', { image, tags: ['me/app:1'] }); // like buildx type=oci
 * ```
 */
export async function writeOciLayout(
  dest: string,
  images: Image | ImageWithRefs | Array<Image | ImageWithRefs>,
  options: WriteOciLayoutOptions = {},
): Promise<ImageIndex> {
  const items = normalizeImageList(images);
  const tar = options.tar ?? dest.endsWith('.tar');
  const planned = await Promise.all(items.map(async (item) => ({ item, plan: await planImageBlobs(item.image) })));
  const added = planned.flatMap(({ item, plan }) => entriesFor(item, plan.descriptor));
  const blobs = dedupe(planned.flatMap(({ plan }) => plan.blobs));

  if (tar) {
    const index: ImageIndex = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests: mergeEntries([], added) };
    const indexBytes = canonicalJson('index', index);
    await writeArchive(dest, layoutArchiveMembers(blobs, [
      { name: 'index.json', type: 'file', size: indexBytes.byteLength, content: indexBytes },
      { name: 'oci-layout', type: 'file', size: LAYOUT_MARKER.byteLength, content: LAYOUT_MARKER },
    ]));
    return index;
  }

  const existing = await existingLayoutIndex(dest);
  for (const blob of blobs) await writeBlobIfMissing(dest, blob);
  await writeFileAtomic(join(dest, 'oci-layout'), LAYOUT_MARKER);
  const index: ImageIndex = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests: mergeEntries(existing, added) };
  const indexBytes = canonicalJson('index', index);
  await writeFileAtomic(join(dest, 'index.json'), indexBytes);
  return parseIndex(indexBytes);
}

/** Archive members for blobs (sorted, under `blobs/<alg>/`) followed by `extra`. */
export function layoutArchiveMembers(blobs: PlannedBlob[], extra: ArchiveMember[]): ArchiveMember[] {
  const members: ArchiveMember[] = [{ name: 'blobs', type: 'dir' }];
  const algorithms = [...new Set(blobs.map((b) => b.digest.slice(0, b.digest.indexOf(':'))))].sort();
  for (const alg of algorithms) {
    members.push({ name: `blobs/${alg}`, type: 'dir' });
    for (const blob of blobs.filter((b) => b.digest.startsWith(`${alg}:`))) {
      const content = blob.content;
      members.push({
        name: blobPath(blob.digest),
        type: 'file',
        size: blob.size,
        content: content instanceof Uint8Array ? () => verifiedBytes(content, blob) : content,
      });
    }
  }
  return [...members, ...extra];
}
