/**
 * Read-only views of stored images, shaped like the Docker CLI's
 * `docker images`, `docker image inspect` and `docker history`.
 * @module
 */
import type { Digest } from '../../digest.js';
import { parseReference } from '../reference.js';
import type { ContainerConfig, Descriptor, ImageConfig, Manifest } from '../types.js';
import type { StoredEntry } from './refs.js';

/**
 * One line of {@link ImageStore.list}.
 *
 * @example
 * ```ts
 * for (const { tags, id, size } of await store.list()) console.log(tags.join(','), id, size);
 * ```
 */
export interface ImageSummary {
  /** Image ID (config digest). */
  id: Digest;
  /** Manifest digest. */
  digest: Digest;
  /** Tags in Docker's short form (`busybox:latest`); empty for an untagged image. */
  tags: string[];
  created?: string;
  /** Sum of the layers' uncompressed sizes (Docker's SIZE: the same however the image was loaded). */
  size: number;
  mediaType: string;
  /**
   * Set when a blob of the image is unreadable or does not match its digest
   * (what is wrong); `size` is then 0, and `id` the manifest digest when the
   * config could not be read. `rmi` still removes such an image.
   */
  corrupt?: string;
}

/**
 * The line of an image whose manifest or config cannot be read.
 *
 * @example
 * ```ts
 * corruptSummaryOf(entry, 'config blob: expected sha256:…, got sha256:…');
 * ```
 */
export function corruptSummaryOf(entry: StoredEntry, reason: string, id?: Digest): ImageSummary {
  const digest = entry.descriptor.digest as Digest;
  return { id: id ?? digest, digest, tags: entry.refs.map(familiar), size: 0, mediaType: entry.descriptor.mediaType, corrupt: reason };
}

/**
 * What {@link ImageStore.inspect} returns (the main fields of `docker image inspect`).
 *
 * @example
 * ```ts
 * const { Config, RootFS } = await store.inspect('me/app:1');
 * ```
 */
export interface ImageInspect {
  Id: Digest;
  RepoTags: string[];
  /** `repo@<manifest digest>` for every repository the image is tagged in. */
  RepoDigests: string[];
  Created?: string;
  Author?: string;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  /** Sum of the layers' uncompressed sizes, as Docker shows. */
  Size: number;
  Config: ContainerConfig;
  RootFS: { Type: 'layers'; Layers: string[] };
  Descriptor: Descriptor;
}

/**
 * One step of {@link ImageStore.history}.
 *
 * @example
 * ```ts
 * const [top] = await store.history('me/app:1');
 * console.log(top?.createdBy, top?.emptyLayer);
 * ```
 */
export interface ImageHistoryEntry {
  created?: string;
  createdBy: string;
  author?: string;
  comment?: string;
  emptyLayer: boolean;
  /** Uncompressed size of the step's layer (0 for an empty layer). */
  size: number;
  /** The layer, for steps that made one. */
  layer?: { digest: string; diffId: string };
}

function familiar(ref: string): string {
  try {
    return parseReference(ref).familiar;
  } catch {
    return ref;
  }
}

/** `sizes[i]` is layer i's size (uncompressed, from sizes.ts); without them, the blob sizes. */
function layersSize(manifest: Manifest, sizes?: readonly number[]): number {
  return manifest.layers.reduce((sum, l, i) => sum + (sizes?.[i] ?? l.size), 0);
}

export function summaryOf(entry: StoredEntry, manifest: Manifest, config: ImageConfig, id: Digest, sizes?: readonly number[]): ImageSummary {
  return {
    id,
    digest: entry.descriptor.digest as Digest,
    tags: entry.refs.map(familiar),
    ...(config.created !== undefined ? { created: config.created } : {}),
    size: layersSize(manifest, sizes),
    mediaType: entry.descriptor.mediaType,
  };
}

export function inspectOf(entry: StoredEntry, manifest: Manifest, config: ImageConfig, id: Digest, sizes?: readonly number[]): ImageInspect {
  const repos = new Set<string>();
  for (const ref of entry.refs) {
    try {
      const parsed = parseReference(ref);
      repos.add(parsed.familiar.slice(0, parsed.familiar.length - (parsed.tag ? parsed.tag.length + 1 : 0)));
    } catch {
      // refs in the index are written canonical; a hand-edited odd one is just skipped
    }
  }
  return {
    Id: id,
    RepoTags: entry.refs.map(familiar),
    RepoDigests: [...new Set([...[...repos].map((r) => `${r}@${entry.descriptor.digest}`), ...(entry.repoDigests ?? []).map(familiar)])].sort(),
    ...(config.created !== undefined ? { Created: config.created } : {}),
    ...(config.author !== undefined ? { Author: config.author } : {}),
    Architecture: config.architecture,
    ...(config.variant !== undefined ? { Variant: config.variant } : {}),
    Os: config.os,
    ...(config['os.version'] !== undefined ? { OsVersion: config['os.version'] } : {}),
    Size: layersSize(manifest, sizes),
    Config: structuredClone(config.config ?? {}),
    RootFS: { Type: 'layers', Layers: [...config.rootfs.diff_ids] },
    Descriptor: { ...entry.descriptor },
  };
}

export function historyOf(manifest: Manifest, config: ImageConfig, sizes?: readonly number[]): ImageHistoryEntry[] {
  const out: ImageHistoryEntry[] = [];
  let layerIndex = 0;
  for (const h of config.history ?? []) {
    const empty = h.empty_layer === true;
    const layer = empty ? undefined : manifest.layers[layerIndex];
    const size = empty ? 0 : (sizes?.[layerIndex] ?? layer?.size ?? 0);
    const diffId = empty ? undefined : config.rootfs.diff_ids[layerIndex];
    if (!empty) layerIndex++;
    out.push({
      ...(h.created !== undefined ? { created: h.created } : {}),
      createdBy: h.created_by ?? '',
      ...(h.author !== undefined ? { author: h.author } : {}),
      ...(h.comment !== undefined ? { comment: h.comment } : {}),
      emptyLayer: empty,
      size,
      ...(layer && diffId ? { layer: { digest: layer.digest, diffId } } : {}),
    });
  }
  return out.reverse();
}
