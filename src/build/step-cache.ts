/**
 * The build cache: a step whose inputs are the same as in an earlier build
 * reuses that build's layer from the store instead of copying and
 * compressing again.
 *
 * A key is the sha256 of everything the step's layer depends on: the
 * stage's layers so far (their diffIDs), the expanded instruction, the
 * working directory, the resolved owner, `SOURCE_DATE_EPOCH`, and the
 * content checksum of the COPY/ADD sources (BuildKit's: paths, types, modes,
 * owners, contents — not timestamps; unchanged files are not read again,
 * thanks to the context's StatCache). Records live in
 * `<store>/build-cache/`, are written only when a build succeeds, and are
 * used only while their blob is still in the store. RUN steps are not cached
 * (a handler or executor is code the cache cannot see into).
 * @module
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, parseDigest, sha256, type Digest } from '../digest.js';
import { storedLayer } from '../image/blob-layer.js';
import type { ImageStore } from '../image/store/store.js';
import type { Layer } from '../layers/layer.js';
import { StatCache } from './context/stat-cache.js';

/** What a cache record remembers of a step's layer (null: the step made none). */
interface CachedLayer {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
}

/** The build cache of one store. */
export class StepCache {
  readonly dir: string;
  /** Content digests of context files, shared by every build on this store. */
  readonly statCache: StatCache;
  readonly #store: ImageStore;
  readonly #pending = new Map<string, { group: string; layer: CachedLayer | null }>();
  readonly #groups = new Set<string>();

  constructor(store: ImageStore) {
    this.#store = store;
    this.dir = join(store.root, 'build-cache');
    this.statCache = new StatCache(join(this.dir, 'stat'));
  }

  /** A key from the step's inputs (any JSON value). */
  static key(inputs: unknown): string {
    return digestHex(sha256(JSON.stringify(inputs)));
  }

  /**
   * Keys come in two parts: the `group` (every input but the content
   * checksum) and the content checksum. A group nobody recorded cannot hit,
   * so a cold build need not wait for the checksum before building.
   */
  async hasGroup(group: string): Promise<boolean> {
    if (this.#groups.has(group)) return true;
    return (await stat(join(this.dir, 'steps', group)).catch(() => undefined))?.isDirectory() ?? false;
  }

  static #full(group: string, content: string | null): string {
    return content === null ? group : StepCache.key([group, content]);
  }

  /**
   * The layer recorded for `group` + `content`: a Layer over the store's
   * blob, `null` when the step made no layer, or undefined on a miss (no
   * record, or its blob is gone from the store).
   */
  async lookup(group: string, content: string | null = null): Promise<Layer | null | undefined> {
    const key = StepCache.#full(group, content);
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending.layer === null ? null : undefined;
    let record: { layer: CachedLayer | null };
    try {
      record = JSON.parse(await readFile(join(this.dir, 'steps', group, `${key}.json`), 'utf8')) as { layer: CachedLayer | null };
    } catch {
      return undefined;
    }
    if (record.layer === null) return null;
    const { mediaType, size } = record.layer;
    let digest: Digest;
    let diffId: Digest;
    try {
      digest = parseDigest(record.layer.digest);
      diffId = parseDigest(record.layer.diffId);
    } catch {
      return undefined;
    }
    const blob = join(this.#store.root, 'blobs', 'sha256', digestHex(digest));
    const info = await stat(blob).catch(() => undefined);
    if (!info || info.size !== size) return undefined;
    return storedLayer({ mediaType, digest, size, diffId, open: () => createReadStream(blob), what: `cached layer ${digestHex(digest).slice(0, 12)}` });
  }

  /** Remembers a step's result, to be written by {@link commit}. */
  async record(group: string, content: string | null, layer: Layer | null): Promise<void> {
    const key = StepCache.#full(group, content);
    this.#groups.add(group);
    if (!layer) {
      this.#pending.set(key, { group, layer: null });
      return;
    }
    const [digest, diffId, size] = await Promise.all([layer.digest(), layer.diffId(), layer.size()]);
    this.#pending.set(key, { group, layer: { mediaType: layer.mediaType, digest, diffId, size } });
  }

  /** Writes the records of a successful build (each atomically). */
  async commit(): Promise<void> {
    for (const [key, { group, layer }] of this.#pending) {
      const dir = join(this.dir, 'steps', group);
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${key}.${process.pid}.tmp`);
      await writeFile(tmp, JSON.stringify({ layer }));
      await rename(tmp, join(dir, `${key}.json`));
    }
    this.#pending.clear();
  }
}
