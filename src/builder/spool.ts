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
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest.js';
import { decompress, decompressAs, mediaTypeCompression } from '../layers/compress/index.js';
import type { CompressionFormat } from '../layers/errors.js';
import type { Layer } from '../layers/layer.js';
import { makeScratchDir } from '../image/store/scratch.js';

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
   * Writes `layer`'s blob to a file once (its digests are computed on the
   * way) and returns a layer that reads the file. The file is private to the
   * build and written by it, so reads are not verified again here; the store
   * verifies what it receives.
   */
  async stage(layer: Layer, signal?: AbortSignal): Promise<Layer> {
    const file = join(this.dir, `layer-${this.#count++}`);
    // Plain awaited writes: a failed write (a full disk) rejects here instead of firing an unhandled stream event.
    const out = await open(file, 'wx', 0o600);
    try {
      for await (const chunk of layer.compressed()) {
        signal?.throwIfAborted();
        for (let written = 0; written < chunk.byteLength; ) {
          written += (await out.write(chunk, written, chunk.byteLength - written)).bytesWritten;
        }
      }
    } catch (err) {
      await out.close().catch(() => undefined);
      await rm(file, { force: true });
      throw err;
    }
    await out.close();
    const [digest, diffId, size] = await Promise.all([layer.digest(), layer.diffId(), layer.size()]);
    return new StagedLayer(file, layer.mediaType, digest, diffId, size, mediaTypeCompression(layer.mediaType));
  }

  /** Removes the directory and everything staged in it. */
  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A layer whose blob is a staged file with known digests. */
class StagedLayer implements Layer {
  constructor(
    readonly file: string,
    readonly mediaType: string,
    readonly blobDigest: Digest,
    readonly tarDigest: Digest,
    readonly blobSize: number,
    /** From the media type table; undefined for a media type outside it. */
    readonly format: CompressionFormat | undefined,
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
