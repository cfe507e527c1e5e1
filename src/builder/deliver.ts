/**
 * Where a built image goes: file exports, registry pushes, the build cache
 * export, then the local store — in that order, so a failed export or push
 * leaves the store as it was.
 *
 * The store gets the result unless the build pushes and the result has base
 * layers whose blobs were never downloaded (a lazy base): storing it would
 * download them, which is what a pushing build on a registry base avoids.
 * `load: true` stores it anyway. Registry bases whose layers all reached
 * the store are stored too, under their reference (as `docker pull` would).
 * @module
 */
import type { Digest } from '../digest.js';
import { imageFromConfig, type Image } from '../image/image.js';
import { writeImageOutput, type OutputSpec } from '../image/output-spec.js';
import { parseReference } from '../image/reference.js';
import type { ImageStore } from '../image/store/store.js';
import type { Layer } from '../layers/layer.js';
import type { BuildSession } from './builder.js';
import type { CacheReport, CacheSession } from './cache/session.js';
import { BuildError } from './errors.js';
import { storeIndexOptions } from './cache/layer-index.js';
import { isRemoteOnly, publishLayerIndexes, pushableLayer, registryClient } from './remote-base.js';
import { isRemoteLayer, type RegistryClient } from '../registry/index.js';

/** Everything {@link deliver} needs. */
export interface DeliverInput {
  session: BuildSession;
  image: Image;
  digest: Digest;
  outputs: readonly OutputSpec[];
  /** Normalized `-t` tags. */
  tags: readonly string[];
  cache: CacheSession;
  /**
   * Set for one platform of a multi-platform build: the image is pushed by
   * digest to these repositories (the index is put by the caller), nothing
   * else is written.
   */
  platformPart?: { repositories: readonly string[] };
}

/** What {@link deliver} did. */
export interface Delivered {
  /** The stored image, the pushed image (read from the registry), or the built one. */
  image: Image;
  tags: string[];
  stored: boolean;
  pushed: Array<{ reference: string; digest: string }>;
  report: CacheReport;
}

/** A push target: a reference and whether its registry was named insecure. */
interface PushTarget {
  reference: string;
  insecure: boolean;
}

/** The push targets of a build: `push` (to the tags), `type=registry` and `type=image,push=true` (to their names, else the tags). */
export function pushTargets(options: { push?: boolean }, outputs: readonly OutputSpec[], tags: readonly string[]): PushTarget[] {
  const targets = new Map<string, PushTarget>();
  const add = (name: string, insecure: boolean): void => {
    const reference = parseReference(name).canonical;
    const known = targets.get(reference);
    targets.set(reference, { reference, insecure: insecure || (known?.insecure ?? false) });
  };
  if (options.push) {
    if (tags.length === 0) throw new BuildError('INVALID_OPTION', 'push needs a name to push to: give a tag (-t registry/name:tag)', { reason: 'push' });
    for (const tag of tags) add(tag, false);
  }
  for (const output of outputs) {
    if (!output.push) continue;
    const names = output.names.length > 0 ? output.names : tags;
    if (names.length === 0) {
      throw new BuildError('INVALID_OPTION', `type=${output.type} needs name=REF (or a tag) to push to`, { reason: 'output' });
    }
    for (const name of names) add(name, output.insecure === true);
  }
  return [...targets.values()];
}

/** The client for one target: the build's, or one that also allows the target's registry over plain HTTP. */
function clientFor(session: BuildSession, target: PushTarget): RegistryClient {
  const access = session.options.registry;
  if (!target.insecure || (access !== undefined && !isOptions(access))) return session.remote().client;
  const host = parseReference(target.reference).domain;
  const options = isOptions(access) ? access : {};
  return registryClient({ ...options, insecure: [...(options.insecure ?? []), host] });
}

function isOptions(access: unknown): access is { insecure?: string[] } {
  return typeof access === 'object' && access !== null && typeof (access as { getManifest?: unknown }).getManifest !== 'function';
}

/**
 * The same image with each registry base layer as the registry layer it
 * stands for, so a push to `registry` can mount it — or, for another
 * registry, stream it through unless the store has its blob already.
 */
async function pushable(image: Image, registry: string, store: ImageStore): Promise<Image> {
  const layers = await image.layers();
  const pushLayers = await Promise.all(
    layers.map(async (l) => {
      const mapped = pushableLayer(l, registry);
      if (mapped === l || (isRemoteLayer(mapped) && mapped.source.registry === registry)) return mapped;
      return (await isRemoteOnly(l, store)) ? mapped : l;
    }),
  );
  if (pushLayers.every((l, i) => l === layers[i])) return image;
  const mapped = imageFromConfig(await image.config(), pushLayers, { mediaType: image.mediaType });
  const [a, b] = await Promise.all([mapped.digest(), image.digest()]);
  if (a !== b) throw new Error(`internal: the pushable view of ${b} has digest ${a}`);
  return mapped;
}

async function pushOne(session: BuildSession, image: Image, target: PushTarget, reference: string): Promise<Digest> {
  const client = clientFor(session, target);
  try {
    const { digest } = await client.push(await pushable(image, parseReference(reference).domain, session.store), reference);
    // The indexes let builds elsewhere COPY onto this image without its blobs; losing them costs only that.
    await publishLayerIndexes(client, image, reference, await storeIndexOptions(session.store.root)).catch((err: unknown) => {
      session.warn('Ignored', `layer indexes of ${reference} not published: ${(err as Error).message}`);
    });
    return digest;
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('PUSH_FAILED', `pushing ${reference} failed: ${(err as Error).message}`, { reference, reason: (err as { code?: string }).code ?? 'push' }, { cause: err });
  }
}

/** Records `name@digest` for a stored image, where the store can (RepoDigests). */
export async function addRepoDigest(store: ImageStore, imageId: string, reference: string, digest: string): Promise<void> {
  const add = (store as unknown as { addRepoDigest?: (id: string, repoDigest: string) => Promise<void> }).addRepoDigest;
  if (typeof add !== 'function') return;
  await add.call(store, imageId, `${parseReference(reference).name}@${digest}`);
}

/** Writes the outputs, pushes, exports the cache and stores the result (see the module notes). */
export async function deliver(input: DeliverInput): Promise<Delivered> {
  const { session, image, digest, outputs, tags, cache } = input;
  const store = session.store;
  const targets = pushTargets(session.options, outputs, tags);
  const pushed: Delivered['pushed'] = [];

  if (input.platformPart) {
    for (const repository of input.platformPart.repositories) {
      const target = targets.find((t) => parseReference(t.reference).name === repository) ?? { reference: repository, insecure: false };
      await pushOne(session, image, target, `${repository}@${digest}`);
      pushed.push({ reference: `${repository}@${digest}`, digest });
    }
    const report = await cache.finish(session);
    return { image, tags: [], stored: false, pushed, report };
  }

  for (const output of outputs) {
    if (output.type === 'registry' || output.type === 'image') continue;
    const spec = output.names.length === 0 && tags.length > 0 ? { ...output, names: [...tags] } : output;
    await writeImageOutput(image, spec);
    session.emit({ type: 'export', kind: spec.type, destination: spec.dest, digest });
  }
  for (const target of targets) {
    session.checkAborted();
    const got = await pushOne(session, image, target, target.reference);
    pushed.push({ reference: target.reference, digest: got });
    session.emit({ type: 'export', kind: 'registry', destination: target.reference, digest: got });
  }
  // Cache exports (cacheTo) are outputs too: before the store.
  const report = await cache.finish(session);
  session.checkAborted();

  const layers = await image.layers();
  const lazy = (await Promise.all(layers.map((l) => isRemoteOnly(l, store)))).some(Boolean);
  const storeTags = [...tags];
  for (const output of outputs) if (output.type === 'image') for (const name of output.names) storeTags.push(name);
  if (targets.length > 0 && lazy && session.options.load !== true) {
    const first = pushed[0]!;
    const remote = await session.remote().client.getImage(`${parseReference(first.reference).name}@${first.digest}`);
    return { image: remote, tags: [...new Set(storeTags.map((t) => parseReference(t).canonical))], stored: false, pushed, report };
  }
  const stored = await store.putImage(image, storeTags);
  await cache.shareBlobs(layers);
  for (const p of pushed) await addRepoDigest(store, stored.id, p.reference, p.digest);
  await storeBases(session);
  session.emit({ type: 'export', kind: 'store', destination: store.root, digest });
  // The staged layers go with the staging directory: hand out the stored image.
  return { image: await store.getImage(stored.digest), tags: stored.tags, stored: true, pushed, report };
}

/**
 * Puts each registry base whose layers are all in the store by now into the
 * store under its reference, with its RepoDigest: the next build finds it
 * locally. Only manifest and config are written (the layers are there).
 */
async function storeBases(session: BuildSession): Promise<void> {
  for (const base of await session.bases()) {
    if (!base.remote) continue;
    if ((await Promise.all(base.layers.map((l) => isRemoteOnly(l, session.store)))).some(Boolean)) continue;
    const remote = base.remote;
    const parsed = parseReference(remote.reference);
    const image = imageWithLayers(remote.image, base.layers);
    const stored = await session.store.putImage(image, parsed.tag !== undefined && parsed.digest === undefined ? [remote.reference] : []);
    await addRepoDigest(session.store, stored.id, remote.reference, remote.manifestDigest);
  }
}

/** `image` (its manifest and config bytes as they are) over other layer objects of the same blobs. */
function imageWithLayers(image: Image, layers: readonly Layer[]): Image {
  return {
    mediaType: image.mediaType,
    layers: async () => [...layers],
    config: () => image.config(),
    rawConfig: () => image.rawConfig(),
    configDigest: () => image.configDigest(),
    manifest: () => image.manifest(),
    rawManifest: () => image.rawManifest(),
    digest: () => image.digest(),
  };
}
