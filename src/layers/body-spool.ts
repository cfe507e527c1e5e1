/**
 * Bodies read once from a stream (tar members) and kept as content sources
 * that can be opened again: in memory up to a budget, the rest appended to
 * one spill file per spool and read back by ranges. Indexing a layer and
 * unpacking an ADD archive both keep bodies this way.
 * @module
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { atExit } from '../exit-cleanups.js';
import { bytesSource, type ContentSource } from './entry.js';

/** Spill files outlive their spool (their sources may be read later) but not the process. */
function removeAtExit(dir: string): void {
  atExit(() => rmSync(dir, { recursive: true, force: true }));
}

/**
 * A keeper of stream bodies: {@link BodySpool.keep} reads a body to its end
 * and returns a source of the same bytes.
 *
 * @example
 * ```ts
 * const spool = new BodySpool('/var/tmp', 8 << 20);
 * for await (const { entry, body } of readTar(stream)) if (entry.type === 'file') entry.content = await spool.keep(body, entry.size);
 * await spool.seal();
 * ```
 */
export class BodySpool {
  readonly #parent: string;
  readonly #budget: number;
  #inMemory = 0;
  #path: string | undefined;
  #handle: FileHandle | undefined;
  #size = 0;

  /** Spill files go in a fresh directory under `parent`, removed when the process exits. */
  constructor(parent: string, memoryBudget: number) {
    this.#parent = parent;
    this.#budget = memoryBudget;
  }

  /** Reads `body` (of `size` bytes) to its end; its bytes stay readable after {@link seal}. */
  async keep(body: AsyncIterable<Uint8Array>, size: number): Promise<ContentSource> {
    if (this.#inMemory + size <= this.#budget) {
      this.#inMemory += size;
      return bytesSource(await collect(body, size));
    }
    if (this.#handle === undefined) {
      const dir = await mkdtemp(join(this.#parent, 'layerkit-spool-'));
      removeAtExit(dir);
      this.#path = join(dir, 'bodies');
      this.#handle = await open(this.#path, 'w');
    }
    const start = this.#size;
    for await (const chunk of body) {
      await this.#handle.write(chunk, 0, chunk.byteLength, this.#size);
      this.#size += chunk.byteLength;
    }
    return rangeSource(this.#path!, start, size);
  }

  /** Closes the spill file for writing; kept sources can still be opened. */
  async seal(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }
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

/** `size` bytes of a file from `start`, read in chunks of at most 1 MiB. */
function rangeSource(path: string, start: number, size: number): ContentSource {
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
