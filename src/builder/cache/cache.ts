/**
 * The build cache on disk: records by key, layer blobs, the context stat
 * index, leases of running builds; lookups that fall back to imported
 * caches; LRU pruning to a size bound.
 * @module
 */
import { link, mkdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, type Digest } from '../../digest.js';
import { temporaryPath, writeFileAtomic } from '../../image/fs-atomic.js';
import { withLock, type LockOptions } from '../../image/store/lock.js';
import { ImageStore } from '../../image/store/store.js';
import type { Layer } from '../../layers/layer.js';
import type { LayerIndex } from '../../unionfs/layer-index.js';
import { StatCache } from '../../context/stat-cache.js';
import { adoptBlob, blobFile, blobLayer, hasBlob, writeBlob } from './blobs.js';
import { indexFile, loadIndex, saveIndex } from './layer-index.js';
import { CacheError } from './errors.js';
import type { CacheKey } from './key.js';
import { Lease } from './leases.js';
import { encodeRecord, type CachedLayer, type CacheRecord } from './records.js';
import { blobOf, listRecords, readRecord } from './files.js';
import { pruneCache, type PruneResult } from './prune.js';
import { extractedFiles } from '../../sandbox/extracted-files.js';

export type { PruneResult } from './prune.js';

/**
 * Options of {@link BuildCache}: how long to wait for the store's lock
 * (which {@link BuildCache.prune} takes) and when a lock is stale.
 *
 * @example
 * ```ts
 * const cache = new BuildCache(store, { timeoutMs: 10_000 });
 * ```
 */
export interface BuildCacheOptions extends LockOptions {}

/**
 * How much a cache holds.
 *
 * @example
 * ```ts
 * const { records, bytes } = await new BuildCache(store).usage();
 * ```
 */
export interface CacheUsage {
  /** Number of records. */
  records: number;
  /** Distinct layer blobs the records use. */
  blobs: number;
  /** Bytes of records and the blobs they use (each blob once, with its saved index). */
  bytes: number;
}

/**
 * Options of {@link BuildCache.prune}.
 *
 * @example
 * ```ts
 * await cache.prune({ keepStorage: 2 * 2 ** 30 }); // keep at most 2 GiB, most recently used first
 * ```
 */
export interface PruneOptions {
  /** Keep at most this many bytes (records and blobs), dropping the least recently used records first. */
  keepStorage: number;
}

/**
 * Records and blobs brought in from elsewhere (see `importCache`).
 *
 * @example
 * ```ts
 * const imported = await importCache(parseCacheFrom('type=local,src=.ci/cache'));
 * console.log(imported.records.size);
 * ```
 */
export interface ImportedCache {
  /** A directory with `blobs/sha256/<hex>` holding the layers. */
  readonly dir: string;
  readonly records: ReadonlyMap<string, CacheRecord>;
  /** Brings a layer's blob into `dir` before it is adopted (a registry cache downloads only the layers hit). */
  readonly fetch?: (layer: CachedLayer) => Promise<void>;
}

/**
 * The build cache of an image store, in `<store>/cache/`:
 *
 * - `records/<2 hex>/<key hex>.json`: what each key maps to (a step's
 *   history text and layer, or a remembered content checksum). A record's
 *   modification time is its last use: every hit touches it.
 * - `blobs/sha256/<hex>`: the layers records name, verified when written
 *   and on every read.
 * - `context/`: the stat index of build contexts (a {@link StatCache}), so a
 *   rebuild does not read unchanged context files again.
 * - `leases/`: which blobs running builds use (prune keeps them).
 * - `tmp/`: files being written.
 *
 * Writes are atomic (temporary file, rename), so concurrent builds can share
 * one cache: the last writer of a key wins with an equally valid record.
 * A damaged or missing record or blob is a miss, never an error.
 *
 * @example
 * ```ts
 * const cache = new BuildCache(new ImageStore());
 * console.log(await cache.usage());
 * await cache.prune({ keepStorage: 512 * 2 ** 20 });
 * ```
 */
export class BuildCache {
  /** The cache directory (`<store>/cache`). */
  readonly root: string;
  /** The store directory. */
  readonly storeRoot: string;
  readonly #options: BuildCacheOptions;
  readonly #imports: ImportedCache[] = [];
  #lease: Lease | undefined;
  #statCache: StatCache | undefined;

  constructor(store: ImageStore | string = new ImageStore(), options: BuildCacheOptions = {}) {
    this.storeRoot = typeof store === 'string' ? new ImageStore(store).root : store.root;
    this.root = join(this.storeRoot, 'cache');
    this.#options = options;
  }

  /** The persisted stat index that makes context checksums incremental. */
  get statCache(): StatCache {
    this.#statCache ??= new StatCache(join(this.root, 'context'));
    return this.#statCache;
  }

  get #tmp(): string {
    return join(this.root, 'tmp');
  }

  #recordPath(key: string): string {
    const hex = digestHex(key as Digest);
    return join(this.root, 'records', hex.slice(0, 2), `${hex}.json`);
  }

  get #leaseOfThis(): Lease {
    this.#lease ??= new Lease(join(this.root, 'leases'));
    return this.#lease;
  }

  /** Adds an imported cache that lookups fall back to (its blobs are copied in on a hit). */
  addImport(imported: ImportedCache): void {
    this.#imports.push(imported);
  }

  /**
   * The record of `key`, from this cache or else an imported one (then
   * copied in). A record whose layer blob is missing or damaged counts as
   * absent. A hit marks the record as just used.
   *
   * @example
   * ```ts
   * const record = await cache.get(key);
   * if (record?.kind === 'step' && record.layer) state.addLayer(cache.layer(record.layer));
   * ```
   */
  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    const path = this.#recordPath(key);
    const local = await readRecord(path, key);
    if (local && (await this.#usable(local))) {
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      return local;
    }
    for (const imported of this.#imports) {
      const record = imported.records.get(key);
      if (!record) continue;
      if (record.kind === 'step' && record.layer) {
        await this.#leaseOfThis.hold([record.layer.digest]);
        if (imported.fetch && !(await hasBlob(this.root, record.layer))) {
          const layer = record.layer;
          if (!(await imported.fetch(layer).then(() => true, () => false))) continue;
        }
        if (!(await adoptBlob(this.root, imported.dir, record.layer, this.#tmp))) continue;
      }
      await this.#writeRecord(key, record);
      return record;
    }
    return undefined;
  }

  async #usable(record: CacheRecord): Promise<boolean> {
    if (record.kind !== 'step' || !record.layer) return true;
    // Leased before looking, so a concurrent prune either sees the lease or removed the blob already.
    await this.#leaseOfThis.hold([record.layer.digest]);
    return hasBlob(this.root, record.layer);
  }

  /**
   * Records `record` under `key`; for a step with a layer, `layer` supplies
   * the blob (written unless present, verified on the way).
   *
   * @example
   * ```ts
   * await cache.put(key, { kind: 'step', createdBy: 'COPY . /app # buildkit', layer: info }, layer);
   * ```
   */
  async put(key: CacheKey, record: CacheRecord, layer?: Layer): Promise<void> {
    if (record.kind === 'step' && record.layer) {
      if (!layer) throw new TypeError('BuildCache.put: a record with a layer needs the layer');
      await this.#leaseOfThis.hold([record.layer.digest]);
      await writeBlob(this.root, layer, record.layer, this.#tmp);
    }
    await this.#writeRecord(key, record);
  }

  async #writeRecord(key: CacheKey, record: CacheRecord): Promise<void> {
    // Not fsynced: a record lost or torn by a crash is a miss, and decoding catches it.
    await writeFileAtomic(this.#recordPath(key), [encodeRecord(key, record)], { tmpDir: this.#tmp, durable: false, hint: 'record' });
  }

  /**
   * A verified `Layer` over a cached blob. Reads wait briefly and retry if
   * a concurrent prune has the blob in its trash for a moment.
   */
  layer(info: CachedLayer): Layer {
    return blobLayer(this.root, info);
  }

  /** Saves the entry list of a cached layer, so a later build can stack it without reading it. */
  async saveIndex(digest: Digest, index: LayerIndex): Promise<void> {
    await saveIndex(this.root, this.#tmp, digest, index);
  }

  /**
   * The saved entry list of a cached layer as a `LayerIndex` whose file
   * contents are read from the blob on first use; undefined if none was saved.
   */
  loadIndex(info: CachedLayer, position: number): Promise<LayerIndex | undefined> {
    return loadIndex(this.root, info.digest, () => blobLayer(this.root, info), position, extractedFiles(this.storeRoot, info.diffId));
  }

  /**
   * The saved entry list of any layer (a base image's) by its blob digest,
   * its file contents read from the layer's extraction or else from `layer`;
   * undefined if none was saved.
   */
  async loadLayerIndex(layer: Layer, position: number): Promise<LayerIndex | undefined> {
    const [digest, diffId] = await Promise.all([layer.digest(), layer.diffId()]);
    return loadIndex(this.root, digest, () => layer, position, extractedFiles(this.storeRoot, diffId));
  }

  /** The file of a cached blob (for exports). */
  blobPath(digest: Digest): string {
    return blobFile(this.root, digest);
  }

  /**
   * How many records and bytes the cache holds.
   *
   * @example
   * ```ts
   * const { bytes } = await cache.usage();
   * ```
   */
  async usage(): Promise<CacheUsage> {
    const records = await listRecords(this.root);
    const blobs = new Map<string, number>();
    let bytes = 0;
    for (const r of records) {
      bytes += r.bytes;
      const digest = blobOf(r.record);
      if (digest !== undefined && !blobs.has(digest)) {
        const [blob, index] = await Promise.all([stat(blobFile(this.root, digest as Digest)).catch(() => undefined), stat(indexFile(this.root, digest as Digest)).catch(() => undefined)]);
        blobs.set(digest, (blob?.size ?? 0) + (index?.size ?? 0));
      }
    }
    for (const size of blobs.values()) bytes += size;
    return { records: records.length, blobs: blobs.size, bytes };
  }

  /**
   * Removes the least recently used records until the cache holds at most
   * `keepStorage` bytes, then every blob no record uses. Blobs a running
   * build holds a lease on stay (with their records). Runs under the
   * store's lock, so two prunes do not interleave.
   *
   * @throws {@link CacheError} `CACHE_INVALID_OPTION` for a negative or non-integer `keepStorage`.
   * @example
   * ```ts
   * const { freedBytes } = await new BuildCache(store).prune({ keepStorage: 2 ** 30 });
   * ```
   */
  async prune(options: PruneOptions): Promise<PruneResult> {
    const keep = options.keepStorage;
    if (!Number.isSafeInteger(keep) || keep < 0) {
      throw new CacheError('CACHE_INVALID_OPTION', `keepStorage must be a non-negative integer number of bytes, got ${keep}`, { reason: 'keepStorage' });
    }
    return withLock(join(this.storeRoot, 'lock'), () => pruneCache(this.root, keep), this.#options);
  }

  /**
   * Makes the cache's copy of each blob that the store also holds a hard
   * link to the store's file, so a layer that is both cached and in an image
   * takes its space once. Both names stay valid on their own: removing an
   * image or pruning the cache deletes one name, not the bytes under the
   * other. Blobs on different file systems are left as they are.
   */
  async shareWithStore(digests: Iterable<Digest>): Promise<void> {
    for (const digest of new Set(digests)) {
      const ours = blobFile(this.root, digest);
      const theirs = join(this.storeRoot, 'blobs', 'sha256', digestHex(digest));
      const [a, b] = await Promise.all([stat(ours).catch(() => undefined), stat(theirs).catch(() => undefined)]);
      if (!a || !b || a.size !== b.size || (a.dev === b.dev && a.ino === b.ino)) continue;
      const temp = temporaryPath(this.#tmp, 'blob');
      try {
        await mkdir(this.#tmp, { recursive: true });
        await link(theirs, temp);
        await rename(temp, ours);
      } catch {
        await rm(temp, { force: true });
      }
    }
  }

  /** Ends this object's lease on the blobs it used (call when the build is done). */
  async close(): Promise<void> {
    await this.#lease?.release();
    this.#lease = undefined;
  }
}
