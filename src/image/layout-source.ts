/**
 * An OCI image layout opened for reading, whether a directory or a tar:
 * its top-level files, its blobs, and the resolution of a reference through
 * `index.json` (and nested indexes) down to one image manifest.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../digest.js';
import { archiveBlobSource, directoryBlobSource, MAX_JSON_BLOB, readBlob, type BlobSource } from './blob-source.js';
import { AmbiguousReferenceError, ImageNotFoundError, InvalidLayoutError } from './errors.js';
import { parseIndex } from './json.js';
import { formatPlatform, hostPlatform, platformMatches } from './platform.js';
import { parseReference } from './reference.js';
import { TarArchive } from './tar-archive.js';
import { Annotation, isIndexMediaType, isManifestMediaType, type Descriptor, type ImageIndex, type Platform } from './types.js';

/** A layout (or archive) opened for reading. */
export interface LayoutSource {
  readonly path: string;
  readonly blobs: BlobSource;
  /** A top-level file (`index.json`, `manifest.json`), or undefined when absent. */
  readFile(name: string): Promise<Uint8Array | undefined>;
}

/** Opens a directory or a (possibly gzip-compressed) tar file. */
export async function openLayoutSource(path: string): Promise<LayoutSource> {
  const info = await stat(path);
  if (info.isDirectory()) {
    return {
      path,
      blobs: directoryBlobSource(path),
      async readFile(name) {
        try {
          const file = join(path, name);
          if ((await stat(file)).size > MAX_JSON_BLOB) throw new InvalidLayoutError(path, `${name} is larger than ${MAX_JSON_BLOB} bytes`);
          return await readFile(file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      },
    };
  }
  const archive = await TarArchive.open(path);
  return { path, blobs: archiveBlobSource(archive), readFile: (name) => archive.read(name, MAX_JSON_BLOB) };
}

/** Reads and checks `oci-layout` and `index.json`. */
export async function readLayoutIndex(source: LayoutSource): Promise<ImageIndex> {
  const marker = await source.readFile('oci-layout');
  if (!marker) throw new InvalidLayoutError(source.path, 'no oci-layout file');
  let version: unknown;
  try {
    version = (JSON.parse(new TextDecoder().decode(marker)) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new InvalidLayoutError(source.path, 'oci-layout is not JSON');
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw new InvalidLayoutError(source.path, `unsupported imageLayoutVersion ${JSON.stringify(version)}`);
  }
  const index = await source.readFile('index.json');
  if (!index) throw new InvalidLayoutError(source.path, 'no index.json');
  return parseIndex(index);
}

/**
 * One image (or index) a layout's `index.json` lists.
 *
 * @example
 * ```ts
 * const [entry] = await listOciLayout('out/');
 * console.log(entry?.refName, entry?.descriptor.digest);
 * ```
 */
export interface LayoutEntry {
  /** `org.opencontainers.image.ref.name`, when set. */
  refName?: string;
  /** `io.containerd.image.name`, when set. */
  imageName?: string;
  descriptor: Descriptor;
}

/** The entries of `index.json` layerkit can read (manifests and indexes; other media types are skipped). */
export function layoutEntries(index: ImageIndex): LayoutEntry[] {
  return index.manifests
    .filter((d) => isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType))
    .map((d) => ({
      ...(d.annotations?.[Annotation.refName] !== undefined ? { refName: d.annotations[Annotation.refName] } : {}),
      ...(d.annotations?.[Annotation.imageName] !== undefined ? { imageName: d.annotations[Annotation.imageName] } : {}),
      descriptor: d,
    }));
}

function canonicalOrUndefined(value: string): string | undefined {
  try {
    return parseReference(value).canonical;
  } catch {
    return undefined;
  }
}

function entryLabel(entry: LayoutEntry): string {
  return entry.imageName ?? entry.refName ?? entry.descriptor.digest;
}

/**
 * Picks the entry a reference names: an exact `ref.name` first, then an
 * exact or normalized (`busybox` ≡ `docker.io/library/busybox:latest`) image
 * name, then a manifest digest. Without a reference the layout must hold one
 * image.
 */
export function selectEntry(entries: LayoutEntry[], ref: string | undefined, where: string): LayoutEntry {
  let matches: LayoutEntry[];
  if (ref === undefined) {
    matches = entries;
  } else {
    matches = entries.filter((e) => e.refName === ref);
    if (matches.length === 0) matches = entries.filter((e) => e.imageName === ref);
    if (matches.length === 0) {
      const wanted = canonicalOrUndefined(ref);
      if (wanted !== undefined) {
        matches = entries.filter((e) => e.imageName !== undefined && canonicalOrUndefined(e.imageName) === wanted);
        if (matches.length === 0) matches = entries.filter((e) => e.refName !== undefined && canonicalOrUndefined(e.refName) === wanted);
      }
    }
    if (matches.length === 0) matches = entries.filter((e) => e.descriptor.digest === ref || e.descriptor.digest === `sha256:${ref}`);
  }
  const distinct = new Map(matches.map((e) => [e.descriptor.digest, e]));
  if (distinct.size === 0) throw new ImageNotFoundError(ref ?? '(any)', where, entries.map(entryLabel));
  if (distinct.size > 1) throw new AmbiguousReferenceError(ref ?? '(none given)', [...distinct.values()].map(entryLabel));
  return [...distinct.values()][0] as LayoutEntry;
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] !== undefined || d.platform?.os === 'unknown';
}

/**
 * Follows indexes down to one image manifest, choosing by platform:
 * attestation manifests are skipped; with several candidates, the wanted
 * platform (default: the host's) decides.
 */
export async function resolveManifest(
  source: LayoutSource,
  descriptor: Descriptor,
  platform: Platform | undefined,
  depth = 0,
): Promise<Descriptor> {
  if (!isIndexMediaType(descriptor.mediaType)) return descriptor;
  if (depth > 8) throw new InvalidLayoutError(source.path, 'indexes nested more than 8 deep');
  const digest = parseDigest(descriptor.digest);
  const index = parseIndex(await readBlob(source.blobs, digest, descriptor.size, `index ${digest}`));
  const usable = index.manifests.filter((d) => (isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)) && !isAttestation(d));
  let candidates = usable;
  if (platform) {
    candidates = usable.filter((d) => d.platform === undefined || platformMatches(platform, d.platform));
  } else if (usable.length > 1) {
    const host = hostPlatform();
    const forHost = usable.filter((d) => d.platform !== undefined && platformMatches(host, d.platform));
    if (forHost.length > 0) candidates = forHost;
  }
  const label = (d: Descriptor) => (d.platform ? `${formatPlatform(d.platform)} ${d.digest}` : d.digest);
  if (candidates.length === 0) {
    throw new ImageNotFoundError(platform ? formatPlatform(platform) : descriptor.digest, `index ${digest} of ${source.path}`, usable.map(label));
  }
  if (candidates.length > 1) throw new AmbiguousReferenceError(descriptor.digest, candidates.map(label));
  return resolveManifest(source, candidates[0] as Descriptor, platform, depth + 1);
}
