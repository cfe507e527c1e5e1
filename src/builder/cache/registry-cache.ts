/**
 * The build cache in a registry: `cacheTo: 'type=registry,ref=REF'` and
 * `cacheFrom: 'type=registry,ref=REF'`, as buildx spells them.
 *
 * The format is the `type=local` one (layout.ts) put in a registry: under
 * `REF` an OCI image manifest with `artifactType`
 * `application/vnd.layerkit.build.cache.v1`, whose config blob
 * (`application/vnd.layerkit.build.cache.config.v1+json`) holds the cache
 * records and whose layers are the cached layer blobs, each annotated with
 * its diffID. Any OCI client (skopeo, oras, crane) can copy it. An import
 * reads the manifest and the records; a layer blob is downloaded only when
 * a record that uses it is hit.
 * @module
 */
import { readFile, rm } from 'node:fs/promises';
import { specAttributes } from '../../csv.js';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { sha256, type Digest } from '../../digest.js';
import { writeFileAtomic } from '../../image/fs-atomic.js';
import { makeScratchDir, storeTmp } from '../../image/store/scratch.js';
import { defaultStoreRoot } from '../../image/store/store.js';
import { parseManifest } from '../../image/json.js';
import { parseReference } from '../../image/reference.js';
import { ImageMediaType } from '../../image/types.js';
import { verified } from '../../image/streams.js';
import type { RegistryClient } from '../../registry/index.js';
import { blobFile } from './blobs.js';
import type { BuildCache, ImportedCache } from './cache.js';
import { CacheError } from './errors.js';
import { CACHE_CONFIG_MEDIA_TYPE, exportCache, type ExportEntry, type ExportResult } from './layout.js';
import { decodeRecord, type CacheRecord } from './records.js';

/**
 * Where to export: `type=registry,ref=REF[,mode=min|max][,ignore-error=true]`.
 *
 * @example
 * ```ts
 * parseRegistryCacheTo('type=registry,ref=localhost:5000/app:buildcache,mode=max');
 * ```
 */
export interface RegistryCacheToSpec {
  type: 'registry';
  ref: string;
  mode: 'min' | 'max';
  ignoreError: boolean;
}

/**
 * Where to import from: `type=registry,ref=REF[,ignore-error=true]`. A ref
 * the registry does not have (the first CI run) imports nothing.
 *
 * @example
 * ```ts
 * parseRegistryCacheFrom('type=registry,ref=localhost:5000/app:buildcache');
 * ```
 */
export interface RegistryCacheFromSpec {
  type: 'registry';
  ref: string;
  ignoreError: boolean;
}

/** Attributes of BuildKit's registry cache that change nothing here. */
const ACCEPTED = new Set(['compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'image-manifest', 'ignore-error']);

/** True when a cache spec (string or object) is of `type=registry`. */
export function isRegistryCacheSpec(spec: unknown): boolean {
  if (typeof spec === 'string') return /(^|,)\s*type\s*=\s*registry\s*(,|$)/i.test(spec);
  return typeof spec === 'object' && spec !== null && (spec as { type?: unknown }).type === 'registry';
}

function invalid(spec: string, reason: string): CacheError {
  return new CacheError('CACHE_INVALID_SPEC', `invalid cache spec ${JSON.stringify(spec)}: ${reason}`, { spec, reason });
}

function pairs(spec: string, allowed: readonly string[]): Map<string, string> {
  const out = specAttributes(spec, [...allowed, ...ACCEPTED], (reason) => invalid(spec, reason));
  return out;
}

function checkRef(ref: string | undefined, written: string): string {
  if (ref === undefined || ref === '') throw invalid(written, 'ref= is required');
  try {
    return parseReference(ref).canonical;
  } catch (err) {
    throw invalid(written, `ref: ${(err as Error).message}`);
  }
}

function flag(spec: string, value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true' || value === '') return true;
  throw invalid(spec, `ignore-error must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * Reads a registry `cacheTo` spec.
 * @throws {@link CacheError} `CACHE_INVALID_SPEC`.
 * @example
 * ```ts
 * parseRegistryCacheTo('type=registry,ref=localhost:5000/cache,mode=max').mode; // 'max'
 * ```
 */
export function parseRegistryCacheTo(spec: string | RegistryCacheToSpec): RegistryCacheToSpec {
  if (typeof spec !== 'string') {
    const written = JSON.stringify(spec);
    if (spec.mode !== 'min' && spec.mode !== 'max') throw invalid(written, 'mode must be min or max');
    return { type: 'registry', ref: checkRef(spec.ref, written), mode: spec.mode, ignoreError: spec.ignoreError === true };
  }
  const p = pairs(spec, ['type', 'ref', 'mode']);
  const mode = p.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw invalid(spec, `mode must be min or max, got ${JSON.stringify(mode)}`);
  return { type: 'registry', ref: checkRef(p.get('ref'), spec), mode, ignoreError: flag(spec, p.get('ignore-error')) };
}

/**
 * Reads a registry `cacheFrom` spec.
 * @throws {@link CacheError} `CACHE_INVALID_SPEC`.
 * @example
 * ```ts
 * parseRegistryCacheFrom('type=registry,ref=localhost:5000/cache').ref; // 'localhost:5000/cache:latest'
 * ```
 */
export function parseRegistryCacheFrom(spec: string | RegistryCacheFromSpec): RegistryCacheFromSpec {
  if (typeof spec !== 'string') return { type: 'registry', ref: checkRef(spec.ref, JSON.stringify(spec)), ignoreError: spec.ignoreError === true };
  const p = pairs(spec, ['type', 'ref']);
  return { type: 'registry', ref: checkRef(p.get('ref'), spec), ignoreError: flag(spec, p.get('ignore-error')) };
}

function repositoryOf(ref: string): string {
  return parseReference(ref).name;
}

async function* bytesOf(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

/**
 * Exports records (and the layer blobs they use) to a registry: the same
 * manifest as a `type=local` export, written to a scratch layout, then its
 * blobs pushed (those the registry has are skipped) and the manifest put
 * under `spec.ref`.
 *
 * The layout is staged in an owned scratch directory under `tmpDir`
 * (default the cache's store's `tmp/`), removed when the export ends and,
 * after a `kill -9`, by the next command that opens the store.
 *
 * @example
 * ```ts
 * await exportRegistryCache(cache, entries, parseRegistryCacheTo('type=registry,ref=localhost:5000/cache'), client);
 * ```
 */
export async function exportRegistryCache(cache: BuildCache, entries: readonly ExportEntry[], spec: RegistryCacheToSpec, client: RegistryClient, tmpDir: string = storeTmp(cache.storeRoot)): Promise<ExportResult> {
  // Named for this process, so a store sweep while it runs leaves it alone.
  const dir = await makeScratchDir(tmpDir, 'registry-cache');
  try {
    const result = await exportCache(cache, entries, { type: 'local', dest: dir, mode: spec.mode, tag: 'latest', ignoreError: false });
    const manifestBytes = await readFile(blobFile(dir, result.digest));
    const manifest = parseManifest(manifestBytes);
    const repo = repositoryOf(spec.ref);
    for (const layer of manifest.layers) {
      const file = blobFile(dir, layer.digest as Digest);
      await client.pushBlob(repo, { digest: layer.digest as Digest, size: layer.size, open: () => createReadStream(file) as AsyncIterable<Uint8Array> });
    }
    const config = await readFile(blobFile(dir, manifest.config.digest as Digest));
    await client.pushBlob(repo, { digest: manifest.config.digest as Digest, size: config.byteLength, open: () => bytesOf(config) });
    await client.putManifest(spec.ref, manifestBytes, ImageMediaType.ociManifest);
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Reads the records of a registry cache. Layer blobs are not downloaded
 * now: the returned import fetches one (verified) when a record using it is
 * hit. A ref the registry does not have gives no records.
 *
 * The fetched blobs wait in an owned scratch directory under `into` until
 * the cache adopts them: a directory, or the `BuildCache` the import is for
 * (its store's `tmp/`); the default is the default store's `tmp/`
 * (`defaultStoreRoot()`), where `new BuildCache()` lives. `dispose()`
 * removes it; after a `kill -9` the next command that opens the store does.
 *
 * @throws {@link CacheError} `CACHE_INVALID_LAYOUT` for a manifest that is not a build cache, or a registry error, unless `ignoreError`.
 * @example
 * ```ts
 * cache.addImport(await importRegistryCache(parseRegistryCacheFrom('type=registry,ref=localhost:5000/cache'), client));
 * ```
 */
export async function importRegistryCache(spec: RegistryCacheFromSpec, client: RegistryClient, into: string | Pick<BuildCache, 'storeRoot'> = storeTmp(defaultStoreRoot())): Promise<ImportedCache & { dispose(): Promise<void> }> {
  const dir = await makeScratchDir(typeof into === 'string' ? into : storeTmp(into.storeRoot), 'registry-cache');
  const dispose = () => rm(dir, { recursive: true, force: true });
  const empty = { dir, records: new Map<string, CacheRecord>(), dispose };
  const fail = async (reason: string, cause?: unknown) => {
    if (spec.ignoreError) return empty;
    await dispose();
    throw new CacheError('CACHE_INVALID_LAYOUT', `cannot import the build cache from ${spec.ref}: ${reason}`, { path: spec.ref, reason }, cause ? { cause } : undefined);
  };
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = (await client.getManifest(spec.ref)).bytes;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NOT_FOUND' || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN') return empty;
    return fail((err as Error).message, err);
  }
  const repo = repositoryOf(spec.ref);
  try {
    const manifest = parseManifest(manifestBytes);
    if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) return fail(`${spec.ref} is not a build cache manifest`);
    const chunks: Uint8Array[] = [];
    for await (const chunk of client.fetchBlob(repo, manifest.config.digest as Digest)) chunks.push(chunk);
    const configBytes = Buffer.concat(chunks);
    if (sha256(configBytes) !== manifest.config.digest) return fail('the cache config does not match its digest');
    const config = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(configBytes)) as { version?: unknown; records?: unknown };
    if (config.version !== 1 || !Array.isArray(config.records)) return fail('the cache config has an unknown version');
    const records = new Map<string, CacheRecord>();
    for (const raw of config.records) {
      const decoded = decodeRecord(typeof raw === 'object' && raw !== null ? { v: 1, ...raw } : raw);
      if (decoded) records.set(decoded.key, decoded.record);
    }
    const listed = new Set(manifest.layers.map((l) => l.digest));
    return {
      dir,
      records,
      dispose,
      async fetch(layer) {
        if (!listed.has(layer.digest)) throw new Error(`layer ${layer.digest} is not in the cache manifest`);
        const content = verified(client.fetchBlob(repo, layer.digest), { digest: layer.digest, size: layer.size }, `cached layer ${layer.digest}`);
        await writeFileAtomic(blobFile(dir, layer.digest), content, { tmpDir: join(dir, '.tmp') });
      },
    };
  } catch (err) {
    return fail((err as Error).message, err);
  }
}
