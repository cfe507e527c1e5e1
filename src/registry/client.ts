/**
 * The OCI Distribution (v2) client: manifests and indexes, verified and
 * resumable blob downloads, uploads (monolithic or chunked, skipped when
 * present, mounted across repositories), image and index push.
 * @module
 */
import { createHash } from 'node:crypto';
import { createSha256, digestAlgorithm, parseDigest, sha256, type Digest } from '../digest.js';
import { LayerkitError } from '../errors.js';
import { imageParts, type Image } from '../image/image.js';
import { canonicalJson, parseImageConfig, parseIndex, parseManifest } from '../image/json.js';
import { formatPlatform, hostPlatform, platformMatches } from '../image/platform.js';
import { parseReference, type ImageReference } from '../image/reference.js';
import { ImageMediaType, isIndexMediaType, type Descriptor, type ImageIndex, type Platform } from '../image/types.js';
import { repositoryScope } from './auth.js';
import { RegistryError } from './errors.js';
import type { RegistryEvent } from './events.js';
import { forEachLimit } from './limit.js';
import { isRemoteLayer, remoteImage, remoteLayer, type RemoteImage } from './remote-image.js';
import { describeNetworkError, Transport, type HttpResponse, type TransportOptions } from './transport.js';

/**
 * Options of {@link RegistryClient} (and of {@link pull} and {@link push}).
 *
 * @example
 * ```ts
 * const client = new RegistryClient({
 *   auth: { 'registry.example.com': { username: 'me', password: process.env.TOKEN! } },
 *   insecure: ['build-cache.lan:5000'],
 *   concurrency: 8,
 *   onEvent: (e) => e.type === 'retry' && console.warn(e.reason),
 * });
 * ```
 */
export interface RegistryOptions extends TransportOptions {
  /** Parallel blob transfers (default 4). */
  concurrency?: number;
  /** Upload blobs in PATCH chunks of this many bytes (default: one PUT per blob). */
  chunkSize?: number;
}

/** What {@link RegistryClient.getManifest} found. */
export interface ManifestResult {
  digest: Digest;
  mediaType: string;
  bytes: Uint8Array;
  reference: ImageReference;
}

/** A blob to upload. */
export interface BlobUpload {
  digest: Digest;
  size: number;
  /** Opens the blob's bytes (called again if the upload is retried). */
  open: () => AsyncIterable<Uint8Array>;
  /** A repository of the same registry that has the blob: mount it from there instead of uploading. */
  mountFrom?: string;
}

/**
 * The `Accept` header of manifest requests: OCI manifest, Docker schema 2,
 * OCI index and Docker manifest list.
 *
 * @example
 * ```ts
 * await fetch(url, { headers: { accept: MANIFEST_ACCEPT } });
 * ```
 */
export const MANIFEST_ACCEPT = [
  ImageMediaType.ociManifest,
  ImageMediaType.dockerManifest,
  ImageMediaType.ociIndex,
  ImageMediaType.dockerManifestList,
].join(', ');

/** Largest manifest or config read into memory. */
const MAX_DOCUMENT = 32 << 20;
const PROGRESS_STEP = 1 << 20;
const DEFAULT_CONCURRENCY = 4;

function repoOf(repo: ImageReference | string): { registry: string; repository: string } {
  const r = typeof repo === 'string' ? parseReference(repo, { defaultTag: false }) : repo;
  return { registry: r.domain, repository: r.path };
}

interface Hasher {
  update(chunk: Uint8Array): void;
  digest(): string;
}

function hasherFor(digest: Digest): Hasher {
  const algorithm = digestAlgorithm(digest);
  if (algorithm === 'sha256') return createSha256();
  const h = createHash(algorithm);
  return { update: (c) => void h.update(c), digest: () => `${algorithm}:${h.digest('hex')}` };
}

function digestOf(bytes: Uint8Array, like: Digest): Digest {
  const h = hasherFor(like);
  h.update(bytes);
  return h.digest() as Digest;
}

function mediaTypeOf(contentType: string | null, bytes: Uint8Array): string {
  const header = (contentType ?? '').split(';')[0]!.trim();
  if (header !== '' && header !== 'application/json' && header !== 'text/plain' && header !== 'application/octet-stream') return header;
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType !== '') return doc.mediaType;
    return Array.isArray(doc.manifests) ? ImageMediaType.ociIndex : ImageMediaType.ociManifest;
  } catch {
    return header;
  }
}

async function readLimited(res: HttpResponse, limit: number, what: string, registry: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > limit) {
        await res.body.cancel().catch(() => {});
        throw new RegistryError('PROTOCOL', `${registry}: ${what} is larger than ${limit} bytes`, { registry });
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function platformOf(d: Descriptor): Platform | undefined {
  const p = d.platform;
  if (!p || p.os === 'unknown' || p.architecture === 'unknown') return undefined;
  return p;
}

/** Retrying an upload from scratch makes sense after these. */
function retryableUpload(err: unknown): boolean {
  if (err instanceof RegistryError) return ['UNREACHABLE', 'TIMEOUT', 'SERVER_ERROR', 'TOO_MANY_REQUESTS', 'BLOB_UNKNOWN'].includes(err.code) || (err.code === 'NOT_FOUND' && err.data.operation?.startsWith('upload') === true);
  return !(err instanceof LayerkitError);
}

/**
 * A client of the OCI Distribution API. One client keeps connections, the
 * scheme of each registry and tokens per scope; reuse it for related work.
 *
 * @example
 * ```ts
 * const client = new RegistryClient();
 * const image = await client.getImage('alpine:3.20', { platform: { os: 'linux', architecture: 'arm64' } });
 * console.log(image.manifestDigest, (await image.config()).architecture);
 * await client.push(image, 'localhost:5000/alpine:3.20'); // layers stream from Docker Hub to the local registry
 * await client.close();
 * ```
 */
export class RegistryClient {
  readonly #t: Transport;
  readonly #options: RegistryOptions;
  readonly concurrency: number;

  constructor(options: RegistryOptions = {}) {
    this.#options = options;
    this.#t = new Transport(options);
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  }

  /**
   * Closes kept-alive connections (the client stays usable; new ones open on demand).
   *
   * @example
   * ```ts
   * try { await client.push(image, ref); } finally { await client.close(); }
   * ```
   */
  close(): Promise<void> {
    return this.#t.close();
  }

  /** @internal Emits to the options' listener. */
  emit(event: RegistryEvent): void {
    this.#t.emit(event);
  }

  /**
   * Checks that a registry answers and accepts the credentials given or
   * stored for it (`GET /v2/`, with a token for no particular repository).
   *
   * @throws {@link RegistryError} `UNAUTHORIZED` when the credentials are refused.
   * @example
   * ```ts
   * await new RegistryClient({ auth: { 'localhost:5000': { username: 'u', password: 'p' } } }).checkLogin('localhost:5000');
   * ```
   */
  async checkLogin(registry: string): Promise<void> {
    const res = await this.#t.request({ registry, method: 'GET', path: '/v2/', scopes: [], operation: 'login' });
    await res.body?.cancel().catch(() => {});
  }

  async #fetchManifest(registry: string, repository: string, target: string, reference: ImageReference): Promise<ManifestResult> {
    const res = await this.#t.request({
      registry,
      repository,
      method: 'GET',
      path: `/v2/${repository}/manifests/${target}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [repositoryScope(repository, 'pull')],
      operation: `GET manifest ${target}`,
    });
    const bytes = await readLimited(res, MAX_DOCUMENT, `manifest ${target}`, registry);
    const mediaType = mediaTypeOf(res.headers.get('content-type'), bytes);
    let digest: Digest;
    if (target.includes(':')) {
      const expected = parseDigest(target);
      const actual = digestOf(bytes, expected);
      if (actual !== expected) {
        throw new RegistryError('DIGEST_MISMATCH', `${registry}/${repository}: manifest ${expected} has content hashing to ${actual}`, {
          registry,
          repository,
          expected,
          actual,
          operation: `GET manifest ${target}`,
        });
      }
      digest = digestAlgorithm(expected) === 'sha256' ? expected : sha256(bytes);
    } else {
      digest = sha256(bytes);
      const header = res.headers.get('docker-content-digest');
      if (header && header.startsWith('sha256:') && header !== digest) {
        throw new RegistryError('DIGEST_MISMATCH', `${registry}/${repository}: manifest ${target} is said to be ${header} but hashes to ${digest}`, {
          registry,
          repository,
          expected: header,
          actual: digest,
          operation: `GET manifest ${target}`,
        });
      }
    }
    if (mediaType === 'application/vnd.docker.distribution.manifest.v1+json' || mediaType.endsWith('manifest.v1+prettyjws')) {
      throw new RegistryError('UNSUPPORTED', `${registry}/${repository}:${target} is a Docker schema 1 manifest, which is not supported`, { registry, repository });
    }
    return { digest, mediaType, bytes, reference };
  }

  /**
   * Fetches what a reference names (a manifest or an index), byte for byte;
   * a manifest fetched by digest is checked against that digest.
   *
   * @throws {@link RegistryError} (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DIGEST_MISMATCH`, …).
   * @example
   * ```ts
   * const { digest, mediaType } = await client.getManifest('localhost:5000/app:1');
   * ```
   */
  async getManifest(ref: string): Promise<ManifestResult> {
    const reference = parseReference(ref);
    const target = reference.digest ?? reference.tag ?? 'latest';
    const result = await this.#fetchManifest(reference.domain, reference.path, target, reference);
    this.emit({ type: 'resolved', reference: reference.canonical, digest: result.digest, mediaType: result.mediaType });
    return result;
  }

  /**
   * Stores a manifest (or index) under the reference's tag, or its digest.
   * Returns the digest of `bytes`.
   *
   * @example
   * ```ts
   * await client.putManifest('localhost:5000/app:1', await image.rawManifest(), image.mediaType);
   * ```
   */
  async putManifest(ref: string, bytes: Uint8Array, mediaType: string): Promise<Digest> {
    const reference = parseReference(ref);
    const digest = sha256(bytes);
    if (reference.digest !== undefined && reference.digest !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `cannot push a manifest hashing to ${digest} as ${reference.canonical}`, {
        registry: reference.domain,
        repository: reference.path,
        expected: reference.digest,
        actual: digest,
      });
    }
    const target = reference.tag ?? digest;
    const res = await this.#t.request({
      registry: reference.domain,
      repository: reference.path,
      method: 'PUT',
      path: `/v2/${reference.path}/manifests/${target}`,
      headers: { 'content-type': mediaType },
      body: () => bytes,
      scopes: [repositoryScope(reference.path, 'pull,push')],
      operation: `PUT manifest ${target}`,
    });
    await res.body?.cancel().catch(() => {});
    this.emit({ type: 'manifest-pushed', reference: `${reference.name}${reference.tag ? `:${reference.tag}` : `@${digest}`}`, digest, mediaType });
    return digest;
  }

  /**
   * Opens an image lazily: manifest and config are fetched (and verified)
   * now, layer blobs only when read. An index is resolved to the manifest of
   * `platform` (default: this machine's Linux platform).
   *
   * @throws {@link RegistryError} `NOT_FOUND` when an index has no manifest for the platform,
   * or a single-platform image is of another platform.
   * @example
   * ```ts
   * const image = await client.getImage('busybox:1.36', { platform: { os: 'linux', architecture: 'arm64' } });
   * ```
   */
  async getImage(ref: string, options: { platform?: Platform } = {}): Promise<RemoteImage> {
    const top = await this.getManifest(ref);
    const reference = top.reference;
    if (!isIndexMediaType(top.mediaType)) {
      const image = await this.#image(reference, top, top.digest);
      if (options.platform) {
        const config = await image.config();
        const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
        if (!platformMatches(options.platform, actual)) {
          throw new RegistryError(
            'NOT_FOUND',
            `${reference.familiar} is an image for ${formatPlatform(actual)}, not ${formatPlatform(options.platform)}`,
            { registry: reference.domain, repository: reference.path },
          );
        }
      }
      return image;
    }
    const index = parseIndex(top.bytes);
    const wanted = options.platform ?? hostPlatform();
    const candidates = index.manifests.filter((d) => !isIndexMediaType(d.mediaType));
    const chosen = candidates.find((d) => {
      const p = platformOf(d);
      return p !== undefined && platformMatches(wanted, p);
    });
    if (!chosen) {
      const available = candidates.map(platformOf).filter((p): p is Platform => p !== undefined).map(formatPlatform);
      throw new RegistryError(
        'NOT_FOUND',
        `${reference.familiar} has no image for ${formatPlatform(wanted)} (it has ${available.join(', ') || 'none'})`,
        { registry: reference.domain, repository: reference.path },
      );
    }
    const child = await this.#fetchManifest(reference.domain, reference.path, chosen.digest, reference);
    return this.#image(reference, child, top.digest);
  }

  /**
   * Every platform's image of an index (attestation entries skipped), or the
   * one image a plain manifest names, all lazily.
   *
   * @example
   * ```ts
   * for (const { platform, image } of await client.getImages('alpine:3.20')) console.log(platform, image.manifestDigest);
   * ```
   */
  async getImages(ref: string): Promise<Array<{ platform: Platform; image: RemoteImage }>> {
    const top = await this.getManifest(ref);
    const reference = top.reference;
    if (!isIndexMediaType(top.mediaType)) {
      const image = await this.#image(reference, top, top.digest);
      const c = await image.config();
      return [{ platform: { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) }, image }];
    }
    const out: Array<{ platform: Platform; image: RemoteImage }> = [];
    for (const d of parseIndex(top.bytes).manifests) {
      const platform = platformOf(d);
      if (!platform || isIndexMediaType(d.mediaType)) continue;
      const child = await this.#fetchManifest(reference.domain, reference.path, d.digest, reference);
      out.push({ platform, image: await this.#image(reference, child, top.digest) });
    }
    return out;
  }

  async #image(reference: ImageReference, m: ManifestResult, resolvedDigest: Digest): Promise<RemoteImage> {
    const { domain: registry, path: repository } = reference;
    const manifest = parseManifest(m.bytes);
    const configDigest = parseDigest(manifest.config.digest);
    if (manifest.config.size > MAX_DOCUMENT) {
      throw new RegistryError('PROTOCOL', `${registry}/${repository}: config ${configDigest} is larger than ${MAX_DOCUMENT} bytes`, { registry, repository });
    }
    const chunks: Uint8Array[] = [];
    for await (const c of this.fetchBlob(reference, configDigest, { size: manifest.config.size, events: false })) chunks.push(c);
    const rawConfig = Buffer.concat(chunks);
    const config = parseImageConfig(rawConfig);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new RegistryError(
        'PROTOCOL',
        `${registry}/${repository}@${m.digest}: the manifest lists ${manifest.layers.length} layers but the config has ${diffIds.length} diff_ids`,
        { registry, repository },
      );
    }
    const layers = manifest.layers.map((d, i) => {
      const digest = parseDigest(d.digest);
      return remoteLayer({
        source: { registry, repository, digest },
        mediaType: d.mediaType,
        size: d.size,
        diffId: parseDigest(diffIds[i] as string),
        open: () => this.fetchBlob(reference, digest, { size: d.size }),
      });
    });
    return remoteImage(
      { rawManifest: m.bytes, manifest, digest: m.digest, rawConfig, config, configDigest: sha256(rawConfig), layers },
      reference,
      resolvedDigest,
      m.mediaType,
    );
  }

  /**
   * Whether a repository has a blob (`HEAD`).
   *
   * @example
   * ```ts
   * if (await client.hasBlob('localhost:5000/app', digest)) console.log('already there');
   * ```
   */
  async hasBlob(repo: ImageReference | string, digest: Digest, scopes?: string[]): Promise<boolean> {
    const { registry, repository } = repoOf(repo);
    const res = await this.#t.request({
      registry,
      repository,
      method: 'HEAD',
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: scopes ?? [repositoryScope(repository, 'pull')],
      operation: `HEAD blob ${digest}`,
      accept: (s) => s === 404,
    });
    await res.body?.cancel().catch(() => {});
    return res.status >= 200 && res.status < 300;
  }

  /**
   * Streams a blob, verified: bytes flow as they arrive and the stream
   * throws {@link RegistryError} `DIGEST_MISMATCH` at the end if they do not
   * hash to `digest` (or run past `size`) — so a consumer that commits only
   * after the stream ends never keeps a wrong byte. A broken connection is
   * resumed with a `Range` request, within the retry budget.
   *
   * @example
   * ```ts
   * for await (const chunk of client.fetchBlob('localhost:5000/app', digest)) out.write(chunk);
   * ```
   */
  async *fetchBlob(repo: ImageReference | string, digest: Digest, options: { size?: number; events?: boolean } = {}): AsyncGenerator<Uint8Array> {
    const { registry, repository } = repoOf(repo);
    const operation = `GET blob ${digest}`;
    const events = options.events !== false;
    const hasher = hasherFor(digest);
    let total = options.size;
    let offset = 0;
    let failures = 0;
    let reported = 0;
    if (events) this.emit({ type: 'blob-start', digest, total: total ?? -1, direction: 'pull' });
    for (;;) {
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await this.#t.request({ registry, repository, method: 'GET', path: `/v2/${repository}/blobs/${digest}`, headers, scopes: [repositoryScope(repository, 'pull')], operation });
      let skip = 0;
      if (offset > 0 && res.status !== 206) skip = offset; // the server ignored Range: drop what we already have
      if (offset > 0 && res.status === 206) {
        const start = /bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
        if (start !== undefined && Number(start) !== offset) {
          await res.body?.cancel().catch(() => {});
          throw new RegistryError('PROTOCOL', `${registry}: asked for ${digest} from byte ${offset}, got a range from ${start}`, { registry, repository, operation });
        }
      }
      if (total === undefined && res.status === 200) {
        const length = Number(res.headers.get('content-length'));
        if (Number.isSafeInteger(length) && length >= 0) total = length;
      }
      try {
        if (res.body) {
          for await (const raw of res.body) {
            let chunk = raw;
            if (skip > 0) {
              if (chunk.byteLength <= skip) {
                skip -= chunk.byteLength;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            offset += chunk.byteLength;
            if (total !== undefined && offset > total) {
              await res.body.cancel().catch(() => {});
              throw new RegistryError('DIGEST_MISMATCH', `${registry}/${repository}: blob ${digest} is longer than its ${total} bytes`, {
                registry,
                repository,
                expected: String(total),
                actual: `more than ${total}`,
                operation,
              });
            }
            hasher.update(chunk);
            if (events && offset - reported >= PROGRESS_STEP) {
              reported = offset;
              this.emit({ type: 'blob-progress', digest, bytes: offset, total: total ?? -1, direction: 'pull' });
            }
            yield chunk;
          }
        }
        break;
      } catch (err) {
        if (err instanceof LayerkitError) throw err;
        if (total !== undefined && offset === total) break;
        failures++;
        if (failures > this.#t.retries) throw this.#t.networkError(err, registry, operation, repository, failures);
        const delay = this.#t.delay(failures - 1);
        this.emit({ type: 'retry', registry, operation, attempt: failures, delayMs: delay, reason: `${describeNetworkError(err)} after ${offset} bytes; resuming` });
        await sleep(delay);
      }
    }
    const actual = hasher.digest();
    if ((total !== undefined && offset !== total) || actual !== digest) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${registry}/${repository}: blob ${digest} does not match its digest (got ${actual}, ${offset} bytes${total !== undefined ? ` of ${total}` : ''}); nothing was kept`,
        { registry, repository, expected: digest, actual, operation },
      );
    }
    if (events) {
      this.emit({ type: 'blob-progress', digest, bytes: offset, total: offset, direction: 'pull' });
      this.emit({ type: 'blob-done', digest, total: offset, direction: 'pull', result: 'downloaded' });
    }
  }

  /**
   * Uploads a blob unless the repository has it: `HEAD` first, then a
   * cross-repository mount when `mountFrom` is given, else an upload (one PUT,
   * or PATCH chunks with the `chunkSize` option). A failed upload starts over
   * in a new session, within the retry budget.
   *
   * @example
   * ```ts
   * const how = await client.pushBlob('localhost:5000/app', { digest, size, open: () => layer.compressed() });
   * // 'exists' | 'mounted' | 'uploaded'
   * ```
   */
  async pushBlob(repo: ImageReference | string, blob: BlobUpload): Promise<'exists' | 'mounted' | 'uploaded'> {
    const { registry, repository } = repoOf(repo);
    const pushScope = repositoryScope(repository, 'pull,push');
    if (await this.hasBlob({ domain: registry, path: repository } as ImageReference, blob.digest, [pushScope])) return 'exists';
    let location: string | undefined;
    if (blob.mountFrom && blob.mountFrom !== repository) {
      const query = new URLSearchParams({ mount: blob.digest, from: blob.mountFrom });
      const res = await this.#t.request({
        registry,
        repository,
        method: 'POST',
        path: `/v2/${repository}/blobs/uploads/?${query}`,
        headers: { 'content-length': '0' },
        scopes: [pushScope, repositoryScope(blob.mountFrom, 'pull')],
        operation: `mount ${blob.digest} from ${blob.mountFrom}`,
      });
      await res.body?.cancel().catch(() => {});
      if (res.status === 201) return 'mounted';
      location = res.headers.get('location') ?? undefined;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        if (location === undefined) {
          const res = await this.#t.request({
            registry,
            repository,
            method: 'POST',
            path: `/v2/${repository}/blobs/uploads/`,
            headers: { 'content-length': '0' },
            scopes: [pushScope],
            operation: `upload ${blob.digest}`,
          });
          await res.body?.cancel().catch(() => {});
          location = res.headers.get('location') ?? undefined;
          if (!location) throw new RegistryError('PROTOCOL', `${registry}: an upload was started without a Location`, { registry, repository });
        }
        await this.#upload(registry, repository, location, blob);
        return 'uploaded';
      } catch (err) {
        location = undefined;
        if (!retryableUpload(err) || attempt >= this.#t.retries) {
          throw err instanceof LayerkitError ? err : this.#t.networkError(err, registry, `upload ${blob.digest}`, repository, attempt + 1);
        }
        const delay = this.#t.delay(attempt);
        this.emit({ type: 'retry', registry, operation: `upload ${blob.digest}`, attempt: attempt + 1, delayMs: delay, reason: err instanceof Error ? err.message : String(err) });
        await sleep(delay);
        // A killed connection may still have completed the upload.
        if (await this.hasBlob({ domain: registry, path: repository } as ImageReference, blob.digest, [pushScope]).catch(() => false)) return 'uploaded';
      }
    }
  }

  async #upload(registry: string, repository: string, location: string, blob: BlobUpload): Promise<void> {
    const base = await this.#t.base(registry);
    const scopes = [repositoryScope(repository, 'pull,push')];
    let sent = 0;
    let reported = 0;
    this.emit({ type: 'blob-start', digest: blob.digest, total: blob.size, direction: 'push' });
    const progress = (n: number) => {
      sent += n;
      if (sent - reported >= PROGRESS_STEP || sent === blob.size) {
        reported = sent;
        this.emit({ type: 'blob-progress', digest: blob.digest, bytes: sent, total: blob.size, direction: 'push' });
      }
    };
    const chunkSize = this.#options.chunkSize;
    let url = new URL(location, base);
    if (chunkSize !== undefined && chunkSize > 0) {
      let start = 0;
      const send = async (bytes: Uint8Array) => {
        const res = await this.#t.request({
          registry,
          repository,
          method: 'PATCH',
          path: url.toString(),
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${start + bytes.byteLength - 1}`,
            'content-length': String(bytes.byteLength),
          },
          body: () => bytes,
          scopes,
          operation: `upload ${blob.digest} (chunk at ${start})`,
          retry: false,
        });
        await res.body?.cancel().catch(() => {});
        const next = res.headers.get('location');
        if (next) url = new URL(next, base);
        start += bytes.byteLength;
        progress(bytes.byteLength);
      };
      let pending: Uint8Array[] = [];
      let pendingSize = 0;
      for await (const chunk of blob.open()) {
        let rest = chunk;
        while (pendingSize + rest.byteLength >= chunkSize) {
          const take = chunkSize - pendingSize;
          pending.push(rest.subarray(0, take));
          await send(Buffer.concat(pending));
          pending = [];
          pendingSize = 0;
          rest = rest.subarray(take);
        }
        if (rest.byteLength > 0) {
          pending.push(rest);
          pendingSize += rest.byteLength;
        }
      }
      if (pendingSize > 0) await send(Buffer.concat(pending));
      url.searchParams.set('digest', blob.digest);
      const res = await this.#t.request({ registry, repository, method: 'PUT', path: url.toString(), headers: { 'content-length': '0' }, scopes, operation: `upload ${blob.digest} (commit)`, retry: false });
      await res.body?.cancel().catch(() => {});
    } else {
      url.searchParams.set('digest', blob.digest);
      const counted = async function* (source: AsyncIterable<Uint8Array>) {
        for await (const chunk of source) {
          progress(chunk.byteLength);
          yield chunk;
        }
      };
      const res = await this.#t.request({
        registry,
        repository,
        method: 'PUT',
        path: url.toString(),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
        body: () => counted(blob.open()),
        scopes,
        operation: `upload ${blob.digest}`,
        retry: false,
      });
      await res.body?.cancel().catch(() => {});
    }
    if (sent !== blob.size) {
      throw new RegistryError('DIGEST_MISMATCH', `blob ${blob.digest}: ${sent} bytes were sent but its size is ${blob.size}`, {
        registry,
        repository,
        expected: String(blob.size),
        actual: String(sent),
      });
    }
  }

  /**
   * Pushes an image: its layers in parallel (bounded by `concurrency`;
   * skipped when present; {@link RemoteLayer}s of the same registry mounted
   * instead of downloaded), then its config, then its manifest — the image's
   * manifest bytes exactly, so its digest is kept.
   *
   * @example
   * ```ts
   * const { digest } = await client.push(await store.getImage('me/app:1'), 'localhost:5000/me/app:1');
   * ```
   */
  async push(image: Image, ref: string): Promise<{ digest: Digest; size: number; mediaType: string }> {
    const reference = parseReference(ref);
    const parts = await imageParts(image);
    if (reference.digest !== undefined && reference.digest !== parts.digest) {
      throw new RegistryError('DIGEST_MISMATCH', `the image's manifest is ${parts.digest}, not ${reference.digest}`, {
        registry: reference.domain,
        repository: reference.path,
        expected: reference.digest,
        actual: parts.digest,
      });
    }
    const seen = new Set<string>();
    const layers = parts.manifest.layers
      .map((d, i) => ({ d, layer: parts.layers[i] }))
      .filter(({ d }) => (seen.has(d.digest) ? false : (seen.add(d.digest), true)));
    await forEachLimit(layers, this.concurrency, async ({ d, layer }) => {
      if (!layer) throw new RegistryError('PROTOCOL', `the image has no layer for ${d.digest}`, { registry: reference.domain });
      const digest = parseDigest(d.digest);
      const mountFrom = isRemoteLayer(layer) && layer.source.registry === reference.domain && layer.source.digest === digest ? layer.source.repository : undefined;
      const result = await this.pushBlob(reference, { digest, size: d.size, open: () => layer.compressed(), ...(mountFrom ? { mountFrom } : {}) });
      this.emit({ type: 'blob-done', digest, total: d.size, direction: 'push', result });
    });
    const configResult = await this.pushBlob(reference, { digest: parts.configDigest, size: parts.rawConfig.byteLength, open: async function* () { yield parts.rawConfig; } });
    this.emit({ type: 'blob-done', digest: parts.configDigest, total: parts.rawConfig.byteLength, direction: 'push', result: configResult });
    await this.putManifest(reference.canonical, parts.rawManifest, image.mediaType);
    return { digest: parts.digest, size: parts.rawManifest.byteLength, mediaType: image.mediaType };
  }

  /**
   * Pushes several images (each by digest) and an OCI index over them under `ref`.
   *
   * @example
   * ```ts
   * await client.pushIndex([{ image: amd64, platform: { os: 'linux', architecture: 'amd64' } },
   *                         { image: arm64, platform: { os: 'linux', architecture: 'arm64' } }], 'localhost:5000/app:1');
   * ```
   */
  async pushIndex(images: Array<{ image: Image; platform: Platform }>, ref: string): Promise<{ digest: Digest; size: number; mediaType: string }> {
    const reference = parseReference(ref);
    const manifests: Descriptor[] = [];
    for (const { image, platform } of images) {
      const digest = await image.digest();
      const pushed = await this.push(image, `${reference.name}@${digest}`);
      manifests.push({ mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size, platform: { ...platform } });
    }
    const index: ImageIndex = { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests };
    const bytes = canonicalJson('index', index);
    const digest = await this.putManifest(reference.canonical, bytes, ImageMediaType.ociIndex);
    return { digest, size: bytes.byteLength, mediaType: ImageMediaType.ociIndex };
  }
}
