/**
 * Indexing a `Layer`: read its tar once with the layers module's reader and
 * keep each file's bytes where they can be read again at random — in memory
 * up to a budget, then in a spool file on disk.
 * @module
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContentSource, Entry } from '../layers/entry.js';
import type { Layer } from '../layers/layer.js';
import { readTar } from '../layers/tar/index.js';
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
  let pending = cache.get(layer);
  if (!pending) {
    pending = buildIndex(layer, options);
    cache.set(layer, pending);
    pending.catch(() => cache.delete(layer));
  }
  return pending;
}

async function buildIndex(layer: Layer, options: IndexLayerOptions): Promise<LayerIndex> {
  const budget = options.memoryBudget ?? 64 * 2 ** 20;
  let inMemory = 0;
  let spool: Spool | undefined;
  const entries: Entry[] = [];
  try {
    for await (const { entry, body } of readTar(layer.uncompressed())) {
      if (entry.type !== 'file' || entry.size === 0) {
        entries.push(entry);
        continue;
      }
      if (inMemory + entry.size <= budget) {
        const bytes = await collect(body, entry.size);
        inMemory += entry.size;
        entries.push({ ...entry, content: memorySource(bytes) });
      } else {
        spool ??= await Spool.create(options.spoolDir ?? tmpdir());
        entries.push({ ...entry, content: await spool.append(body, entry.size) });
      }
    }
  } finally {
    await spool?.seal();
  }
  return LayerIndex.fromEntries(entries);
}

async function collect(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let offset = 0;
  for await (const chunk of body) {
    out.set(chunk.subarray(0, Math.min(chunk.byteLength, size - offset)), offset);
    offset += chunk.byteLength;
  }
  return out;
}

function memorySource(bytes: Uint8Array): ContentSource {
  return {
    size: bytes.byteLength,
    async *open() {
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}

const spoolDirs = new Set<string>();
let exitHookInstalled = false;

/** An append-only file of content bodies, read back by ranges. */
class Spool {
  readonly #path: string;
  #handle: FileHandle | undefined;
  #size = 0;

  private constructor(path: string, handle: FileHandle) {
    this.#path = path;
    this.#handle = handle;
  }

  static async create(parent: string): Promise<Spool> {
    const dir = await mkdtemp(join(parent, 'layerkit-spool-'));
    spoolDirs.add(dir);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const d of spoolDirs) rmSync(d, { recursive: true, force: true });
      });
    }
    const path = join(dir, 'bodies');
    return new Spool(path, await open(path, 'w'));
  }

  async append(body: AsyncIterable<Uint8Array>, size: number): Promise<ContentSource> {
    const start = this.#size;
    for await (const chunk of body) {
      await this.#handle!.write(chunk, 0, chunk.byteLength, this.#size);
      this.#size += chunk.byteLength;
    }
    const path = this.#path;
    return {
      size,
      async *open() {
        const handle = await open(path, 'r');
        try {
          let offset = start;
          const end = start + size;
          while (offset < end) {
            const buffer = new Uint8Array(Math.min(end - offset, 1 << 20));
            const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, offset);
            if (bytesRead === 0) return;
            offset += bytesRead;
            yield buffer.subarray(0, bytesRead);
          }
        } finally {
          await handle.close();
        }
      },
    };
  }

  async seal(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }
}

/** Records the index of a layer built from known entries (a commit), so indexing it later reads nothing. */
export function rememberIndex(layer: Layer, index: LayerIndex): void {
  cache.set(layer, Promise.resolve(index));
}
