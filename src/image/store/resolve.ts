/**
 * How the store finds the image a user means, the way the Docker CLI does.
 * @module
 */
import { digestHex, parseDigest, type Digest } from '../../digest.js';
import { directoryBlobSource, readBlob } from '../blob-source.js';
import { AmbiguousReferenceError, ImageNotFoundError } from '../errors.js';
import { parseImageConfig, parseManifest } from '../json.js';
import { parseReference } from '../reference.js';
import type { ImageConfig, Manifest } from '../types.js';
import type { StoredEntry } from './refs.js';

/**
 * The fewest hex digits that name an image by ID, as Docker's
 * (`^(sha256:)?[a-f0-9]{4,64}$`): anything shorter is only a name.
 */
export const MIN_ID_PREFIX = 4;

const ID_PREFIX = new RegExp(`^(?:sha256:)?([a-f0-9]{${MIN_ID_PREFIX},64})$`);

/** A stored image with its manifest and config read (and verified). */
export interface ImageFacts {
  entry: StoredEntry;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: Digest;
}

/** Reads (and verifies) the manifest and config of a stored image. */
export async function loadFacts(root: string, entry: StoredEntry): Promise<ImageFacts> {
  const source = directoryBlobSource(root);
  const manifest = parseManifest(await readBlob(source, parseDigest(entry.descriptor.digest), entry.descriptor.size));
  const configDigest = parseDigest(manifest.config.digest);
  const config = parseImageConfig(await readBlob(source, configDigest, manifest.config.size));
  return { entry, manifest, config, configDigest };
}

/**
 * Finds the stored image a reference names: `repo:tag` (normalized),
 * `repo@sha256:…` or a bare `sha256:…`/64-hex manifest digest, or the image
 * ID (config digest) in full or as a unique hex prefix of at least
 * {@link MIN_ID_PREFIX} digits (`3f57d9401f8d`, `sha256:3f57`). A name is
 * tried before an ID prefix, as Docker does; `b` or `abc` is only ever a
 * name. Several manifests of one config (the same image loaded from a
 * docker-archive and from an OCI layout) are one image: an ID names it
 * without ambiguity.
 *
 * @throws {@link ImageNotFoundError}, {@link AmbiguousReferenceError}, or the
 * {@link InvalidReferenceError} of a string that is neither a reference nor hex.
 */
export async function resolveStored(root: string, entries: StoredEntry[], ref: string): Promise<ImageFacts> {
  const input = ref.trim();
  const hex = ID_PREFIX.exec(input)?.[1];
  const byDigest = (digest: string) => entries.find((e) => e.descriptor.digest === digest);
  if (hex?.length === 64) {
    const manifestMatch = byDigest(`sha256:${hex}`);
    if (manifestMatch) return loadFacts(root, manifestMatch);
  }
  let parseError: unknown;
  if (!input.startsWith('sha256:')) {
    try {
      const parsed = parseReference(input);
      const found = parsed.digest !== undefined ? byDigest(parsed.digest) : entries.find((e) => e.refs.includes(parsed.canonical));
      if (found) return loadFacts(root, found);
    } catch (err) {
      parseError = err;
    }
  }
  if (hex !== undefined) {
    // A corrupt image cannot be matched by ID, and must not hide the others.
    const facts = (await Promise.all(entries.map((e) => loadFacts(root, e).catch(() => undefined)))).filter((f) => f !== undefined);
    const matches = facts.filter((f) => digestHex(f.configDigest).startsWith(hex));
    const ids = new Set(matches.map((m) => m.configDigest));
    if (ids.size > 1) throw new AmbiguousReferenceError(input, [...ids].sort());
    // Manifests over one config are one image: any of them gives the same files and config.
    const chosen = representative(matches);
    if (chosen) return chosen;
  }
  if (parseError !== undefined && hex === undefined) throw parseError;
  throw new ImageNotFoundError(input, root, entries.flatMap((e) => e.refs));
}

/** Of several manifests of one image, the one that speaks for it: tagged first, then the lowest digest. */
function representative(facts: ImageFacts[]): ImageFacts | undefined {
  return [...facts].sort((a, b) => Number(b.entry.refs.length > 0) - Number(a.entry.refs.length > 0) || a.entry.descriptor.digest.localeCompare(b.entry.descriptor.digest))[0];
}

/**
 * One image as Docker counts them: an image ID (config digest), with every
 * stored manifest of that config and the union of their tags.
 */
export interface StoredImage extends ImageFacts {
  /** Every stored manifest of this image ID. */
  entries: StoredEntry[];
}

function merge(group: ImageFacts[]): StoredImage {
  const chosen = representative(group)!;
  const refs = [...new Set(group.flatMap((f) => f.entry.refs))].sort();
  const repoDigests = [...new Set(group.flatMap((f) => f.entry.repoDigests ?? []))].sort();
  const entry: StoredEntry = { ...chosen.entry, refs, ...(repoDigests.length > 0 ? { repoDigests } : {}) };
  return { ...chosen, entry, entries: group.map((f) => f.entry) };
}

/**
 * The stored images, one per image ID: manifests of the same config (one
 * image loaded from a docker-archive and from an OCI layout) are merged.
 *
 * @example
 * ```ts
 * const images = await storedImages(store.root, await readRefs(store.root));
 * ```
 */
export async function storedImages(root: string, entries: StoredEntry[], broken?: (entry: StoredEntry, err: unknown) => void): Promise<StoredImage[]> {
  const loaded = await Promise.all(
    entries.map((e) =>
      loadFacts(root, e).catch((err: unknown) => {
        // With `broken`, an image whose manifest or config is unreadable is reported there and the rest still listed.
        if (!broken) throw err;
        broken(e, err);
        return undefined;
      }),
    ),
  );
  const facts = loaded.filter((f) => f !== undefined);
  const byId = new Map<string, ImageFacts[]>();
  for (const f of facts) byId.set(f.configDigest, [...(byId.get(f.configDigest) ?? []), f]);
  return [...byId.values()].map(merge);
}

/**
 * The image a reference names (see {@link resolveStored}) with every stored
 * manifest of its ID and all their tags.
 *
 * @example
 * ```ts
 * const { entry, entries } = await resolveImage(store.root, await readRefs(store.root), 'busybox');
 * ```
 */
export async function resolveImage(root: string, entries: StoredEntry[], ref: string): Promise<StoredImage> {
  const found = await resolveStored(root, entries, ref);
  // Another image's corrupt blob must not make this one unreachable.
  const loaded = await Promise.all(entries.map((e) => loadFacts(root, e).catch(() => undefined)));
  const group = loaded.filter((f) => f !== undefined && f.configDigest === found.configDigest) as ImageFacts[];
  const image = merge(group);
  // Keep the manifest the reference named (a manifest digest names one of them).
  return { ...image, manifest: found.manifest, entry: { ...image.entry, descriptor: found.entry.descriptor } };
}

/**
 * The stored manifests a reference names without reading any blob: an exact
 * tag, `repo@digest` or a full manifest digest. What `rmi` falls back to
 * for an image whose manifest or config is corrupt.
 *
 * @example
 * ```ts
 * const entries = entriesByName(await readRefs(store.root), 'me/app:1');
 * ```
 */
export function entriesByName(entries: StoredEntry[], ref: string): StoredEntry[] {
  const input = ref.trim();
  const hex = /^(?:sha256:)?([a-f0-9]{64})$/.exec(input)?.[1];
  if (hex !== undefined) return entries.filter((e) => e.descriptor.digest === `sha256:${hex}`);
  try {
    const parsed = parseReference(input);
    if (parsed.digest !== undefined) return entries.filter((e) => e.descriptor.digest === parsed.digest);
    return entries.filter((e) => e.refs.includes(parsed.canonical));
  } catch {
    return [];
  }
}
