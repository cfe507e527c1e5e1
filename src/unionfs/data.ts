/**
 * Argument conversions shared by the fs-shaped methods: data to write,
 * encodings, modes.
 * @module
 */
import { fsError } from './errors.js';

/**
 * What `writeFile`/`appendFile` accept, as `fs.promises` does.
 *
 * @example
 * ```ts
 * await view.writeFile('/a', 'text');
 * await view.writeFile('/b', createReadStream('host-file')); // any async iterable of chunks
 * ```
 */
export type WriteData =
  | string
  | ArrayBufferView
  | Iterable<string | ArrayBufferView>
  | AsyncIterable<string | ArrayBufferView>;

/** Options object or encoding name, as Node's methods take them. */
export type EncodingOption = BufferEncoding | { encoding?: BufferEncoding | null } | null | undefined;

export function encodingOf(options: EncodingOption): BufferEncoding | undefined {
  if (typeof options === 'string') return options;
  return options?.encoding ?? undefined;
}

function toBytes(chunk: string | ArrayBufferView, encoding: BufferEncoding): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The chunks of `data` as bytes (strings encoded with `encoding`). */
export async function* dataChunks(data: WriteData, encoding: BufferEncoding = 'utf8'): AsyncIterable<Uint8Array> {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) {
    yield toBytes(data, encoding);
    return;
  }
  if (Symbol.asyncIterator in data) {
    for await (const chunk of data as AsyncIterable<string | ArrayBufferView>) yield toBytes(chunk, encoding);
    return;
  }
  for (const chunk of data as Iterable<string | ArrayBufferView>) yield toBytes(chunk, encoding);
}

/** A mode given as a number or an octal string (`'755'`). */
export function parseMode(mode: number | string, syscall: string): number {
  const value = typeof mode === 'string' ? Number.parseInt(mode, 8) : mode;
  if (!Number.isInteger(value) || value < 0) throw fsError('EINVAL', syscall);
  return value;
}
