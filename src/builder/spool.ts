/**
 * Staging of new layers: each layer a build makes is compressed once, into
 * a file of the build's private staging directory, while its digests are
 * computed; later readers (the store, outputs, COPY --from) stream that file
 * instead of compressing again. Nothing reaches the store until the build
 * succeeds, and the staging directory is removed whatever happens — by the
 * build itself, or, when the build is killed, by the next command that opens
 * the store (the directory lives under `<store>/tmp` and is named after its
 * owner, see `image/store/scratch.ts`).
 * @module
 */
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createSha256, type Digest } from '../digest.js';
import { DigestMismatchError } from '../errors.js';
import { decompress, decompressAs, mediaTypeCompression } from '../layers/compress/index.js';
import type { CompressionFormat } from '../layers/errors.js';
import { OWN_BLOB_FILE, type Layer } from '../layers/layer.js';
import { makeScratchDir } from '../image/store/scratch.js';
import { LayerIndex } from '../unionfs/layer-index.js';
import { indexLayer, type IndexLayerOptions } from '../unionfs/layer-source.js';

/**
 * A layer that carries its index (the builder's staged layers, cached layers
 * replayed with a saved index): whoever holds the layer reads the index from
 * it instead of reading the blob back.
 */
export interface IndexedLayer extends Layer {
  readonly index: LayerIndex | undefined;
}

/** The index a layer carries, if it is an {@link IndexedLayer} that has one. */
export function knownIndex(layer: Layer): LayerIndex | undefined {
  const index = (layer as Partial<IndexedLayer>).index;
  return index instanceof LayerIndex ? index : undefined;
}

/**
 * `layer` carrying `index` (every other member is `layer`'s own, bound to
 * it, so a class layer with private state works through it).
 */
export function withIndex(layer: Layer, index: LayerIndex): IndexedLayer {
  return new Proxy(layer, {
    get(target, property) {
      if (property === 'index') return index;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as IndexedLayer;
}

/** A layer staged by {@link LayerSpool.stage}, with its index when one was asked for. */
export interface Staged {
  layer: Layer;
  /** Made from the same bytes as they were written; undefined when not asked for or the tar could not be indexed. */
  index: LayerIndex | undefined;
}

/** Bytes of blob gathered before one write (see `LayerSpool.stage`). */
const WRITE_BATCH = 1 << 20;

/** Writes `chunks` in order, all of them (a short write goes on where it stopped). */
async function writeChunks(out: FileHandle, chunks: Uint8Array[]): Promise<void> {
  if (chunks.length === 0) return;
  let { bytesWritten } = await out.writev(chunks);
  for (const chunk of chunks) {
    if (bytesWritten >= chunk.byteLength) {
      bytesWritten -= chunk.byteLength;
      continue;
    }
    for (let written = bytesWritten; written < chunk.byteLength; ) {
      written += (await out.write(chunk, written, chunk.byteLength - written)).bytesWritten;
    }
    bytesWritten = 0;
  }
}

/** A private directory of staged layer blobs. */
export class LayerSpool {
  readonly dir: string;
  #count = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates an owned directory `build-<owner>-<random>` under `parent` (the store's `tmp/`). */
  static async create(parent: string): Promise<LayerSpool> {
    return new LayerSpool(await makeScratchDir(parent, 'build'));
  }

  /**
   * Writes `layer`'s blob to a file once, hashing it on the way, and returns
   * a layer that reads the file. The blob's digest and size must be what the
   * layer says ({@link DigestMismatchError} otherwise, and no file is left):
   * the file then stands for the blob, and the store, the cache and layouts
   * place it without hashing it again. The staged layer carries `index` (the
   * caller made it from the same entries) as its {@link IndexedLayer.index}.
   */
  async stage(layer: Layer, signal?: AbortSignal, index?: LayerIndex): Promise<IndexedLayer> {
    return (await this.#write(layer, signal, undefined, index)).layer;
  }

  /**
   * {@link stage}, indexing the layer from the bytes being written (they are
   * decompressed beside the write): a layer whose entries the build does not
   * hold (a RUN's) is indexed once, and nothing reads the staged file back
   * to index it.
   */
  stageIndexed(layer: Layer, options: IndexLayerOptions, signal?: AbortSignal): Promise<Staged> {
    return this.#write(layer, signal, options, undefined);
  }

  async #write(layer: Layer, signal: AbortSignal | undefined, indexing: IndexLayerOptions | undefined, known: LayerIndex | undefined): Promise<Staged & { layer: IndexedLayer }> {
    const file = join(this.dir, `layer-${this.#count++}`);
    const format = mediaTypeCompression(layer.mediaType);
    const tee = indexing === undefined ? undefined : new Tee();
    const index = tee === undefined ? undefined : indexStream(tee, format, indexing!);
    // Plain awaited writes: a failed write (a full disk) rejects here instead of firing an unhandled stream event.
    // The compressor yields many small pieces (a stored block's 5-byte header, then its data): they are
    // written in batches of about 1 MiB, one batch in flight while the next is compressed.
    const out = await open(file, 'wx', 0o600);
    let inFlight: Promise<void> | undefined;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      const chunks = batch;
      batch = [];
      batchBytes = 0;
      await inFlight;
      inFlight = writeChunks(out, chunks);
      inFlight.catch(() => undefined);
    };
    // The file stands for the blob from here on (OWN_BLOB_FILE): its own digest, not the layer's word.
    const hasher = createSha256();
    let written = 0;
    try {
      for await (const chunk of layer.compressed()) {
        signal?.throwIfAborted();
        const passed = tee?.push(chunk);
        hasher.update(chunk);
        written += chunk.byteLength;
        batch.push(chunk);
        batchBytes += chunk.byteLength;
        if (batchBytes >= WRITE_BATCH) await flush();
        await passed;
      }
      await flush();
      await inFlight;
      tee?.end();
    } catch (err) {
      tee?.end(err);
      await index;
      await inFlight?.catch(() => undefined);
      await out.close().catch(() => undefined);
      await rm(file, { force: true });
      throw err;
    }
    await out.close();
    const digest = hasher.digest();
    let diffId: Digest;
    try {
      const [claimed, claimedSize] = await Promise.all([layer.digest(), layer.size()]);
      if (claimed !== digest) throw new DigestMismatchError('staged layer blob', claimed, digest);
      if (claimedSize !== written) throw new DigestMismatchError('staged layer blob size', String(claimedSize), String(written));
      diffId = await layer.diffId();
    } catch (err) {
      await index;
      await rm(file, { force: true });
      throw err;
    }
    const made = known ?? (await index);
    return { layer: new StagedLayer(file, layer.mediaType, digest, diffId, written, format, made), index: made };
  }

  /** Removes the directory and everything staged in it. */
  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A layer whose blob is a staged file with known digests. */
class StagedLayer implements IndexedLayer {
  /** The staged file is this process's, hashed as it was written (see `LayerSpool.stage`): stores and layouts may place it as it is. */
  get [OWN_BLOB_FILE](): string {
    return this.file;
  }

  constructor(
    readonly file: string,
    readonly mediaType: string,
    readonly blobDigest: Digest,
    readonly tarDigest: Digest,
    readonly blobSize: number,
    /** From the media type table; undefined for a media type outside it. */
    readonly format: CompressionFormat | undefined,
    readonly index: LayerIndex | undefined,
  ) {}

  diffId(): Promise<Digest> {
    return Promise.resolve(this.tarDigest);
  }

  digest(): Promise<Digest> {
    return Promise.resolve(this.blobDigest);
  }

  size(): Promise<number> {
    return Promise.resolve(this.blobSize);
  }

  compressed(): AsyncIterable<Uint8Array> {
    return createReadStream(this.file, { highWaterMark: 1 << 20 });
  }

  async *uncompressed(): AsyncIterable<Uint8Array> {
    const blob = this.compressed();
    // A media type outside the table: the bytes say what they are.
    yield* this.format ? decompressAs(blob, this.format) : (await decompress(blob)).stream;
  }
}

/** Indexes the tar inside a blob stream; undefined when it is not one the reader takes. */
async function indexStream(blob: AsyncIterable<Uint8Array>, format: CompressionFormat | undefined, options: IndexLayerOptions): Promise<LayerIndex | undefined> {
  const once: Pick<Layer, 'uncompressed'> = {
    async *uncompressed() {
      yield* format ? decompressAs(blob, format) : (await decompress(blob)).stream;
    },
  };
  try {
    // A fresh object: nothing else indexes it, so the memo of indexLayer keeps no second copy.
    return await indexLayer(once as Layer, options);
  } catch {
    return undefined;
  } finally {
    if (blob instanceof Tee) blob.end(new Error('index reader stopped'));
  }
}

/**
 * One writer, one reader, one chunk in flight: the writer's `push` resolves
 * once the reader took the chunk, so the index follows the file write at
 * its pace. A reader that stops (an error) makes later pushes no-ops.
 */
class Tee implements AsyncIterable<Uint8Array> {
  #chunk: Uint8Array | undefined;
  #taken: (() => void) | undefined;
  #ready: (() => void) | undefined;
  #done = false;
  #error: unknown;

  push(chunk: Uint8Array): Promise<void> {
    if (this.#done) return Promise.resolve();
    this.#chunk = chunk;
    const taken = new Promise<void>((resolve) => (this.#taken = resolve));
    this.#ready?.();
    return taken;
  }

  end(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#ready?.();
    this.#taken?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.#chunk === undefined && !this.#done) await new Promise<void>((resolve) => (this.#ready = resolve));
      this.#ready = undefined;
      const chunk = this.#chunk;
      if (chunk !== undefined) {
        this.#chunk = undefined;
        const taken = this.#taken;
        this.#taken = undefined;
        taken?.();
        yield chunk;
        continue;
      }
      if (this.#done) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
    }
  }
}
