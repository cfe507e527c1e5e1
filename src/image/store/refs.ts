/**
 * The store's reference index: `<root>/index.json`, an OCI image index whose
 * descriptors carry the full normalized reference in
 * `org.opencontainers.image.ref.name` (`docker.io/library/busybox:latest`).
 * An image without tags keeps one descriptor without annotations, so it is
 * still referenced (Docker's `<none>` images). The store directory is thus
 * itself an OCI image layout.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import { canonicalJson, parseIndex } from '../json.js';
import { Annotation, ImageMediaType, type Descriptor, type ImageIndex } from '../types.js';

/** One stored image: its manifest descriptor and the references naming it. */
export interface StoredEntry {
  descriptor: Descriptor;
  /** Canonical references, sorted. */
  refs: string[];
  /** Canonical `repo@digest` names the image was pulled from or pushed to, sorted. */
  repoDigests?: string[];
}

/** The annotation that keeps an image's repo digests beside its tags (comma-separated). */
export const REPO_DIGESTS_ANNOTATION = 'dev.layerkit.image.repo-digests';

/** Reads `<root>/index.json`; an absent file is an empty store. */
export async function readRefs(root: string): Promise<StoredEntry[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(root, 'index.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const index = parseIndex(bytes);
  const byDigest = new Map<string, StoredEntry>();
  for (const d of index.manifests) {
    const entry = byDigest.get(d.digest) ?? { descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, refs: [] };
    const ref = d.annotations?.[Annotation.refName];
    if (ref !== undefined && !entry.refs.includes(ref)) entry.refs.push(ref);
    const repoDigests = d.annotations?.[REPO_DIGESTS_ANNOTATION];
    if (repoDigests) entry.repoDigests = [...new Set([...(entry.repoDigests ?? []), ...repoDigests.split(',')])].sort();
    byDigest.set(d.digest, entry);
  }
  for (const e of byDigest.values()) e.refs.sort();
  return [...byDigest.values()];
}

/**
 * Writes `<root>/index.json` atomically, entries sorted for a stable file;
 * an index that would not change is left alone (no rewrite, no new mtime),
 * so a rebuild that changes nothing changes nothing on disk.
 */
export async function writeRefs(root: string, entries: StoredEntry[]): Promise<void> {
  const manifests: Descriptor[] = [];
  for (const entry of [...entries].sort((a, b) => (a.descriptor.digest < b.descriptor.digest ? -1 : 1))) {
    const base = { mediaType: entry.descriptor.mediaType, digest: entry.descriptor.digest, size: entry.descriptor.size };
    const extra = entry.repoDigests?.length ? { [REPO_DIGESTS_ANNOTATION]: [...entry.repoDigests].sort().join(',') } : undefined;
    if (entry.refs.length === 0) manifests.push(extra ? { ...base, annotations: extra } : base);
    for (const ref of [...entry.refs].sort()) manifests.push({ ...base, annotations: { [Annotation.refName]: ref, ...extra } });
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests };
  const bytes = canonicalJson('index', index);
  const current = await readFile(join(root, 'index.json')).catch(() => undefined);
  if (current !== undefined && Buffer.compare(current, bytes) === 0) return;
  await writeFileAtomic(join(root, 'index.json'), bytes, { tmpDir: join(root, 'tmp') });
}

/** Moves `ref` to the image `digest` (taking it from any other image). */
export function assignRef(entries: StoredEntry[], descriptor: Descriptor, ref: string): StoredEntry[] {
  const next = entries.map((e) => ({ ...e, refs: e.refs.filter((r) => r !== ref) }));
  let target = next.find((e) => e.descriptor.digest === descriptor.digest);
  if (!target) {
    target = { descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }, refs: [] };
    next.push(target);
  }
  target.refs.push(ref);
  target.refs.sort();
  return next;
}

/** Ensures an image is present (untagged if it has no refs). */
export function ensureEntry(entries: StoredEntry[], descriptor: Descriptor): StoredEntry[] {
  if (entries.some((e) => e.descriptor.digest === descriptor.digest)) return entries;
  return [...entries, { descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }, refs: [] }];
}
