/**
 * Export and import of build cache records as an OCI image layout, the way
 * BuildKit's `type=local` cache does it: the directory is an ordinary OCI
 * layout (`oci-layout`, `index.json`, `blobs/sha256/…`) whose `index.json`
 * names a cache manifest by tag. The manifest's config blob holds the
 * records; its layers are the layer blobs the records use, so any OCI tool
 * (skopeo, oras) can copy the directory or push it as an artifact.
 * @module
 */
import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sha256, type Digest } from '../../digest.js';
import { temporaryPath, writeFileAtomic } from '../../image/fs-atomic.js';
import { withLock, type LockOptions } from '../../image/store/lock.js';
import { canonicalJson, parseIndex, parseManifest } from '../../image/json.js';
import { Annotation, ImageMediaType, isIndexMediaType, type Descriptor } from '../../image/types.js';
import { blobFile } from './blobs.js';
import type { BuildCache, ImportedCache } from './cache.js';
import { CacheError } from './errors.js';
import { decodeRecord, type CacheRecord } from './records.js';
import type { CacheFromSpec, CacheToSpec } from './spec.js';

/** The manifest's `artifactType`. */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.layerkit.build.cache.v1';
/** The media type of the config blob that holds the records. */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.layerkit.build.cache.config.v1+json';
/** Annotation on each layer descriptor: the layer's diffID. */
export const DIFF_ID_ANNOTATION = 'dev.layerkit.cache.diffid';

const MAX_JSON = 64 << 20;

/**
 * One record to export.
 *
 * @example
 * ```ts
 * const entry: ExportEntry = { key, record: { kind: 'content', checksum } };
 * ```
 */
export interface ExportEntry {
  key: string;
  record: CacheRecord;
}

/**
 * What {@link exportCache} wrote.
 *
 * @example
 * ```ts
 * const { digest, records, blobs } = await exportCache(cache, entries, parseCacheTo('type=local,dest=out'));
 * ```
 */
export interface ExportResult {
  /** The cache manifest's digest. */
  digest: Digest;
  records: number;
  /** Layer blobs the manifest lists. */
  blobs: number;
}

/**
 * Writes records (and the blobs they use, from `cache`) into an OCI layout
 * at `spec.dest`, under `spec.tag` in its `index.json`. An entry of the same
 * tag is replaced; blobs that no manifest of the layout uses any more are
 * removed, so a directory carried from CI run to CI run does not grow
 * without bound. Records whose blob is missing from the cache are left out.
 * Exports to one directory take turns through a lock file (`DIR/.lock`).
 *
 * @example
 * ```ts
 * await exportCache(new BuildCache(store), entries, parseCacheTo('type=local,dest=.ci/cache'));
 * ```
 */
export async function exportCache(cache: BuildCache, entries: readonly ExportEntry[], spec: CacheToSpec, lock: LockOptions = {}): Promise<ExportResult> {
  const dir = resolve(spec.dest);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  // Two builds exporting to one directory take turns: one's cleanup must not remove the other's new blobs.
  return withLock(join(dir, '.lock'), () => writeExport(cache, dir, entries, spec), lock);
}

async function writeExport(cache: BuildCache, dir: string, entries: readonly ExportEntry[], spec: CacheToSpec): Promise<ExportResult> {
  const tmpDir = join(dir, '.tmp');
  const layers = new Map<string, Descriptor>();
  const records: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const { key, record } of entries) {
    if (seen.has(key)) continue;
    seen.add(key);
    if (record.kind === 'step' && record.layer) {
      const l = record.layer;
      if (!layers.has(l.digest)) {
        if (!(await copyBlob(cache.blobPath(l.digest), blobFile(dir, l.digest), l.size, tmpDir))) continue;
        layers.set(l.digest, { mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: { [DIFF_ID_ANNOTATION]: l.diffId } });
      }
    }
    records.push({ key, ...record });
  }
  records.sort((a, b) => ((a.key as string) < (b.key as string) ? -1 : 1));
  const config = canonicalJson('generic', { version: 1, records });
  const configDigest = sha256(config);
  const manifest = canonicalJson('generic', {
    schemaVersion: 2,
    mediaType: ImageMediaType.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: configDigest, size: config.byteLength },
    layers: [...layers.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
  });
  const digest = sha256(manifest);
  await writeFileAtomic(blobFile(dir, configDigest), config, { tmpDir });
  await writeFileAtomic(blobFile(dir, digest), manifest, { tmpDir });
  await writeFileAtomic(join(dir, 'oci-layout'), new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'), { tmpDir });

  const existing = await readIndexOrEmpty(dir);
  const kept = existing.filter((d) => d.annotations?.[Annotation.refName] !== spec.tag);
  const entry: Descriptor = { mediaType: ImageMediaType.ociManifest, digest, size: manifest.byteLength, artifactType: CACHE_ARTIFACT_TYPE, annotations: { [Annotation.refName]: spec.tag } } as Descriptor;
  const index = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests: [...kept, entry] };
  await writeFileAtomic(join(dir, 'index.json'), canonicalJson('generic', index), { tmpDir });
  await removeUnusedBlobs(dir, [...kept, entry]);
  await rm(tmpDir, { recursive: true, force: true });
  return { digest, records: records.length, blobs: layers.size };
}

/** Links (or copies) a blob unless the target is there with the right size. */
async function copyBlob(from: string, to: string, size: number, tmpDir: string): Promise<boolean> {
  const present = await stat(to).catch(() => undefined);
  if (present?.size === size) return true;
  const source = await stat(from).catch(() => undefined);
  if (!source || source.size !== size) return false;
  await mkdir(tmpDir, { recursive: true });
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch {
    // Another file system: copy beside the target, then rename into place.
    const temp = temporaryPath(tmpDir, 'blob');
    try {
      await copyFile(from, temp);
      await rename(temp, to);
    } finally {
      await rm(temp, { force: true });
    }
  }
  return true;
}

async function readIndexOrEmpty(dir: string): Promise<Descriptor[]> {
  const bytes = await readFile(join(dir, 'index.json')).catch(() => undefined);
  if (!bytes) return [];
  try {
    return parseIndex(bytes).manifests;
  } catch {
    return [];
  }
}

/**
 * Deletes blobs no listed manifest reaches. Conservative: when anything in
 * the layout cannot be read, or it holds a nested index, nothing is deleted.
 */
async function removeUnusedBlobs(dir: string, manifests: Descriptor[]): Promise<void> {
  const used = new Set<string>();
  for (const d of manifests) {
    if (isIndexMediaType(d.mediaType)) return;
    used.add(d.digest);
    try {
      const m = parseManifest(await readBlob(dir, d.digest as Digest, d.size));
      used.add(m.config.digest);
      for (const l of m.layers) used.add(l.digest);
    } catch {
      return;
    }
  }
  const blobs = join(dir, 'blobs', 'sha256');
  for (const hex of await readdir(blobs).catch(() => [] as string[])) {
    if (!used.has(`sha256:${hex}`)) await rm(join(blobs, hex), { force: true });
  }
}

async function readBlob(dir: string, digest: Digest, size: number): Promise<Uint8Array> {
  if (size > MAX_JSON) throw new Error(`blob ${digest} is too large (${size} bytes)`);
  const bytes = await readFile(blobFile(dir, digest));
  if (bytes.byteLength !== size || sha256(bytes) !== digest) throw new Error(`blob ${digest} does not match its digest`);
  return bytes;
}

/**
 * Reads the records of a cache layout (see {@link exportCache}). Layer
 * blobs are not read now: a lookup copies one in (verified) when a record
 * that uses it is hit. A directory that does not exist, or has no manifest
 * of that tag, gives no records.
 *
 * @throws {@link CacheError} `CACHE_INVALID_LAYOUT` for a layout that cannot be read, unless `ignoreError`.
 * @example
 * ```ts
 * cache.addImport(await importCache(parseCacheFrom('type=local,src=.ci/cache')));
 * ```
 */
export async function importCache(spec: CacheFromSpec): Promise<ImportedCache> {
  const dir = resolve(spec.src);
  const empty: ImportedCache = { dir, records: new Map() };
  const fail = (reason: string, cause?: unknown): ImportedCache => {
    if (spec.ignoreError) return empty;
    throw new CacheError('CACHE_INVALID_LAYOUT', `cannot import the build cache from ${dir}: ${reason}`, { path: dir, reason }, cause ? { cause } : undefined);
  };
  const info = await stat(dir).catch(() => undefined);
  if (!info) return empty;
  if (!info.isDirectory()) return fail('not a directory');
  let indexBytes: Uint8Array;
  try {
    indexBytes = await readFile(join(dir, 'index.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
    return fail('index.json cannot be read', err);
  }
  let manifests: Descriptor[];
  try {
    manifests = parseIndex(indexBytes).manifests;
  } catch (err) {
    return fail(`index.json: ${(err as Error).message}`, err);
  }
  const chosen = manifests.find((d) => (spec.digest !== undefined ? d.digest === spec.digest : d.annotations?.[Annotation.refName] === spec.tag));
  if (!chosen) return empty;
  try {
    const manifest = parseManifest(await readBlob(dir, chosen.digest as Digest, chosen.size));
    if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) return fail(`${chosen.digest} is not a build cache manifest`);
    const config = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await readBlob(dir, manifest.config.digest as Digest, manifest.config.size))) as {
      version?: unknown;
      records?: unknown;
    };
    if (config.version !== 1 || !Array.isArray(config.records)) return fail('the cache config has an unknown version');
    const records = new Map<string, CacheRecord>();
    for (const raw of config.records) {
      // Each record is checked alone: one bad record is a miss, not a failed import.
      const decoded = decodeRecord(typeof raw === 'object' && raw !== null ? { v: 1, ...raw } : raw);
      if (decoded) records.set(decoded.key, decoded.record);
    }
    return { dir, records };
  } catch (err) {
    return fail((err as Error).message, err);
  }
}
