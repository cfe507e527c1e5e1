/**
 * Random access to the members of an outer archive (an OCI layout tar, a
 * `docker save` tar): one pass over the headers records where each member's
 * bytes are, and a member is then opened as a byte range of the file.
 *
 * A gzip-compressed archive is accepted too: indexing decompresses once, and
 * opening a member decompresses again up to it (correct, but a member read
 * costs a pass over the archive up to that member).
 * @module
 */
import { createReadStream } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidArchiveError } from './errors.js';
import { collect, decompressed, sniffCompression } from './streams.js';

/** One member of an archive. */
export interface TarMember {
  /** Normalized path (no leading `./` or `/`, no trailing `/`). */
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** Byte offset of the data in the (decompressed) archive. */
  readonly offset: number;
  readonly size: number;
  readonly linkname?: string;
  /** The first bytes of the data (up to 8), for sniffing compression. */
  readonly head: Uint8Array;
}

const BLOCK = 512;
const MAX_META_SIZE = 1 << 20;
const HEAD_BYTES = 8;

interface Reader {
  /** Reads exactly `length` bytes at `offset`; offsets never go backwards. Short at EOF. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

class FileReader implements Reader {
  constructor(private readonly handle: FileHandle) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Forward-only reader over a stream (used for compressed archives). */
class StreamReader implements Reader {
  #position = 0;
  #pending: Uint8Array = new Uint8Array(0);
  readonly #iterator: AsyncIterator<Uint8Array>;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }
  async #fill(): Promise<boolean> {
    const next = await this.#iterator.next();
    if (next.done) return false;
    this.#pending = this.#pending.byteLength === 0 ? next.value : concat(this.#pending, next.value);
    return true;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    // Skip forward to `offset` without keeping what we pass.
    while (this.#position + this.#pending.byteLength < offset) {
      this.#position += this.#pending.byteLength;
      this.#pending = new Uint8Array(0);
      if (!(await this.#fill())) return new Uint8Array(0);
    }
    this.#pending = this.#pending.subarray(offset - this.#position);
    this.#position = offset;
    while (this.#pending.byteLength < length) if (!(await this.#fill())) break;
    return this.#pending.slice(0, length);
  }
  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

function field(block: Uint8Array, start: number, length: number): string {
  const bytes = block.subarray(start, start + length);
  const nul = bytes.indexOf(0);
  return utf8.decode(nul === -1 ? bytes : bytes.subarray(0, nul));
}

function numeric(block: Uint8Array, start: number, length: number): number {
  const bytes = block.subarray(start, start + length);
  if ((bytes[0] ?? 0) & 0x80) {
    // GNU base-256: big-endian, first byte's high bit is the marker.
    let value = (bytes[0] ?? 0) & 0x7f;
    for (let i = 1; i < bytes.length; i++) value = value * 256 + (bytes[i] ?? 0);
    return value;
  }
  const text = latin1.decode(bytes).replace(/[\0 ]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return numeric(block, 148, 8) === sum;
}

function parsePax(data: Uint8Array, path: string): Record<string, string> {
  const records: Record<string, string> = {};
  let i = 0;
  while (i < data.byteLength) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const length = parseInt(latin1.decode(data.subarray(i, space)), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || i + length > data.byteLength) {
      throw new InvalidArchiveError(path, 'malformed PAX record');
    }
    const record = utf8.decode(data.subarray(space + 1, i + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    i += length;
  }
  return records;
}

/** Normalizes a member name: `./a/b/` → `a/b`. Returns '' for the root. */
export function normalizeMemberName(name: string): string {
  const normalized = posix.normalize(`/${name}`).replace(/\/+$/, '');
  return normalized.replace(/^\/+/, '');
}

const paddedSize = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

async function indexArchive(reader: Reader, path: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (;;) {
    const block = await reader.read(offset, BLOCK);
    if (block.byteLength === 0) break; // EOF without end marker: tolerated
    if (block.byteLength < BLOCK) throw new InvalidArchiveError(path, `truncated header at offset ${offset}`);
    if (block.every((b) => b === 0)) break;
    if (!checksumOk(block)) throw new InvalidArchiveError(path, `bad header checksum at offset ${offset}`);
    const typeflag = String.fromCharCode(block[156] ?? 0);
    let size = numeric(block, 124, 12);
    if (pax.size !== undefined) size = Number(pax.size);
    if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArchiveError(path, `bad size at offset ${offset}`);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + paddedSize(size);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META_SIZE) throw new InvalidArchiveError(path, `metadata entry of ${size} bytes at offset ${offset}`);
      const data = await reader.read(dataOffset, size);
      if (data.byteLength < size) throw new InvalidArchiveError(path, `truncated metadata at offset ${offset}`);
      if (typeflag === 'x') pax = parsePax(data, path);
      else if (typeflag === 'L') longName = field(data, 0, data.byteLength);
      else if (typeflag === 'K') longLink = field(data, 0, data.byteLength);
      offset = next;
      continue;
    }
    const magic = latin1.decode(block.subarray(257, 263));
    const prefix = magic === 'ustar\0' ? field(block, 345, 155) : '';
    const rawName = pax.path ?? longName ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? field(block, 157, 100);
    const type: TarMember['type'] =
      typeflag === '0' || typeflag === '\0' || typeflag === '7'
        ? 'file'
        : typeflag === '5'
          ? 'dir'
          : typeflag === '2'
            ? 'symlink'
            : typeflag === '1'
              ? 'hardlink'
              : 'other';
    const memberSize = type === 'file' ? size : 0;
    const head = memberSize > 0 ? await reader.read(dataOffset, Math.min(HEAD_BYTES, memberSize)) : new Uint8Array(0);
    const name = normalizeMemberName(rawName);
    if (name !== '') {
      members.set(name, {
        name,
        type,
        offset: dataOffset,
        size: memberSize,
        ...(type === 'symlink' || type === 'hardlink' ? { linkname } : {}),
        head,
      });
    }
    longName = undefined;
    longLink = undefined;
    pax = {};
    offset = next;
  }
  return members;
}

/** An indexed archive on disk. */
export class TarArchive {
  readonly path: string;
  readonly compressed: boolean;
  readonly #members: Map<string, TarMember>;

  private constructor(path: string, compressed: boolean, members: Map<string, TarMember>) {
    this.path = path;
    this.compressed = compressed;
    this.#members = members;
  }

  /**
   * Indexes an archive (plain or gzip-compressed tar).
   *
   * @throws {@link InvalidArchiveError} for a malformed tar; fs errors (ENOENT…) as they are.
   */
  static async open(path: string): Promise<TarArchive> {
    const handle = await openFile(path, 'r');
    let reader: Reader = new FileReader(handle);
    let compressed = false;
    try {
      const head = await reader.read(0, 4);
      if (sniffCompression(head) !== 'none') {
        await reader.close();
        compressed = true;
        reader = new StreamReader(decompressed(createReadStream(path), 'archive'));
      }
      return new TarArchive(path, compressed, await indexArchive(reader, path));
    } finally {
      await reader.close();
    }
  }

  /** All members, in archive order. */
  members(): TarMember[] {
    return [...this.#members.values()];
  }

  /** A regular-file member by name, following symlinks and hardlinks inside the archive. */
  file(name: string): TarMember | undefined {
    let current = this.#members.get(normalizeMemberName(name));
    for (let hops = 0; current && hops < 16; hops++) {
      if (current.type === 'file') return current;
      if (current.linkname === undefined) return undefined;
      const target =
        current.type === 'symlink' && !current.linkname.startsWith('/')
          ? posix.join(posix.dirname(current.name), current.linkname)
          : current.linkname;
      current = this.#members.get(normalizeMemberName(target));
    }
    return undefined;
  }

  /** A fresh stream of a member's bytes. */
  async *open(member: TarMember): AsyncGenerator<Uint8Array> {
    if (member.size === 0) return;
    if (!this.compressed) {
      yield* createReadStream(this.path, { start: member.offset, end: member.offset + member.size - 1 }) as AsyncIterable<Uint8Array>;
      return;
    }
    const reader = new StreamReader(decompressed(createReadStream(this.path), 'archive'));
    try {
      const chunk = 1 << 20;
      for (let done = 0; done < member.size; ) {
        const bytes = await reader.read(member.offset + done, Math.min(chunk, member.size - done));
        if (bytes.byteLength === 0) throw new InvalidArchiveError(this.path, 'truncated member', member.name);
        done += bytes.byteLength;
        yield bytes;
      }
    } finally {
      await reader.close();
    }
  }

  /**
   * A whole (small) member, or undefined when there is no such file.
   *
   * @throws {@link InvalidArchiveError} when the member is larger than `maxSize`.
   */
  async read(name: string, maxSize = 32 << 20): Promise<Uint8Array | undefined> {
    const member = this.file(name);
    if (!member) return undefined;
    if (member.size > maxSize) throw new InvalidArchiveError(this.path, `member is larger than ${maxSize} bytes`, member.name);
    return collect(this.open(member));
  }
}
