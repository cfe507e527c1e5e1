/**
 * The local image store: content-addressed blobs on disk plus a reference
 * index, safe for several processes at once.
 * @module
 */
import { rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Digest } from '../../digest.js';
import { blobPath, directoryBlobSource } from '../blob-source.js';
import { LayerkitError } from '../../errors.js';
import { AmbiguousReferenceError, ImageConflictError, ImageNotFoundError, InvalidReferenceError } from '../errors.js';
import { pathExists, writeFileAtomic } from '../fs-atomic.js';
import type { Image } from '../image.js';
import { planImageBlobs } from '../layout.js';
import { parseReference, parseTagReference } from '../reference.js';
import { imageFromManifestDescriptor } from '../stored-image.js';
import { listBlobs, putBlob, referencedBlobs } from './blobs.js';
import { withLock, type LockOptions } from './lock.js';
import { assignRef, ensureEntry, readRefs, writeRefs } from './refs.js';
import { sweepStoreScratch } from './scratch.js';
import { asNoSpace } from './system-errors.js';
import { entriesByName, loadFacts, resolveImage, resolveStored, storedImages } from './resolve.js';
import { uncompressedSizes } from './sizes.js';
import { corruptSummaryOf, historyOf, inspectOf, summaryOf, type ImageHistoryEntry, type ImageInspect, type ImageSummary } from './views.js';

/**
 * Options of {@link ImageStore}.
 *
 * @example
 * ```ts
 * const store = new ImageStore('/var/lib/layerkit', { timeoutMs: 5_000 });
 * ```
 */
export interface ImageStoreOptions extends LockOptions {}

/**
 * What {@link ImageStore.putImage} stored.
 *
 * @example
 * ```ts
 * const { id } = await store.putImage(image, 'me/app:1');
 * console.log(id.slice(7, 19)); // short ID, as docker prints it
 * ```
 */
export interface PutImageResult {
  /** Manifest digest. */
  digest: Digest;
  /** Config digest: the image ID. */
  id: Digest;
  /** Canonical references now pointing at the image. */
  tags: string[];
}

/**
 * What {@link ImageStore.remove} did.
 *
 * @example
 * ```ts
 * const { untagged, deleted } = await store.remove('me/app:1');
 * ```
 */
export interface RemoveResult {
  /** References removed. */
  untagged: string[];
  /** Manifest digests of images no longer in the store. */
  deleted: Digest[];
}

/**
 * Options of {@link ImageStore.gc}.
 *
 * @example
 * ```ts
 * await store.gc({ dangling: true }); // like docker image prune, then reclaim blobs
 * ```
 */
export interface GcOptions {
  /** Also drop images that have no tag (Docker's dangling `<none>` images). */
  dangling?: boolean;
}

/**
 * What {@link ImageStore.gc} removed.
 *
 * @example
 * ```ts
 * const { freedBytes } = await store.gc();
 * console.log(`${freedBytes} bytes freed`);
 * ```
 */
export interface GcResult {
  removedBlobs: Digest[];
  freedBytes: number;
  /** Manifest digests of dangling images dropped (with `dangling: true`). */
  removedImages: Digest[];
  /** Leftover temporary files of dead writers removed. */
  removedTemporaryFiles: number;
}


/**
 * The directory a store uses when none is given: `$LAYERKIT_HOME`, else the
 * per-user `$XDG_DATA_HOME/layerkit`, else `~/.local/share/layerkit` (where
 * podman keeps its images too). One store per user, whatever the working
 * directory: images do not vanish when you change directory. A relative
 * `$XDG_DATA_HOME` is ignored, as the XDG base directory spec asks.
 *
 * @example
 * ```ts
 * defaultStoreRoot(); // '/home/me/.local/share/layerkit'
 * ```
 */
export function defaultStoreRoot(): string {
  const home = process.env.LAYERKIT_HOME;
  if (home && home !== '') return resolve(home);
  const data = process.env.XDG_DATA_HOME;
  return join(data && isAbsolute(data) ? data : join(homedir(), '.local', 'share'), 'layerkit');
}

/**
 * A content-addressed image store in a directory, laid out as an OCI image
 * layout: `blobs/sha256/<hex>`, `index.json` (references), `oci-layout`,
 * plus `tmp/` and the `lock` file.
 *
 * - Writes are atomic: each blob is written to `tmp/`, verified against its
 *   digest while written, fsynced and renamed into place; `index.json` is
 *   replaced the same way. A failed {@link putImage} removes the blobs it
 *   created and leaves the index as it was.
 * - Reads are verified: manifests and configs when an image is opened,
 *   layers at the end of each stream ({@link DigestMismatchError}).
 * - Several processes may use one store: every change to `index.json` and
 *   every {@link gc} runs under an exclusive lock file (see `lock.ts`). Blobs
 *   are written outside the lock; before a writer commits a reference it
 *   checks, under the lock, that every blob of its image is still on disk and
 *   rewrites any a concurrent {@link gc} removed — so gc never leaves a
 *   reference to a missing blob, and needs no grace period.
 *
 * @example
 * ```ts
 * const store = new ImageStore();                // $LAYERKIT_HOME or ~/.local/share/layerkit
 * await store.putImage(image, ['me/app:1', 'me/app:latest']);
 * const again = await store.getImage('me/app:1');
 * ```
 */
export class ImageStore {
  /** Absolute path of the store directory. */
  readonly root: string;
  readonly #options: ImageStoreOptions;
  #swept: Promise<number> | undefined;

  constructor(root: string = defaultStoreRoot(), options: ImageStoreOptions = {}) {
    this.root = resolve(root);
    this.#options = options;
  }

  get #tmp(): string {
    return join(this.root, 'tmp');
  }

  /**
   * Removes what dead processes left in the store's scratch places (staged
   * layers of a killed build, RUN step directories, partial layer
   * extractions, temporary blob files); once per store object, and by every
   * verb that reads or changes the store, so the next command cleans up
   * after a `kill -9`. Resolves to how many entries went.
   *
   * @example
   * ```ts
   * const removed = await new ImageStore(root).sweepAbandoned();
   * ```
   */
  sweepAbandoned(): Promise<number> {
    this.#swept ??= sweepStoreScratch(this.root).catch(() => 0);
    return this.#swept;
  }

  #lock<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(join(this.root, 'lock'), fn, this.#options);
  }

  async #init(): Promise<void> {
    const marker = join(this.root, 'oci-layout');
    if (!(await pathExists(marker))) {
      await writeFileAtomic(marker, new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'), { tmpDir: this.#tmp });
    }
  }

  /**
   * Stores an image under zero or more tags (`busybox` is stored as
   * `docker.io/library/busybox:latest`). A tag already on another image moves
   * to this one; an image left without tags stays, untagged.
   *
   * @throws {@link InvalidReferenceError} for a bad or digest tag (before anything is written);
   * {@link DigestMismatchError} when a layer's bytes disagree with its digest (the store is left unchanged).
   * @example
   * ```ts
   * const { id, digest } = await store.putImage(image, 'me/app:1');
   * await store.putImage(remoteImage, 'alpine:3.20', { concurrency: 4 }); // four layer downloads at a time
   * ```
   */
  async putImage(image: Image, tags: string | string[] = [], options: { concurrency?: number } = {}): Promise<PutImageResult> {
    const refs = [...new Set((Array.isArray(tags) ? tags : [tags]).map((t) => parseTagReference(t).canonical))];
    const plan = await planImageBlobs(image);
    await this.sweepAbandoned();
    await this.#init();
    const created: Digest[] = [];
    try {
      // Workers share one queue; every worker finishes before an error propagates, so #discard sees all it must undo.
      const queue = [...plan.blobs];
      const worker = async () => {
        for (let blob = queue.shift(); blob; blob = queue.shift()) if (await putBlob(this.root, this.#tmp, blob)) created.push(blob.digest);
      };
      const settled = await Promise.allSettled(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      await this.#lock(async () => {
        // A gc between our writes and this lock may have removed blobs nothing referenced yet.
        for (const blob of plan.blobs) await putBlob(this.root, this.#tmp, blob);
        let entries = ensureEntry(await readRefs(this.root), plan.descriptor);
        for (const ref of refs) entries = assignRef(entries, plan.descriptor, ref);
        await writeRefs(this.root, entries);
      });
    } catch (err) {
      await this.#discard(created).catch(() => {});
      throw asNoSpace(err, 'storing the image');
    }
    return { digest: plan.descriptor.digest as Digest, id: plan.configDigest, tags: refs };
  }

  /** Removes blobs a failed put created, unless something references them by now. */
  async #discard(created: Digest[]): Promise<void> {
    if (created.length === 0) return;
    await this.#lock(async () => {
      const referenced = await referencedBlobs(this.root, await readRefs(this.root));
      for (const digest of created) if (!referenced.has(digest)) await rm(join(this.root, blobPath(digest)), { force: true });
    });
  }

  /**
   * Opens a stored image (manifest and config verified now, layers when streamed).
   *
   * @throws {@link ImageNotFoundError}, {@link AmbiguousReferenceError}, {@link InvalidReferenceError},
   * {@link DigestMismatchError} for a corrupt manifest or config.
   * @example
   * ```ts
   * const image = await store.getImage('busybox');           // docker.io/library/busybox:latest
   * const byId = await store.getImage('3f57d9401f8d');       // image ID prefix
   * ```
   */
  async getImage(ref: string): Promise<Image> {
    const facts = await resolveStored(this.root, await readRefs(this.root), ref);
    return imageFromManifestDescriptor(directoryBlobSource(this.root), facts.entry.descriptor);
  }

  /**
   * Lists stored images, newest first (like `docker images`).
   *
   * @example
   * ```ts
   * for (const i of await store.list()) console.log(i.tags, i.id.slice(7, 19));
   * ```
   */
  async list(): Promise<ImageSummary[]> {
    await this.sweepAbandoned();
    // One line per image ID: manifests of one config (loaded from different formats) are one image.
    // A corrupt blob marks its image (`corrupt`) instead of failing the whole list.
    const summaries: ImageSummary[] = [];
    const images = await storedImages(this.root, await readRefs(this.root), (entry, err) => summaries.push(corruptSummaryOf(entry, reasonOf(err))));
    for (const f of images) {
      try {
        summaries.push(summaryOf(f.entry, f.manifest, f.config, f.configDigest, await uncompressedSizes(this.root, f.manifest, f.config)));
      } catch (err) {
        if (!(err instanceof LayerkitError)) throw err;
        summaries.push(corruptSummaryOf(f.entry, reasonOf(err), f.configDigest));
      }
    }
    return summaries
      .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.digest.localeCompare(b.digest));
  }

  /**
   * A `docker image inspect`-like description of a stored image.
   *
   * @example
   * ```ts
   * const { Id, RepoTags, Config } = await store.inspect('me/app:1');
   * ```
   */
  async inspect(ref: string): Promise<ImageInspect> {
    const f = await resolveImage(this.root, await readRefs(this.root), ref);
    return inspectOf(f.entry, f.manifest, f.config, f.configDigest, await uncompressedSizes(this.root, f.manifest, f.config));
  }

  /**
   * The history of a stored image, newest step first (like `docker history`).
   *
   * @example
   * ```ts
   * for (const h of await store.history('me/app:1')) console.log(h.createdBy, h.size);
   * ```
   */
  async history(ref: string): Promise<ImageHistoryEntry[]> {
    const f = await resolveStored(this.root, await readRefs(this.root), ref);
    return historyOf(f.manifest, f.config, await uncompressedSizes(this.root, f.manifest, f.config));
  }

  /**
   * Adds a tag to a stored image (moving it from any other image).
   *
   * @throws {@link ImageNotFoundError} when `ref` names nothing; {@link InvalidReferenceError} for a bad `newRef`.
   * @example
   * ```ts
   * await store.tag('me/app:1', 'registry.example.com/app:1');
   * ```
   */
  async tag(ref: string, newRef: string): Promise<void> {
    const target = parseTagReference(newRef).canonical;
    const f = await resolveStored(this.root, await readRefs(this.root), ref);
    await this.#lock(async () => {
      const entries = await readRefs(this.root);
      if (!entries.some((e) => e.descriptor.digest === f.entry.descriptor.digest)) {
        throw new ImageNotFoundError(ref, this.root, entries.flatMap((e) => e.refs));
      }
      await writeRefs(this.root, assignRef(entries, f.entry.descriptor, target));
    });
  }

  /**
   * Removes a tag. The image stays in the store (untagged when it was its
   * last tag) until {@link remove} or `gc({ dangling: true })`.
   *
   * @throws {@link ImageNotFoundError} when no image has that tag.
   * @example
   * ```ts
   * await store.untag('me/app:old');
   * ```
   */
  async untag(ref: string): Promise<void> {
    const canonical = parseTagReference(ref).canonical;
    await this.#lock(async () => {
      const entries = await readRefs(this.root);
      const owner = entries.find((e) => e.refs.includes(canonical));
      if (!owner) throw new ImageNotFoundError(ref, this.root, entries.flatMap((e) => e.refs));
      owner.refs = owner.refs.filter((r) => r !== canonical);
      await writeRefs(this.root, entries);
    });
  }

  /**
   * Removes an image, as `docker rmi` does: by tag, only that tag goes
   * while the image has others; by ID or digest, the image and all its tags
   * go — refused when it has several tags, unless `force`. Blobs are freed
   * by {@link gc}.
   *
   * @throws {@link ImageConflictError} for an ID of an image with several tags, without `force`.
   * @example
   * ```ts
   * await store.remove('me/app:1');
   * await store.remove('3f57d9401f8d', { force: true });
   * ```
   */
  async remove(ref: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    await this.sweepAbandoned();
    const f = await resolveImage(this.root, await readRefs(this.root), ref).catch(async (err: unknown) => {
      // An image whose manifest or config is corrupt is still removed by its tag or manifest digest.
      if (err instanceof ImageNotFoundError || err instanceof AmbiguousReferenceError || err instanceof InvalidReferenceError) throw err;
      const named = entriesByName(await readRefs(this.root), ref);
      if (named.length === 0) throw err;
      return { entry: { ...named[0]!, refs: [...new Set(named.flatMap((e) => e.refs))].sort() }, entries: named };
    });
    let byTag: string | undefined;
    try {
      const parsed = parseReference(ref.trim());
      if (parsed.digest === undefined && f.entry.refs.includes(parsed.canonical)) byTag = parsed.canonical;
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
    }
    return this.#lock(async () => {
      const entries = await readRefs(this.root);
      // Every stored manifest of the image ID is the one image.
      const mine = new Set(f.entries.map((e) => e.descriptor.digest));
      const group = entries.filter((e) => mine.has(e.descriptor.digest));
      if (group.length === 0) throw new ImageNotFoundError(ref, this.root, entries.flatMap((e) => e.refs));
      const tags = [...new Set(group.flatMap((e) => e.refs))].sort();
      if (byTag !== undefined && tags.length > 1) {
        for (const e of group) e.refs = e.refs.filter((r) => r !== byTag);
        // A manifest left without a tag while another manifest of the image keeps one is not a second image.
        await writeRefs(this.root, entries.filter((e) => !(mine.has(e.descriptor.digest) && e.refs.length === 0)));
        return { untagged: [byTag], deleted: [] };
      }
      if (byTag === undefined && tags.length > 1 && !options.force) {
        throw new ImageConflictError(ref, tags, `image is referenced by ${tags.length} tags (use force)`);
      }
      await writeRefs(this.root, entries.filter((e) => !mine.has(e.descriptor.digest)));
      return { untagged: tags, deleted: group.map((e) => e.descriptor.digest as Digest) };
    });
  }

  /**
   * Deletes every blob no stored image references, and temporary files left
   * by writers that died (a pid no longer alive on this host, or older than a
   * day). Runs under the store lock; see the class notes for why a
   * concurrent {@link putImage} is still safe.
   *
   * @example
   * ```ts
   * const { removedBlobs, freedBytes } = await store.gc();
   * ```
   */
  async gc(options: GcOptions = {}): Promise<GcResult> {
    if (!(await pathExists(this.root))) return { removedBlobs: [], freedBytes: 0, removedImages: [], removedTemporaryFiles: 0 };
    return this.#gc(options).catch((err: unknown) => {
      throw asNoSpace(err, 'prune');
    });
  }

  #gc(options: GcOptions): Promise<GcResult> {
    return this.#lock(async () => {
      let entries = await readRefs(this.root);
      const removedImages: Digest[] = [];
      if (options.dangling) {
        const kept = entries.filter((e) => e.refs.length > 0);
        removedImages.push(...entries.filter((e) => e.refs.length === 0).map((e) => e.descriptor.digest as Digest));
        if (removedImages.length > 0) await writeRefs(this.root, kept);
        entries = kept;
      }
      const referenced = await referencedBlobs(this.root, entries);
      const removedBlobs: Digest[] = [];
      let freedBytes = 0;
      for (const { digest, path } of await listBlobs(this.root)) {
        if (referenced.has(digest)) continue;
        const info = await stat(path).catch(() => undefined);
        await rm(path, { force: true });
        freedBytes += info?.size ?? 0;
        removedBlobs.push(digest as Digest);
      }
      this.#swept = undefined;
      return { removedBlobs, freedBytes, removedImages, removedTemporaryFiles: await this.sweepAbandoned() };
    });
  }

  /**
   * Records that a stored image is `repoDigest` (`registry/repo@sha256:…`, the
   * manifest digest a registry knows it by), as `docker pull` and `docker push`
   * do; `inspect` lists it under `RepoDigests`, and it goes with the image. A
   * newer digest for the same repository replaces the older one. `imageId` is
   * the image ID (config digest) or a manifest digest of stored images.
   *
   * @throws {@link ImageNotFoundError} when no stored image has that ID;
   * {@link InvalidReferenceError} when `repoDigest` has no digest.
   * @example
   * ```ts
   * await store.addRepoDigest(id, 'localhost:5000/app@sha256:4f1c…');
   * (await store.inspect('localhost:5000/app:1')).RepoDigests; // ['localhost:5000/app@sha256:4f1c…']
   * ```
   */
  async addRepoDigest(imageId: Digest, repoDigest: string): Promise<void> {
    const parsed = parseReference(repoDigest);
    if (parsed.digest === undefined) throw new InvalidReferenceError(repoDigest, 'a repo digest needs @sha256:…');
    const value = `${parsed.name}@${parsed.digest}`;
    await this.#lock(async () => {
      const entries = await readRefs(this.root);
      const facts = await Promise.all(entries.map((e) => loadFacts(this.root, e)));
      const targets = facts.filter((f) => f.configDigest === imageId || f.entry.descriptor.digest === imageId).map((f) => f.entry);
      if (targets.length === 0) throw new ImageNotFoundError(imageId, this.root, entries.flatMap((e) => e.refs));
      for (const entry of targets) {
        const others = (entry.repoDigests ?? []).filter((r) => r.slice(0, r.lastIndexOf('@')) !== parsed.name);
        entry.repoDigests = [...others, value].sort();
      }
      await writeRefs(this.root, entries);
    });
  }

}

/** What is wrong with a corrupt image, for its line in a listing. */
function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
