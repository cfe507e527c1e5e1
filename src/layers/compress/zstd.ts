/**
 * Streaming zstd over async iterables of bytes.
 *
 * Decompression uses node:zlib where the runtime has it (Node ≥ 22.15 /
 * 23.8) and fzstd (pure JavaScript) otherwise. Compression cuts the input
 * into frames of a fixed size and compresses each frame on its own:
 * concatenated frames are one valid zstd stream (RFC 8878 §3.1), memory stays
 * at about two frames whatever the layer's size, and the bytes depend only on
 * the input and the level. The default encoder is libzstd compiled to
 * WebAssembly, so a layer has the same digest on every Node version; node:zlib's
 * encoder can be chosen where present.
 * @module
 */
import { promisify } from 'node:util';
import { Decompress } from 'fzstd';
import { CompressionError } from '../errors.js';
import { fixedBlocks } from './blocks.js';
import { throughNode } from './node-transform.js';
import { nodeZlib } from './zlib.js';

/** Which implementation compresses zstd. */
export type ZstdBackend = 'wasm' | 'node';

/** Options of {@link zstdStream}. */
export interface ZstdOptions {
  /** Compression level 1–19 (default 3, as zstd(1)). */
  level?: number;
  /** Uncompressed bytes per frame (default 4 MiB, at least 64 KiB). Changing it changes the output bytes. */
  frameSize?: number;
  /** `wasm` (default: the same bytes on every runtime) or `node` (node:zlib, where the runtime has zstd). */
  backend?: ZstdBackend;
}

type NativeZstd = {
  createZstdDecompress?: (options?: object) => NodeJS.ReadWriteStream;
  zstdCompress?: (data: Uint8Array, options: object, callback: (err: Error | null, out: Buffer) => void) => void;
  constants?: Record<string, number>;
};
const native = nodeZlib as NativeZstd | undefined;

/** True when node:zlib reads zstd on this runtime (fzstd is used otherwise). */
export const nativeZstd = typeof native?.createZstdDecompress === 'function';

const DEFAULT_FRAME = 4 * 1024 * 1024;
const MIN_FRAME = 64 * 1024;

function corrupt(reason: string, cause?: unknown): CompressionError {
  return new CompressionError('COMPRESSION_FORMAT', 'zstd', reason, cause === undefined ? undefined : { cause });
}

/** What a decoder's error means, in the words a user can act on. */
function zstdReason(err: unknown): string {
  const message = (err as Error | null)?.message ?? String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 5 || /unexpected (EOF|end)|truncated|src_size_wrong/i.test(message)) return 'truncated zstd stream';
  return `corrupt zstd stream (${message})`;
}

/**
 * Decompresses a zstd stream (one or more frames).
 *
 * @throws {@link CompressionError} `COMPRESSION_FORMAT` for corrupt or truncated input.
 * @example
 * ```ts
 * const tar = unzstdStream(createReadStream('layer.tar.zst'));
 * ```
 */
export function unzstdStream(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return nativeZstd ? nativeUnzstd(source) : jsUnzstd(source);
}

function nativeUnzstd(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return throughNode(source, native!.createZstdDecompress!() as NodeJS.ReadWriteStream & NodeJS.EventEmitter, (err) => {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith('Z_') ? corrupt(zstdReason(err), err) : err;
  });
}

async function* jsUnzstd(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new Decompress((chunk) => {
    out.push(chunk);
  });
  const push = (chunk: Uint8Array, final: boolean) => {
    try {
      decoder.push(chunk, final);
    } catch (err) {
      throw corrupt(zstdReason(err), err);
    }
  };
  let sawInput = false;
  for await (const chunk of source) {
    if (chunk.byteLength === 0) continue;
    sawInput = true;
    push(chunk, false);
    while (out.length > 0) yield out.shift()!;
  }
  if (!sawInput) throw corrupt('truncated zstd stream (empty input)');
  push(new Uint8Array(0), true);
  while (out.length > 0) yield out.shift()!;
}

type FrameEncoder = (frame: Uint8Array) => Promise<Uint8Array>;

let wasm: Promise<{ compress(data: Uint8Array, level?: number): Uint8Array }> | undefined;

async function wasmEncoder(level: number): Promise<FrameEncoder> {
  // Loaded on first use: reading zstd, or writing gzip, never pays for compiling the module.
  wasm ??= import('@hpcc-js/wasm-zstd').then((m) => m.Zstd.load());
  const zstd = await wasm;
  return async (frame) => zstd.compress(frame, level);
}

function nativeEncoder(level: number): FrameEncoder {
  if (typeof native?.zstdCompress !== 'function') {
    throw new CompressionError('COMPRESSION_UNSUPPORTED', 'zstd', `node:zlib has no zstd encoder on Node ${process.versions.node}; use the wasm backend`);
  }
  const compress = promisify(native.zstdCompress) as (data: Uint8Array, options: object) => Promise<Buffer>;
  const levelParam = native.constants?.ZSTD_c_compressionLevel ?? 100;
  // zstdCompress runs on the thread pool: the calling thread keeps producing input meanwhile.
  return (frame) => compress(frame, { params: { [levelParam]: level } });
}

/**
 * Compresses a byte stream as zstd, one frame per `frameSize` bytes of input.
 *
 * @throws {@link CompressionError} `COMPRESSION_UNSUPPORTED` for `backend: 'node'` where node:zlib lacks zstd;
 *   `RangeError` for a level outside 1–19.
 * @example
 * ```ts
 * for await (const chunk of zstdStream(writeTar(entries), { level: 3 })) out.write(chunk);
 * ```
 */
export async function* zstdStream(source: AsyncIterable<Uint8Array>, options: ZstdOptions = {}): AsyncGenerator<Uint8Array> {
  const level = options.level ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new RangeError(`zstd level must be an integer from 1 to 19, got ${level}`);
  const frameSize = Math.max(MIN_FRAME, options.frameSize ?? DEFAULT_FRAME);
  const encode = options.backend === 'node' ? nativeEncoder(level) : await wasmEncoder(level);
  let wroteAny = false;
  for await (const frame of fixedBlocks(source, frameSize)) {
    yield await encode(frame);
    wroteAny = true;
  }
  // An empty input still gets one (empty) frame: a zero-byte blob is not a zstd stream.
  if (!wroteAny) yield await encode(new Uint8Array(0));
}
