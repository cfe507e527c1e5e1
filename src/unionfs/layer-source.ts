/**
 * Indexing a `Layer`: read its tar once with the layers module's reader and
 * keep each file's bytes where they can be read again at random — in memory
 * up to a budget, then in a spool file on disk.
 * @module
 */
import { tmpdir } from 'node:os';
import { BodySpool } from '../layers/body-spool.js';
import type { Entry } from '../layers/entry.js';
import type { Layer } from '../layers/layer.js';
import { readTar } from '../layers/tar/index.js';
import { memoPromise } from '../memo.js';
import { LayerIndex } from './layer-index.js';

/**
 * Options of {@link indexLayer}.
 *
 * @example
 * ```ts
 * await indexLayer(layer, { memoryBudget: 8 << 20, spoolDir: '/var/tmp' });
 * ```
 */
export interface IndexLayerOptions {
  /**
   * Bytes of file content kept in memory per layer (default 64 MiB); the rest
   * goes to a spool file under `spoolDir`, removed when the process exits.
   */
  memoryBudget?: number;
  /** Where spool files go (default the OS temp directory). */
  spoolDir?: string;
}

const cache = new WeakMap<Layer, Promise<LayerIndex>>();

/**
 * The index of a layer, built once per `Layer` object and shared by every
 * stack and view that uses it.
 *
 * @example
 * ```ts
 * const index = await indexLayer(layerFromTarFile('base.tar.gz'));
 * index.entries.size;
 * ```
 */
export function indexLayer(layer: Layer, options: IndexLayerOptions = {}): Promise<LayerIndex> {
  return memoPromise(cache, layer, () => buildIndex(layer, options));
}

async function buildIndex(layer: Layer, options: IndexLayerOptions): Promise<LayerIndex> {
  const spool = new BodySpool(options.spoolDir ?? tmpdir(), options.memoryBudget ?? 64 * 2 ** 20);
  const entries: Entry[] = [];
  try {
    for await (const { entry, body } of readTar(layer.uncompressed())) {
      entries.push(entry.type !== 'file' || entry.size === 0 ? entry : { ...entry, content: await spool.keep(body, entry.size) });
    }
  } finally {
    await spool.seal();
  }
  return LayerIndex.fromEntries(entries);
}

/** Records the index of a layer built from known entries (a commit), so indexing it later reads nothing. */
export function rememberIndex(layer: Layer, index: LayerIndex): void {
  cache.set(layer, Promise.resolve(index));
}
