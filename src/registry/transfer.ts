/**
 * Registry ↔ store: `pull` into an {@link ImageStore}, `push` out of it,
 * and `login` / `logout` as Docker keeps them in config.json.
 * @module
 */
import type { Digest } from '../digest.js';
import { parseReference, type ImageReference } from '../image/reference.js';
import type { ImageStore } from '../image/store/store.js';
import type { Platform } from '../image/types.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import { eraseCredentials, storeCredentials } from './credentials.js';
import { registryDomain } from './hosts.js';
import { ingestBlobs, storeHasBlob } from './ingest.js';
import type { RemoteImage } from './remote-image.js';

/**
 * What {@link pull} stored.
 *
 * @example
 * ```ts
 * const { imageId, manifestDigest } = await pull('alpine:3.20', store);
 * ```
 */
export interface PullResult {
  /** The pulled image as the registry has it (layers remote; the stored copy is `store.getImage(imageId)`). */
  image: RemoteImage;
  /** The image ID (config digest). */
  imageId: Digest;
  /** The manifest digest of the stored image (the platform's, when the reference named an index). */
  manifestDigest: Digest;
  /** The digest the reference resolved to in the registry (an index's, or the manifest's). */
  resolvedDigest: Digest;
  reference: ImageReference;
}

/**
 * Pulls an image into a store, as `docker pull` does: an index is resolved to
 * `platform` (default: this machine's), layer blobs the store already has
 * are not fetched, the others are downloaded `concurrency` at a time and
 * written only once verified against their digests; the image is tagged with
 * the reference (not for a digest reference) and the digest it resolved to is
 * recorded in its `RepoDigests`.
 *
 * @throws {@link RegistryError} from the registry; the store is unchanged when the pull fails.
 * @example
 * ```ts
 * const store = new ImageStore();
 * const { imageId } = await pull('localhost:5000/app:1', store, { onEvent: console.log });
 * ```
 */
export async function pull(ref: string, store: ImageStore, options: RegistryOptions & { platform?: Platform; client?: RegistryClient } = {}): Promise<PullResult> {
  const client = options.client ?? new RegistryClient(options);
  try {
    const fetched = await client.getImage(ref, options.platform ? { platform: options.platform } : {});
    const [manifest, layers] = await Promise.all([fetched.manifest(), fetched.layers()]);
    const blobs = manifest.layers.map((d, i) => ({ digest: d.digest as Digest, size: d.size, open: () => layers[i]!.compressed() }));
    // Layers the store has are neither fetched nor announced as downloads.
    for (const blob of blobs) {
      if (await storeHasBlob(store, blob.digest, blob.size)) client.emit({ type: 'blob-done', digest: blob.digest, total: blob.size, direction: 'pull', result: 'present' });
    }
    const reference = fetched.reference;
    const tags = reference.tag !== undefined && reference.digest === undefined ? [reference.canonical] : [];
    const stored = await ingestBlobs(store, blobs, client.concurrency, async () => {
      const put = await store.putImage(fetched, tags);
      await store.addRepoDigest(put.digest, `${reference.name}@${fetched.resolvedDigest}`);
      return put;
    });
    return { image: fetched, imageId: stored.id, manifestDigest: stored.digest, resolvedDigest: fetched.resolvedDigest, reference };
  } finally {
    if (!options.client) await client.close();
  }
}

/**
 * What {@link push} did.
 *
 * @example
 * ```ts
 * const { digest, reference } = await push(store, 'me/app:1', 'localhost:5000/me/app:1');
 * console.log(`${reference.name}@${digest}`);
 * ```
 */
export interface PushResult {
  /** The manifest digest in the registry (the image's own: its bytes are pushed as they are). */
  digest: Digest;
  size: number;
  reference: ImageReference;
}

/**
 * Pushes a stored image, as `docker push` does: to `remoteRef`, or to the
 * registry its own name `localRef` points at. Blobs the registry has are
 * skipped; the manifest is pushed byte for byte; the pushed digest is
 * recorded in the image's `RepoDigests`.
 *
 * @throws {@link ImageNotFoundError} for an image not in the store; {@link RegistryError} from the registry.
 * @example
 * ```ts
 * await push(store, 'localhost:5000/app:1');
 * await push(store, 'app:dev', 'registry.example.com/team/app:1.2');
 * ```
 */
export async function push(
  store: ImageStore,
  localRef: string,
  remoteRef?: string,
  options: RegistryOptions & { client?: RegistryClient } = {},
): Promise<PushResult> {
  const image = await store.getImage(localRef);
  const reference = parseReference(remoteRef ?? localRef);
  const client = options.client ?? new RegistryClient(options);
  try {
    const pushed = await client.push(image, reference.canonical);
    await store.addRepoDigest(pushed.digest, `${reference.name}@${pushed.digest}`);
    return { digest: pushed.digest, size: pushed.size, reference };
  } finally {
    if (!options.client) await client.close();
  }
}

/**
 * Options of {@link login}.
 *
 * @example
 * ```ts
 * await login('localhost:5000', { username: 'u', password: 'p' }, { dockerConfig: '/tmp/cfg', verify: false });
 * ```
 */
export interface LoginOptions extends Omit<RegistryOptions, 'auth'> {
  /** Check the credentials against the registry before saving them (default true). */
  verify?: boolean;
}

/**
 * Saves credentials for a registry the way `docker login` does (through the
 * credential helper config.json names, else in its `auths`), after checking
 * them against the registry unless `verify` is false. `host` may be written
 * as Docker accepts it: `localhost:5000`, `https://index.docker.io/v1/`, `docker.io`.
 *
 * @throws {@link RegistryError} `UNAUTHORIZED` when the registry refuses them (nothing is saved).
 * @example
 * ```ts
 * await login('registry.example.com', { username: 'me', password: token });
 * ```
 */
export async function login(host: string, creds: { username: string; password: string }, options: LoginOptions = {}): Promise<{ registry: string; storedIn: 'helper' | 'file' }> {
  const registry = registryDomain(host);
  if (options.verify !== false) {
    const client = new RegistryClient({ ...options, auth: { [registry]: creds } });
    try {
      await client.checkLogin(registry);
    } finally {
      await client.close();
    }
  }
  const storedIn = await storeCredentials(registry, creds, options.dockerConfig !== undefined ? { dockerConfig: options.dockerConfig } : {});
  return { registry, storedIn };
}

/**
 * Forgets a registry's saved credentials (helper and config.json). Resolves
 * false when there were none.
 *
 * @example
 * ```ts
 * await logout('registry.example.com');
 * ```
 */
export async function logout(host: string, options: { dockerConfig?: string } = {}): Promise<boolean> {
  return eraseCredentials(registryDomain(host), options);
}

