/**
 * Base images from registries, as the builder uses them: resolved lazily
 * (manifest and config only), their layers downloaded into the local store
 * only when something needs their bytes, and their file trees known from a
 * layer index when one exists, so a COPY on top of them needs no download.
 *
 * A base layer's blob is fetched when:
 * - its file tree is needed and no layer index of it is known (a COPY whose
 *   destination must be resolved, a RUN, `COPY --from` the image);
 * - the result goes into the local store;
 * - the result is pushed to another registry than the base's (the blob is
 *   streamed from one registry to the other, not stored; the same registry
 *   mounts it or has it already).
 * Each download is a `base-download` event with its reason.
 *
 * Layer indexes (the entry list of a layer, no contents) come from the local
 * build cache (`<store>/cache/indexes/`) or from the registry, where
 * layerkit publishes them beside every image it pushes (docs/cache.md,
 * "Layer indexes").
 * @module
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, sha256, type Digest } from '../digest.js';
import { LayerkitError } from '../errors.js';
import { storedLayer } from '../image/blob-layer.js';
import { blobPath } from '../image/blob-source.js';
import { canonicalJson } from '../image/json.js';
import { platformMatches, formatPlatform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import { putBlob } from '../image/store/blobs.js';
import type { ImageStore } from '../image/store/store.js';
import { ImageMediaType, type ImageConfig, type Platform } from '../image/types.js';
import type { Image } from '../image/image.js';
import type { Layer } from '../layers/layer.js';
import { RegistryClient, type RegistryOptions, type RemoteLayer } from '../registry/index.js';
import type { LayerIndex } from '../unionfs/layer-index.js';
import { indexLayer, rememberIndex, type IndexLayerOptions } from '../unionfs/layer-source.js';
import { knownIndex } from './spool.js';
import { decodeIndex, encodeIndex, loadIndex, saveIndex, storeIndexOptions } from './cache/layer-index.js';
import { BuildError, type BuildErrorData } from './errors.js';
import type { BuildEvent } from './events.js';

/**
 * How a build reaches registries: a client, or the options to make one.
 *
 * @example
 * ```ts
 * await build({ context: '.', registry: { insecure: ['registry.lan:5000'] }, push: true, tags: 'registry.lan:5000/app:1' });
 * ```
 */
export type RegistryAccess = RegistryOptions | RegistryClient;

/** The `artifactType` of the manifest that publishes an image's layer indexes. */
export const LAYER_INDEX_ARTIFACT_TYPE = 'application/vnd.layerkit.layer-index.v1';
/** The media type of one layer's index blob (the JSON of `encodeIndex`). */
export const LAYER_INDEX_MEDIA_TYPE = 'application/vnd.layerkit.layer-index.v1+json';
/** Annotation on each index blob's descriptor: the digest of the layer it describes. */
export const LAYER_DIGEST_ANNOTATION = 'dev.layerkit.layer.digest';
const EMPTY_CONFIG = new TextEncoder().encode('{}');
const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';

/**
 * The tag under which the layer indexes of the image with manifest `digest` are published.
 *
 * @example
 * ```ts
 * layerIndexTag(result.digest); // 'sha256-4f1c….lkindex'
 * ```
 */
export function layerIndexTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}.lkindex`;
}

/** A client for `access`: the one given, or one made from the options (once per build). */
export function registryClient(access: RegistryAccess | undefined): RegistryClient {
  if (access instanceof RegistryClient) return access;
  return new RegistryClient({ ...(access ?? {}) });
}

/** What the builder needs from a base image. */
export interface ResolvedBase {
  config: ImageConfig;
  layers: Layer[];
  /** The config digest (the image ID, and the cache's identity of the image). */
  digest: string;
  /** Set for a base that came from a registry. */
  remote?: { reference: string; repository: string; registry: string; manifestDigest: Digest; image: Image };
}

/** What resolving a base through the registry needs from the build. */
export interface RemoteBaseContext {
  client: RegistryClient;
  store: ImageStore;
  emit: (event: BuildEvent) => void;
}

/** The registry layer behind a base layer of a build, when it has one, and where its events go. */
const remoteOf = new WeakMap<Layer, RemoteLayer>();
const emitterOf = new WeakMap<Layer, RemoteBaseContext['emit']>();
/** Base layers whose index came from a saved or published index (no download needed for their tree). */
const indexed = new WeakSet<Layer>();

/**
 * What a push to `registry` should read for a build's layer: for a registry
 * base layer, the registry layer itself — mounted when `registry` is the
 * base's, else streamed from the base's registry to the target without a
 * copy in the store (a `base-download` event with reason `push` says so);
 * any other layer as it is.
 */
export function pushableLayer(layer: Layer, registry: string): Layer {
  const remote = remoteOf.get(layer);
  if (!remote) return layer;
  if (remote.source.registry === registry) return remote;
  const emit = emitterOf.get(layer);
  return {
    mediaType: remote.mediaType,
    source: remote.source,
    diffId: () => remote.diffId(),
    digest: () => remote.digest(),
    size: () => remote.size(),
    uncompressed: () => remote.uncompressed(),
    async *compressed() {
      emit?.({ type: 'base-download', digest: remote.source.digest, bytes: await remote.size(), reason: 'push' });
      yield* remote.compressed();
    },
  } as Layer;
}

/** True when `layer` is a registry base layer whose blob the store does not hold. */
export async function isRemoteOnly(layer: Layer, store: ImageStore): Promise<boolean> {
  const remote = remoteOf.get(layer);
  if (!remote) return false;
  return !(await hasStoreBlob(store, await layer.digest(), await layer.size()));
}

/**
 * Resolves `ref` in the registry for `platform`: manifest and config, no
 * layer blob. The layers are wrapped so their bytes go into the store when
 * first read, and their indexes are looked up (local cache, then the
 * registry) so that their file trees are known without the blobs.
 *
 * @throws {@link BuildError} `BASE_IMAGE_NOT_FOUND` (the registry has no such
 * image, denies access to it, or cannot be reached; `data.reason` is the
 * registry error's code), `BASE_PLATFORM_MISMATCH`, `BASE_IMAGE_PULL_FAILED`
 * (any other registry error, as its cause).
 */
export async function resolveRegistryBase(ctx: RemoteBaseContext, ref: string, platform: Platform, data: BuildErrorData = {}): Promise<ResolvedBase> {
  const parsed = parseReference(ref);
  let image: Awaited<ReturnType<RegistryClient['getImage']>>;
  try {
    image = await ctx.client.getImage(parsed.canonical, { platform });
  } catch (err) {
    if (err instanceof LayerkitError && err.code === 'NOT_FOUND') {
      // The client says NOT_FOUND for a missing platform too: tell the two apart by what the reference has.
      const available = await ctx.client.getImages(parsed.canonical).then((all) => all.map((i) => formatPlatform(i.platform)), () => undefined);
      if (available !== undefined && available.length > 0) {
        throw new BuildError(
          'BASE_PLATFORM_MISMATCH',
          `image ${parsed.canonical} has no ${formatPlatform(platform)} image (it has ${available.join(', ')})`,
          { reference: ref, ...data, reason: available.join(', ') },
          { cause: err },
        );
      }
    }
    throw registryError(err, parsed.canonical, platform, { reference: ref, ...data });
  }
  const [config, remoteLayers, digest, manifestDigest] = await Promise.all([image.config(), image.layers(), image.configDigest(), image.digest()]);
  const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (config.os && config.architecture && !platformMatches(platform, actual)) {
    throw new BuildError(
      'BASE_PLATFORM_MISMATCH',
      `image ${parsed.canonical} is ${formatPlatform(actual)}, not ${formatPlatform(platform)}, and the registry has no ${formatPlatform(platform)} image under that name`,
      { ...data, reference: parsed.canonical, reason: formatPlatform(actual) },
    );
  }
  const layers = (remoteLayers as RemoteLayer[]).map((remote) => localizedLayer(remote, ctx));
  const remote = { reference: parsed.canonical, repository: parsed.path, registry: parsed.domain, manifestDigest, image };
  ctx.emit({ type: 'base-resolve', reference: parsed.canonical, source: 'registry', digest: manifestDigest, platform: formatPlatform(platform) });
  await findIndexes(ctx, remote, layers);
  return { config, layers, digest, remote };
}

function registryError(err: unknown, reference: string, platform: Platform, data: BuildErrorData): BuildError {
  const code = err instanceof LayerkitError ? err.code : undefined;
  const why = err instanceof Error ? err.message : String(err);
  if (code === 'NOT_FOUND' || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN') {
    return new BuildError('BASE_IMAGE_NOT_FOUND', `image "${reference}" is neither in the local store nor in its registry: ${why}`, { reference, ...data, reason: code }, { cause: err });
  }
  if (code === 'UNAUTHORIZED' || code === 'DENIED') {
    // Docker Hub answers 401 for a repository that does not exist as for a private one: Docker says "pull access denied".
    return new BuildError('BASE_IMAGE_NOT_FOUND', `image "${reference}" is not in the local store and its registry denied access (it does not exist, or needs a login): ${why}`, { reference, ...data, reason: code }, { cause: err });
  }
  if (code === 'UNREACHABLE' || code === 'TIMEOUT') {
    return new BuildError('BASE_IMAGE_NOT_FOUND', `image "${reference}" is not in the local store and its registry cannot be reached: ${why}`, { reference, ...data, reason: code }, { cause: err });
  }
  if (code === 'PLATFORM_NOT_FOUND' || /platform/i.test(code ?? '')) {
    return new BuildError('BASE_PLATFORM_MISMATCH', `image ${reference} has no ${formatPlatform(platform)} image: ${why}`, { reference, ...data }, { cause: err });
  }
  return new BuildError('BASE_IMAGE_PULL_FAILED', `cannot resolve image "${reference}" in its registry: ${why}`, { reference, ...data, ...(code ? { reason: code } : {}) }, { cause: err });
}

async function hasStoreBlob(store: ImageStore, digest: Digest, size: number): Promise<boolean> {
  const info = await stat(join(store.root, blobPath(digest))).catch(() => undefined);
  return info !== undefined && info.isFile() && info.size === size;
}

/**
 * A base layer over a registry layer: digests and size from the manifest
 * and config; the blob, when read, is first downloaded (verified) into the
 * store's blobs — where an image put later finds it — then read from there.
 */
function localizedLayer(remote: RemoteLayer, ctx: RemoteBaseContext): Layer {
  let local: Promise<Layer> | undefined;
  const ensure = (reason: 'file-tree' | 'store'): Promise<Layer> => {
    local ??= (async () => {
      const [digest, size, diffId] = await Promise.all([remote.digest(), remote.size(), remote.diffId()]);
      const file = join(ctx.store.root, blobPath(digest));
      if (!(await hasStoreBlob(ctx.store, digest, size))) {
        await putBlob(ctx.store.root, join(ctx.store.root, 'tmp'), { digest, size, content: () => remote.compressed() });
        ctx.emit({ type: 'base-download', digest, bytes: size, reason });
      }
      return storedLayer({ mediaType: remote.mediaType, digest, size, diffId, open: () => createReadStream(file), what: `layer ${digest}` });
    })();
    local.catch(() => {
      local = undefined;
    });
    return local;
  };
  const layer: Layer & { readonly source: RemoteLayer['source'] } = {
    mediaType: remote.mediaType,
    source: remote.source,
    diffId: () => remote.diffId(),
    digest: () => remote.digest(),
    size: () => remote.size(),
    async *compressed() {
      yield* (await ensure('store')).compressed();
    },
    async *uncompressed() {
      yield* (await ensure('file-tree')).uncompressed();
    },
  };
  remoteOf.set(layer, remote);
  emitterOf.set(layer, ctx.emit);
  return layer;
}

/**
 * Gives each base layer its index, when one is known: saved in the local
 * build cache, else published in the registry beside the base (then saved
 * locally too). Layers left without one are read (downloaded) when their
 * tree is needed.
 */
async function findIndexes(ctx: RemoteBaseContext, remote: NonNullable<ResolvedBase['remote']>, layers: Layer[]): Promise<void> {
  const cacheRoot = join(ctx.store.root, 'cache');
  const missing: Array<{ layer: Layer; position: number; digest: Digest }> = [];
  for (const [position, layer] of layers.entries()) {
    const digest = await layer.digest();
    const index = await loadIndex(cacheRoot, digest, () => layer, position);
    if (index) remember(layer, index);
    else missing.push({ layer, position, digest });
  }
  if (missing.length === 0) return;
  let published: Map<string, Digest>;
  try {
    const { bytes } = await ctx.client.getManifest(`${remote.registry}/${remote.repository}:${layerIndexTag(remote.manifestDigest)}`);
    const manifest = JSON.parse(new TextDecoder().decode(bytes)) as { artifactType?: string; layers?: Array<{ mediaType?: string; digest?: string; annotations?: Record<string, string> }> };
    if (manifest.artifactType !== LAYER_INDEX_ARTIFACT_TYPE || !Array.isArray(manifest.layers)) return;
    published = new Map();
    for (const d of manifest.layers) {
      const of = d.annotations?.[LAYER_DIGEST_ANNOTATION];
      if (d.mediaType === LAYER_INDEX_MEDIA_TYPE && typeof of === 'string' && typeof d.digest === 'string') published.set(of, d.digest as Digest);
    }
  } catch {
    // No published indexes (an image pushed by another tool): the trees are read when needed.
    return;
  }
  const repo = `${remote.registry}/${remote.repository}`;
  await Promise.all(missing.map(async ({ layer, position, digest }) => {
    const blob = published.get(digest);
    if (!blob) return;
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of ctx.client.fetchBlob(repo, blob)) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      if (sha256(bytes) !== blob) return;
      const index = decodeIndex(bytes, digest, () => layer, position, undefined, () => storeIndexOptions(ctx.store.root));
      if (!index) return;
      remember(layer, index);
      await saveIndex(cacheRoot, join(cacheRoot, 'tmp'), digest, index).catch(() => {});
    } catch {
      // An index that cannot be fetched is only a lost shortcut.
    }
  }));
}

function remember(layer: Layer, index: LayerIndex): void {
  rememberIndex(layer, index);
  indexed.add(layer);
}

/**
 * Publishes the layer indexes of a pushed image beside it (tag
 * {@link layerIndexTag} of its manifest digest), so builds on top of it
 * elsewhere can COPY onto it without its blobs. Layers whose index would
 * need a download (a registry base layer without a known index) make it
 * publish nothing. Failures are reported to the caller, who treats them
 * as a lost optimisation.
 *
 * A layer not indexed yet is read in full; bodies past 64 MiB spill into
 * `spill.spoolDir` (a build passes its scratch directory under the store:
 * `await storeIndexOptions(store.root)`), else into the OS temp directory.
 */
export async function publishLayerIndexes(client: RegistryClient, image: Image, reference: string, spill: IndexLayerOptions = {}): Promise<boolean> {
  const parsed = parseReference(reference);
  const repo = `${parsed.domain}/${parsed.path}`;
  const layers = await image.layers();
  if (layers.some((l) => remoteOf.has(l) && !indexed.has(l))) return false;
  const descriptors = await Promise.all(
    layers.map(async (layer) => {
      const digest = await layer.digest();
      // A layer this build wrote or replayed carries its index: nothing is read back for it.
      const bytes = encodeIndex(digest, knownIndex(layer) ?? (await indexLayer(layer, spill)));
      const blobDigest = sha256(bytes);
      await client.pushBlob(repo, { digest: blobDigest, size: bytes.byteLength, open: async function* () { yield bytes; } });
      return { mediaType: LAYER_INDEX_MEDIA_TYPE, digest: blobDigest, size: bytes.byteLength, annotations: { [LAYER_DIGEST_ANNOTATION]: digest } };
    }),
  );
  const emptyDigest = sha256(EMPTY_CONFIG);
  await client.pushBlob(repo, { digest: emptyDigest, size: EMPTY_CONFIG.byteLength, open: async function* () { yield EMPTY_CONFIG; } });
  const manifestDigest = await image.digest();
  const manifest = canonicalJson('generic', {
    schemaVersion: 2,
    mediaType: ImageMediaType.ociManifest,
    artifactType: LAYER_INDEX_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: emptyDigest, size: EMPTY_CONFIG.byteLength },
    layers: descriptors,
    subject: { mediaType: image.mediaType, digest: manifestDigest, size: (await image.rawManifest()).byteLength },
  });
  await client.putManifest(`${repo}:${layerIndexTag(manifestDigest)}`, manifest, ImageMediaType.ociManifest);
  return true;
}
