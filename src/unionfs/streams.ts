/**
 * Streaming reads and writes without file descriptors: `createReadStream`
 * and `createWriteStream` in the shape of `node:fs`.
 * @module
 */
import { Readable, Writable } from 'node:stream';
import type { FileInode } from './inode.js';
import { openForRead } from './ops-read.js';
import { openForWrite, parseFlags, touchFile } from './ops-write.js';
import type { PathLike } from './paths.js';
import type { View } from './view.js';

/**
 * Options of `createReadStream`, as `fs.createReadStream` takes them.
 *
 * @example
 * ```ts
 * view.createReadStream('/var/log/app.log', { start: 100, end: 199, encoding: 'utf8' });
 * ```
 */
export interface ReadStreamOptions {
  /** First byte to read. */
  start?: number;
  /** Last byte to read, inclusive (as Node counts it). */
  end?: number;
  encoding?: BufferEncoding;
  highWaterMark?: number;
}

/**
 * Options of `createWriteStream`, as `fs.createWriteStream` takes them.
 *
 * @example
 * ```ts
 * view.createWriteStream('/var/log/app.log', { flags: 'a' }).end('line\n');
 * ```
 */
export interface WriteStreamOptions {
  /** Open flags (`'w'` default, `'a'`, `'r+'`, `'wx'`…). */
  flags?: string;
  /** Byte offset to start writing at. */
  start?: number;
  /** Mode of a created file (default 0o666, before the umask). */
  mode?: number;
  encoding?: BufferEncoding;
}

export function createReadStream(view: View, path: PathLike, options: ReadStreamOptions = {}): Readable {
  async function* chunks(): AsyncIterable<Uint8Array> {
    const file = openForRead(view, path);
    if (!file) return;
    const start = options.start ?? 0;
    const end = options.end === undefined ? Infinity : options.end + 1;
    for await (const chunk of file.content.read(start, end)) yield Buffer.from(chunk);
  }
  const stream = Readable.from(chunks(), { objectMode: false, highWaterMark: options.highWaterMark ?? 64 * 1024 });
  if (options.encoding) stream.setEncoding(options.encoding);
  return Object.assign(stream, { path: String(path) });
}

export function createWriteStream(view: View, path: PathLike, options: WriteStreamOptions = {}): Writable & { bytesWritten: number; path: string } {
  const flags = parseFlags(options.flags ?? 'w', 'open');
  let file: FileInode | undefined;
  let position = options.start ?? 0;
  const stream = new Writable({
    decodeStrings: true,
    defaultEncoding: options.encoding ?? 'utf8',
    construct(callback) {
      openForWrite(view, path, flags, options.mode ?? 0o666).then(
        (opened) => {
          file = opened;
          if (flags.append && file) position = file.content.size;
          callback();
        },
        (err: Error) => callback(err),
      );
    },
    write(chunk: Buffer, _encoding, callback) {
      if (!file) {
        result.bytesWritten += chunk.byteLength;
        callback();
        return;
      }
      const target = file;
      const at = flags.append ? target.content.size : position;
      target.content.write(at, chunk).then(() => {
        position = at + chunk.byteLength;
        result.bytesWritten += chunk.byteLength;
        touchFile(view, target);
        callback();
      }, callback);
    },
  });
  const result = Object.assign(stream, { bytesWritten: 0, path: String(path) });
  return result;
}
