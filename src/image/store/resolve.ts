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
 * ID (config digest) in full or as a unique hex prefix (`3f57d9401f8d`,
 * `sha256:3f57`). A name is tried before an ID prefix, as Docker does.
 *
 * @throws {@link ImageNotFoundError}, {@link AmbiguousReferenceError}, or the
 * {@link InvalidReferenceError} of a string that is neither a reference nor hex.
 */
export async function resolveStored(root: string, entries: StoredEntry[], ref: string): Promise<ImageFacts> {
  const input = ref.trim();
  const hex = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input)?.[1];
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
    const facts = await Promise.all(entries.map((e) => loadFacts(root, e)));
    const matches = facts.filter((f) => digestHex(f.configDigest).startsWith(hex));
    const ids = new Set(matches.map((m) => m.configDigest));
    // Two manifests over one config share an ID; a prefix then cannot choose between them.
    if (ids.size > 1 || (matches.length > 1 && hex.length < 64)) {
      throw new AmbiguousReferenceError(input, matches.map((m) => `${m.configDigest} (${m.entry.descriptor.digest})`));
    }
    if (matches[0]) return matches[0];
  }
  if (parseError !== undefined && hex === undefined) throw parseError;
  throw new ImageNotFoundError(input, root, entries.flatMap((e) => e.refs));
}
