/**
 * Staging of new layers: each layer a build makes is compressed once, into
 * a file of the build's private staging directory, while its digests are
 * computed; later readers (the store, outputs, COPY --from) stream that file
 * instead of compressing again. Nothing reaches the store until the build
 * succeeds, and the staging directory is removed whatever happens.
 * @module
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { digestHex } from '../digest.js';
import { storedLayer } from '../image/blob-layer.js';
import type { Layer } from '../layers/layer.js';

/** A private directory of staged layer blobs. */
export class LayerSpool {
  readonly dir: string;
  #count = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory under `parent` (default the OS temp directory). */
  static async create(parent = tmpdir()): Promise<LayerSpool> {
    return new LayerSpool(await mkdtemp(join(parent, 'layerkit-build-')));
  }

  /**
   * Writes `layer`'s blob to a file once and returns a layer that reads the
   * file (verified against the digests on every read).
   */
  async stage(layer: Layer, signal?: AbortSignal): Promise<Layer> {
    const file = join(this.dir, `layer-${this.#count++}`);
    const out = createWriteStream(file);
    try {
      for await (const chunk of layer.compressed()) {
        signal?.throwIfAborted();
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
      }
      out.end();
      await finished(out);
    } catch (err) {
      out.destroy();
      throw err;
    }
    const [digest, diffId, size] = await Promise.all([layer.digest(), layer.diffId(), layer.size()]);
    return storedLayer({
      mediaType: layer.mediaType,
      digest,
      size,
      diffId,
      open: () => createReadStream(file),
      what: `layer ${digestHex(digest).slice(0, 12)}`,
    });
  }

  /** Removes the directory and everything staged in it. */
  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
