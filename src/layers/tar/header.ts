/**
 * Pure encode/decode of 512-byte tar header blocks and PAX extended-header
 * records. No streams here: the writer and reader feed blocks in and out.
 *
 * Layout (POSIX ustar): name 0+100, mode 100+8, uid 108+8, gid 116+8,
 * size 124+12, mtime 136+12, chksum 148+8, typeflag 156, linkname 157+100,
 * magic 257+6, version 263+2, uname 265+32, gname 297+32, devmajor 329+8,
 * devminor 337+8, prefix 345+155. GNU archives put other fields where ustar
 * has `prefix`, so `prefix` is honoured only under the POSIX magic.
 * @module
 */
import { concatBytes } from '../bytes.js';

export const BLOCK = 512;

/** Shared zero bytes for padding and the end-of-archive marker; never written to. */
export const ZEROS = new Uint8Array(2 * BLOCK);

const encoder = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** The largest value an octal field of `width` bytes holds (width − 1 digits + NUL). */
export function octalLimit(width: number): number {
  return 8 ** (width - 1) - 1;
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes a name field. Names are UTF-8 in PAX and in practice; bytes that
 * are not valid UTF-8 (old latin-1 archives) decode as latin-1 so that every
 * byte maps to one character instead of U+FFFD.
 */
export function decodeText(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

/** The raw bytes of a NUL-terminated field. */
function fieldBytes(block: Uint8Array, offset: number, width: number): Uint8Array {
  let end = offset;
  const limit = offset + width;
  while (end < limit && block[end] !== 0) end++;
  return block.subarray(offset, end);
}

function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  for (let i = 0; i < width - 1; i++) block[offset + i] = digits.charCodeAt(i);
  block[offset + width - 1] = 0;
}

/** GNU base-256: first byte 0x80 (positive) or 0xff (negative), then big-endian two's complement. */
function writeBase256(block: Uint8Array, offset: number, width: number, value: number): void {
  let v = BigInt(value);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * width)) + v;
  for (let i = width - 1; i > 0; i--) {
    block[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[offset] = negative ? 0xff : 0x80;
}

/** Writes a numeric field: octal when it fits, base-256 otherwise (a PAX record then carries the value too). */
function writeNumber(block: Uint8Array, offset: number, width: number, value: number): void {
  if (value >= 0 && value <= octalLimit(width)) writeOctal(block, offset, width, value);
  else writeBase256(block, offset, width, value);
}

/**
 * Parses a numeric field: octal (leading spaces/NULs and trailing
 * space/NUL terminators allowed) or GNU base-256. Returns `undefined` for
 * bytes that are neither, so the caller can report the field by name.
 */
export function parseNumber(block: Uint8Array, offset: number, width: number): number | undefined {
  const first = block[offset]!;
  if (first & 0x80) {
    let v = 0n;
    for (let i = 1; i < width; i++) v = (v << 8n) | BigInt(block[offset + i]!);
    if (first === 0xff) v -= 1n << BigInt(8 * (width - 1));
    else if (first !== 0x80) v |= BigInt(first & 0x7f) << BigInt(8 * (width - 1));
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  let i = offset;
  const end = offset + width;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return undefined;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (block[i] !== 0 && block[i] !== 0x20) return undefined;
  return digits === 0 ? 0 : value;
}

/** Fields of one header block as the writer fills them. */
export interface HeaderFields {
  name: Uint8Array;
  prefix?: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname?: Uint8Array;
  devmajor?: number;
  devminor?: number;
}

/** Encodes one POSIX ustar header block (uname/gname empty, numeric ids only). */
export function encodeHeader(f: HeaderFields, block: Uint8Array = new Uint8Array(BLOCK)): Uint8Array {
  block.set(f.name.subarray(0, 100), 0);
  writeNumber(block, 100, 8, f.mode);
  writeNumber(block, 108, 8, f.uid);
  writeNumber(block, 116, 8, f.gid);
  writeNumber(block, 124, 12, f.size);
  writeNumber(block, 136, 12, f.mtime);
  block[156] = f.typeflag;
  if (f.linkname) block.set(f.linkname.subarray(0, 100), 157);
  // magic "ustar\0", version "00"
  block.set(USTAR_MAGIC, 257);
  writeNumber(block, 329, 8, f.devmajor ?? 0);
  writeNumber(block, 337, 8, f.devminor ?? 0);
  if (f.prefix) block.set(f.prefix.subarray(0, 155), 345);
  writeChecksum(block);
  return block;
}

const USTAR_MAGIC = Uint8Array.from([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30]);

function writeChecksum(block: Uint8Array): void {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  // Six octal digits, NUL, space: the spelling GNU tar and most writers use.
  const digits = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) block[148 + i] = digits.charCodeAt(i);
  block[154] = 0;
  block[155] = 0x20;
}

/** True when the block's checksum field matches its unsigned (or, for old writers, signed) byte sum. */
export function checksumMatches(block: Uint8Array): boolean {
  const stored = parseNumber(block, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** True for an all-zero block (half of the end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * True when `head` (the first bytes of a stream) can begin a tar archive: a
 * header block whose checksum matches or that carries the ustar magic (a
 * damaged header is still a tar's), or the zero block of an empty archive.
 */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < BLOCK) return false;
  const ustar = head[257] === 0x75 && head[258] === 0x73 && head[259] === 0x74 && head[260] === 0x61 && head[261] === 0x72;
  return ustar || isZeroBlock(head) || checksumMatches(head);
}

/** Header fields as the reader sees them, before PAX and GNU long-name overrides. */
export interface DecodedHeader {
  name: Uint8Array;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  size: number | undefined;
  mtime: number | undefined;
  typeflag: number;
  linkname: Uint8Array;
  devmajor: number | undefined;
  devminor: number | undefined;
  /** `ustar` (POSIX, prefix honoured), `gnu` (`ustar  `) or `v7` (no magic). */
  format: 'ustar' | 'gnu' | 'v7';
}

/** Decodes one header block; numeric fields that fail to parse come back `undefined`. */
export function decodeHeader(block: Uint8Array): DecodedHeader {
  const isUstar = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72;
  const format = !isUstar ? 'v7' : block[262] === 0 ? 'ustar' : 'gnu';
  let name = fieldBytes(block, 0, 100);
  if (format === 'ustar') {
    const prefix = fieldBytes(block, 345, 155);
    if (prefix.length > 0) {
      const joined = new Uint8Array(prefix.length + 1 + name.length);
      joined.set(prefix, 0);
      joined[prefix.length] = 0x2f;
      joined.set(name, prefix.length + 1);
      name = joined;
    }
  }
  const isDevice = block[156] === 0x33 || block[156] === 0x34;
  return {
    name,
    mode: parseNumber(block, 100, 8),
    uid: parseNumber(block, 108, 8),
    gid: parseNumber(block, 116, 8),
    size: parseNumber(block, 124, 12),
    mtime: parseNumber(block, 136, 12),
    typeflag: block[156]!,
    linkname: fieldBytes(block, 157, 100),
    // Non-device members may carry junk here (some writers leave them blank); only devices need them.
    devmajor: format === 'v7' ? 0 : isDevice ? parseNumber(block, 329, 8) : 0,
    devminor: format === 'v7' ? 0 : isDevice ? parseNumber(block, 337, 8) : 0,
    format,
  };
}

/**
 * Encodes PAX records (`"<len> <key>=<value>\n"`, the length counting
 * itself). Values are bytes so xattr values pass through unchanged.
 */
export function encodePaxRecords(records: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [key, value] of records) {
    const keyBytes = utf8(key);
    const body = keyBytes.length + value.length + 3; // ' ', '=', '\n'
    let len = body + String(body).length;
    if (String(len).length !== String(body).length) len = body + String(len).length;
    const record = new Uint8Array(len);
    const head = utf8(`${len} `);
    record.set(head, 0);
    record.set(keyBytes, head.length);
    record[head.length + keyBytes.length] = 0x3d;
    record.set(value, head.length + keyBytes.length + 1);
    record[len - 1] = 0x0a;
    parts.push(record);
    total += len;
  }
  return concatBytes(parts, total);
}

/**
 * Decodes PAX records into key → value bytes. Returns a string describing
 * the problem instead of throwing, so the reader can attach the position.
 */
export function decodePaxRecords(data: Uint8Array): Map<string, Uint8Array> | string {
  const records = new Map<string, Uint8Array>();
  let at = 0;
  while (at < data.length) {
    // Some writers pad the record block with NULs.
    if (data[at] === 0) break;
    let space = at;
    while (space < data.length && data[space] !== 0x20) space++;
    if (space === data.length) return 'PAX record without a length';
    const lenText = latin1.decode(data.subarray(at, space));
    if (!/^[0-9]+$/.test(lenText)) return `bad PAX record length ${JSON.stringify(lenText)}`;
    const len = Number(lenText);
    const end = at + len;
    if (len <= space - at + 1 || end > data.length || data[end - 1] !== 0x0a) return 'PAX record length does not match its contents';
    let eq = space + 1;
    while (eq < end - 1 && data[eq] !== 0x3d) eq++;
    if (eq >= end - 1) return 'PAX record without "="';
    const key = decodeText(data.subarray(space + 1, eq));
    if (key.length === 0) return 'PAX record with an empty key';
    records.set(key, data.subarray(eq + 1, end - 1));
    at = end;
  }
  return records;
}
