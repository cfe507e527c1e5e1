/**
 * docker-archive: the tar `docker save` writes and `docker load` reads.
 *
 * Written like Docker ≥ 25 does it: the legacy view (`manifest.json`,
 * `repositories`) and a valid OCI layout (`oci-layout`, `index.json`,
 * `blobs/sha256/*`) in one tar, with `manifest.json` pointing into `blobs/`.
 * Layers are stored uncompressed, so each layer blob's digest is its diffID.
 * Read from either that layout or the older one (`<id>/layer.tar`,
 * `<config-hex>.json`), always through `manifest.json`.
 * @module
 */
import { digestHex, parseDigest, sha256, sha256Stream, type Digest } from '../digest.js';
import { DigestMismatchError } from '../errors.js';
import type { Layer } from '../layers/layer.js';
import { archiveBlobSource } from './blob-source.js';
import { storedLayer } from './blob-layer.js';
import { AmbiguousReferenceError, ImageNotFoundError, InvalidArchiveError } from './errors.js';
import { assembleWithRawConfig, imageParts, LazyImage, type Image } from './image.js';
import { canonicalJson, parseImageConfig, parseIndex, parseManifest } from './json.js';
import { layoutArchiveMembers, type PlannedBlob } from './layout.js';
import { parseReference, parseTagReference, type ImageReference } from './reference.js';
import { imageFromManifestDescriptor } from './stored-image.js';
import { detectCompression, ociLayerMediaType } from '../layers/compress/index.js';
import { verified } from './streams.js';
import { TarArchive } from './tar-archive.js';
import { writeArchive } from './tar-writer.js';
import { Annotation, ImageMediaType, isManifestMediaType, type Descriptor, type ImageIndex, type Manifest } from './types.js';

/**
 * An image to save and its tags (`busybox`, `me/app:1`; normalized like Docker).
 *
 * @example
 * ```ts
 * await writeDockerArchive('out.tar', [{ image: a, tags: ['me/a:1'] }, { image: b, tags: ['me/b:1'] }]);
 * ```
 */
export interface ImageWithTags {
  image: Image;
  tags?: string[];
}

/**
 * One entry of a docker-archive's `manifest.json`.
 *
 * @example
 * ```ts
 * const [first] = await listDockerArchive('busybox.tar');
 * console.log(first?.Config, first?.Layers.length);
 * ```
 */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, Descriptor>;
}

const encoder = new TextEncoder();

async function uncompressedFacts(layer: Layer, index: number): Promise<{ diffId: Digest; size: number }> {
  const diffId = await layer.diffId();
  if (layer.uncompressedSize) return { diffId, size: await layer.uncompressedSize() };
  // No size on offer: measure the tar once (and check it is what the diffID says).
  const measured = await sha256Stream(layer.uncompressed());
  if (measured.digest !== diffId) throw new DigestMismatchError(`layer ${index} diffID`, diffId, measured.digest);
  return { diffId, size: measured.size };
}

/**
 * Writes images into a docker-archive tar at `file` (atomically: the file
 * appears only when complete). Tags are checked before anything is written.
 *
 * @throws {@link InvalidReferenceError} for a bad tag, {@link DigestMismatchError}
 * for a layer whose tar disagrees with its diffID.
 * @example
 * ```ts
 * await writeDockerArchive('app.tar', { image, tags: ['me/app:1'] }); // docker load -i app.tar
 * ```
 */
export async function writeDockerArchive(
  file: string,
  images: Image | ImageWithTags | Array<Image | ImageWithTags>,
): Promise<void> {
  const list = Array.isArray(images) ? images : [images];
  const items = list.map((i) => {
    const item = 'image' in i && typeof (i as ImageWithTags).image === 'object' ? (i as ImageWithTags) : { image: i as Image };
    return { image: item.image, tags: (item.tags ?? []).map((t) => parseTagReference(t)) };
  });

  const blobs: PlannedBlob[] = [];
  const indexEntries: Descriptor[] = [];
  const manifestJson: DockerArchiveEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of items) {
    const parts = await imageParts(image);
    const layerDescriptors: Descriptor[] = [];
    for (const [i, layer] of parts.layers.entries()) {
      const { diffId, size } = await uncompressedFacts(layer, i);
      layerDescriptors.push({ mediaType: ImageMediaType.ociLayer, digest: diffId, size });
      blobs.push({ digest: diffId, size, content: () => verified(layer.uncompressed(), { digest: diffId, size }, `layer ${i} (${diffId})`) });
    }
    blobs.push({ digest: parts.configDigest, size: parts.rawConfig.byteLength, content: parts.rawConfig });
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: ImageMediaType.ociManifest,
      config: { mediaType: ImageMediaType.ociConfig, digest: parts.configDigest, size: parts.rawConfig.byteLength },
      layers: layerDescriptors,
    };
    const rawManifest = canonicalJson('manifest', manifest);
    const manifestDigest = sha256(rawManifest);
    blobs.push({ digest: manifestDigest, size: rawManifest.byteLength, content: rawManifest });
    const descriptor: Descriptor = { mediaType: ImageMediaType.ociManifest, digest: manifestDigest, size: rawManifest.byteLength };
    if (tags.length === 0) indexEntries.push(descriptor);
    for (const tag of tags) {
      indexEntries.push({ ...descriptor, annotations: { [Annotation.imageName]: tag.canonical, [Annotation.refName]: tag.tag } });
      const top = layerDescriptors.at(-1);
      if (top) {
        const repo = tag.familiar.slice(0, tag.familiar.length - tag.tag.length - 1);
        (repositories[repo] ??= {})[tag.tag] = digestHex(parseDigest(top.digest));
      }
    }
    manifestJson.push({
      Config: `blobs/sha256/${digestHex(parts.configDigest)}`,
      RepoTags: tags.map((t) => t.familiar),
      Layers: layerDescriptors.map((d) => `blobs/sha256/${digestHex(parseDigest(d.digest))}`),
    });
  }

  const unique = new Map<string, PlannedBlob>();
  for (const b of blobs) if (!unique.has(b.digest)) unique.set(b.digest, b);
  const sorted = [...unique.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const index: ImageIndex = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests: indexEntries };
  const files: Array<[string, Uint8Array]> = [
    ['index.json', canonicalJson('index', index)],
    ['manifest.json', encoder.encode(`${manifestJsonText(manifestJson)}\n`)],
    ['oci-layout', encoder.encode('{"imageLayoutVersion":"1.0.0"}')],
  ];
  if (Object.keys(repositories).length > 0) {
    files.push(['repositories', encoder.encode(`${new TextDecoder().decode(canonicalJson('generic', repositories))}\n`)]);
  }
  await writeArchive(
    file,
    layoutArchiveMembers(
      sorted,
      files.map(([name, bytes]) => ({ name, type: 'file' as const, size: bytes.byteLength, content: bytes })),
    ),
  );
}

// manifest.json members in Docker's order (Config, RepoTags, Layers).
function manifestJsonText(entries: DockerArchiveEntry[]): string {
  const dec = new TextDecoder();
  const str = (v: unknown) => dec.decode(canonicalJson('generic', v));
  return `[${entries.map((e) => `{"Config":${str(e.Config)},"RepoTags":${str(e.RepoTags)},"Layers":${str(e.Layers)}}`).join(',')}]`;
}

function parseManifestJson(bytes: Uint8Array, path: string): DockerArchiveEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidArchiveError(path, 'manifest.json is not JSON', 'manifest.json');
  }
  if (!Array.isArray(value)) throw new InvalidArchiveError(path, 'manifest.json is not an array', 'manifest.json');
  return value.map((e: unknown, i) => {
    const entry = e as Partial<DockerArchiveEntry> | null;
    if (
      !entry ||
      typeof entry.Config !== 'string' ||
      !Array.isArray(entry.Layers) ||
      entry.Layers.some((l) => typeof l !== 'string') ||
      (entry.RepoTags != null && (!Array.isArray(entry.RepoTags) || entry.RepoTags.some((t) => typeof t !== 'string')))
    ) {
      throw new InvalidArchiveError(path, `manifest.json entry ${i} lacks Config, Layers or has bad RepoTags`, 'manifest.json');
    }
    return { Config: entry.Config, RepoTags: entry.RepoTags ?? null, Layers: entry.Layers };
  });
}

function tryCanonical(value: string): ImageReference | undefined {
  try {
    return parseReference(value);
  } catch {
    return undefined;
  }
}

/**
 * Lists the images of a docker-archive (its `manifest.json`).
 *
 * @example
 * ```ts
 * for (const e of await listDockerArchive('app.tar')) console.log(e.RepoTags);
 * ```
 */
export async function listDockerArchive(file: string): Promise<DockerArchiveEntry[]> {
  const archive = await TarArchive.open(file);
  const bytes = await archive.read('manifest.json');
  if (!bytes) throw new InvalidArchiveError(file, 'no manifest.json: not a docker-archive', 'manifest.json');
  return parseManifestJson(bytes, file);
}

// The digest a member name promises: blobs/sha256/<hex>, <hex>.json or <hex>/layer.tar style names.
function digestFromName(name: string): Digest | undefined {
  const match = /(?:^|\/)(?:sha256\/)?([a-f0-9]{64})(?:\.json|\.tar)?$/.exec(name);
  return match ? parseDigest(`sha256:${match[1]}`) : undefined;
}

/**
 * Reads one image from a docker-archive (`docker save`, `podman save`,
 * `skopeo copy … docker-archive:`), old layout or new, plain or gzip.
 *
 * `ref` is matched against `RepoTags` after normalization (`busybox` ≡
 * `docker.io/library/busybox:latest`), or is `@N`: the image at index N
 * (from 0) of `manifest.json`, as skopeo's `docker-archive:FILE:@N` — the
 * way to reach an untagged image among several. Without `ref` the archive
 * must hold one image. When the archive also is an OCI layout holding that
 * image's manifest, the image is read from there (same manifest digest as Docker's);
 * otherwise a manifest is built over the layer members. The config keeps its
 * bytes, so the image ID is the archive's.
 *
 * @throws {@link InvalidArchiveError}, {@link ImageNotFoundError}, {@link AmbiguousReferenceError},
 * {@link DigestMismatchError} (a config whose name is not its digest).
 * @example
 * ```ts
 * const image = await readDockerArchive('busybox.tar', 'busybox:latest');
 * const second = await readDockerArchive('images.tar', '@1');
 * ```
 */
export async function readDockerArchive(file: string, ref?: string): Promise<Image> {
  const archive = await TarArchive.open(file);
  const manifestBytes = await archive.read('manifest.json');
  if (!manifestBytes) throw new InvalidArchiveError(file, 'no manifest.json: not a docker-archive', 'manifest.json');
  const entries = parseManifestJson(manifestBytes, file);
  const label = (e: DockerArchiveEntry) => e.RepoTags?.[0] ?? e.Config;
  let matches = entries;
  const index = ref === undefined ? undefined : /^@(\d+)$/.exec(ref)?.[1];
  if (index !== undefined) {
    matches = entries.slice(Number(index), Number(index) + 1);
  } else if (ref !== undefined) {
    const wanted = tryCanonical(ref)?.canonical;
    matches = entries.filter((e) => (e.RepoTags ?? []).some((t) => t === ref || (wanted !== undefined && tryCanonical(t)?.canonical === wanted)));
  }
  if (matches.length === 0) throw new ImageNotFoundError(ref ?? '(any)', file, entries.map(label));
  if (matches.length > 1) throw new AmbiguousReferenceError(ref ?? '(none given)', matches.map(label));
  const entry = matches[0] as DockerArchiveEntry;

  const rawConfig = await archive.read(entry.Config);
  if (!rawConfig) throw new InvalidArchiveError(file, 'config named by manifest.json is missing', entry.Config);
  const configDigest = sha256(rawConfig);
  const named = digestFromName(entry.Config);
  if (named !== undefined && named !== configDigest) throw new DigestMismatchError(`config ${entry.Config} in ${file}`, named, configDigest);
  const config = parseImageConfig(rawConfig);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) {
    throw new InvalidArchiveError(file, `manifest.json lists ${entry.Layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`, entry.Config);
  }

  const fromLayout = await imageFromArchiveLayout(archive, configDigest, entry);
  if (fromLayout) return fromLayout;

  const layers = entry.Layers.map((name, i) => {
    const member = archive.file(name);
    if (!member) throw new InvalidArchiveError(file, 'layer named by manifest.json is missing', name);
    const compression = detectCompression(member.head);
    const diffId = parseDigest(config.rootfs.diff_ids[i] as string);
    const digest = digestFromName(name) ?? (compression === 'none' ? diffId : undefined);
    return storedLayer({
      mediaType: ociLayerMediaType(compression),
      ...(digest === undefined ? {} : { digest }),
      size: member.size,
      diffId,
      open: () => archive.open(member),
      what: `layer ${i} (${name}) of ${file}`,
    });
  });
  return new LazyImage(ImageMediaType.ociManifest, () => assembleWithRawConfig(ImageMediaType.ociManifest, rawConfig, layers));
}

// Docker ≥ 25 archives are OCI layouts too: use the manifest Docker wrote when it matches.
async function imageFromArchiveLayout(archive: TarArchive, configDigest: Digest, entry: DockerArchiveEntry): Promise<Image | undefined> {
  const indexBytes = await archive.read('index.json');
  if (!indexBytes || !archive.file('oci-layout')) return undefined;
  let index: ImageIndex;
  try {
    index = parseIndex(indexBytes);
  } catch {
    return undefined; // the legacy view is authoritative; a broken index is ignored
  }
  const source = archiveBlobSource(archive);
  const seen = new Set<string>();
  for (const d of index.manifests) {
    if (!isManifestMediaType(d.mediaType) || seen.has(d.digest)) continue;
    seen.add(d.digest);
    try {
      const bytes = await archive.read(`blobs/sha256/${digestHex(parseDigest(d.digest))}`);
      if (!bytes) continue;
      const manifest = parseManifest(bytes);
      const layerNames = manifest.layers.map((l) => `blobs/sha256/${digestHex(parseDigest(l.digest))}`);
      const sameLayers = layerNames.length === entry.Layers.length && layerNames.every((n, i) => archive.file(n) === archive.file(entry.Layers[i] as string));
      if (manifest.config.digest === configDigest && sameLayers) return await imageFromManifestDescriptor(source, d);
    } catch {
      continue;
    }
  }
  return undefined;
}
