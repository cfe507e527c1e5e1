/**
 * CRC-32 (IEEE, as gzip uses it): zlib's when node:zlib has `crc32`
 * (Node ≥ 20.15), a table-driven JavaScript loop otherwise.
 * @module
 */
import { nodeZlib } from './zlib.js';

const nativeCrc32 = (nodeZlib as { crc32?: (data: Uint8Array, value?: number) => number } | undefined)?.crc32;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 in pure JavaScript; `crc` continues a previous value. */
export function crc32Js(data: Uint8Array, crc = 0): number {
  const t = crcTable();
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32 of `data`, continuing from `crc` (0 to start).
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926
 * ```
 */
export function crc32(data: Uint8Array, crc = 0): number {
  return nativeCrc32 ? nativeCrc32(data, crc) >>> 0 : crc32Js(data, crc);
}
