/**
 * Random access to the members of an outer archive (an OCI layout tar, a
 * `docker save` tar): one pass over the headers records where each member's
 * bytes are, and a member is then opened as a byte range of the file.
 *
 * A gzip- or zstd-compressed archive is accepted too: indexing decompresses once, and
 * opening a member decompresses again up to it (correct, but a member read
 * costs a pass over the archive up to that member).
 * @module
 */
import { createReadStream } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { concatBytes } from '../layers/bytes.js';
import { decompressAs, describeHead, detectCompression } from '../layers/compress/index.js';
import { CompressionError, type CompressionFormat } from '../layers/errors.js';
import { BLOCK, checksumMatches, decodeHeader, decodePaxRecords, decodeText, isZeroBlock, looksLikeTar } from '../layers/tar/header.js';
import { InvalidArchiveError } from './errors.js';
import { collect } from './streams.js';

/**
 * Where one member of an indexed archive is: the headers are decoded by the
 * layers module's tar codec, the data is left in place to be read later.
 */
export interface IndexedMember {
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
    this.#pending = this.#pending.byteLength === 0 ? next.value : concatBytes([this.#pending, next.value]);
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


/** Normalizes a member name: `./a/b/` → `a/b`. Returns '' for the root. */
export function normalizeMemberName(name: string): string {
  const normalized = posix.normalize(`/${name}`).replace(/\/+$/, '');
  return normalized.replace(/^\/+/, '');
}

const TYPES: Record<number, IndexedMember['type']> = { 0x00: 'file', 0x30: 'file', 0x37: 'file', 0x35: 'dir', 0x32: 'symlink', 0x31: 'hardlink' };

async function indexArchive(reader: Reader, path: string, format: CompressionFormat): Promise<Map<string, IndexedMember>> {
  const members = new Map<string, IndexedMember>();
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, Uint8Array>();
  const paxText = (key: string) => (pax.has(key) ? decodeText(pax.get(key)!) : undefined);
  for (;;) {
    const block = await reader.read(offset, BLOCK);
    if (block.byteLength === 0) break; // EOF without end marker: tolerated
    if (block.byteLength < BLOCK) throw new InvalidArchiveError(path, `truncated header at offset ${offset}`);
    if (isZeroBlock(block)) break;
    if (!checksumMatches(block)) {
      if (offset === 0 && format === 'none' && !looksLikeTar(block)) throw new InvalidArchiveError(path, `not a gzip/zstd/tar stream: ${describeHead(block)}`);
      throw new InvalidArchiveError(path, `bad header checksum at offset ${offset}`);
    }
    const header = decodeHeader(block);
    const typeflag = header.typeflag;
    const paxSize = paxText('size');
    const size = paxSize !== undefined ? Number(paxSize) : header.size;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) throw new InvalidArchiveError(path, `bad size at offset ${offset}`);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    // 'x' PAX, 'g' PAX global, 'L' GNU long name, 'K' GNU long link.
    if (typeflag === 0x78 || typeflag === 0x67 || typeflag === 0x4c || typeflag === 0x4b) {
      if (size > MAX_META_SIZE) throw new InvalidArchiveError(path, `metadata entry of ${size} bytes at offset ${offset}`);
      const data = await reader.read(dataOffset, size);
      if (data.byteLength < size) throw new InvalidArchiveError(path, `truncated metadata at offset ${offset}`);
      if (typeflag === 0x78) {
        const records = decodePaxRecords(data);
        if (typeof records === 'string') throw new InvalidArchiveError(path, `malformed PAX record at offset ${offset}: ${records}`);
        pax = records;
      } else if (typeflag === 0x4c) longName = cString(data);
      else if (typeflag === 0x4b) longLink = cString(data);
      offset = next;
      continue;
    }
    const rawName = paxText('path') ?? longName ?? decodeText(header.name);
    const linkname = paxText('linkpath') ?? longLink ?? decodeText(header.linkname);
    const type = TYPES[typeflag] ?? 'other';
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
    pax = new Map();
    offset = next;
  }
  return members;
}

/** A NUL-terminated name from a GNU long-name payload. */
function cString(data: Uint8Array): string {
  const nul = data.indexOf(0);
  return decodeText(nul === -1 ? data : data.subarray(0, nul));
}

/** Runs `work`, turning a decompressor's complaint into one about this archive. */
async function namingArchive<T>(path: string, work: () => Promise<T>, member?: string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CompressionError) throw new InvalidArchiveError(path, err.data.reason, member);
    throw err;
  }
}

/** An indexed archive on disk. */
export class TarArchive {
  readonly path: string;
  /** gzip or zstd: members are read by decompressing from the start. */
  readonly format: CompressionFormat;
  readonly #members: Map<string, IndexedMember>;

  private constructor(path: string, format: CompressionFormat, members: Map<string, IndexedMember>) {
    this.path = path;
    this.format = format;
    this.#members = members;
  }

  /** True when the archive is compressed. */
  get compressed(): boolean {
    return this.format !== 'none';
  }

  /**
   * Indexes an archive (plain, gzip- or zstd-compressed tar).
   *
   * @throws {@link InvalidArchiveError} for a malformed tar or a corrupt or
   *   truncated compressed stream, naming the file; fs errors (ENOENT…) as they are.
   */
  static async open(path: string): Promise<TarArchive> {
    const handle = await openFile(path, 'r');
    let reader: Reader = new FileReader(handle);
    try {
      const format = detectCompression(await reader.read(0, 4));
      if (format !== 'none') {
        await reader.close();
        reader = new StreamReader(decompressAs(createReadStream(path), format));
      }
      const members = await namingArchive(path, () => indexArchive(reader, path, format));
      return new TarArchive(path, format, members);
    } finally {
      await reader.close();
    }
  }

  /** All members, in archive order. */
  members(): IndexedMember[] {
    return [...this.#members.values()];
  }

  /** A regular-file member by name, following symlinks and hardlinks inside the archive. */
  file(name: string): IndexedMember | undefined {
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
  async *open(member: IndexedMember): AsyncGenerator<Uint8Array> {
    if (member.size === 0) return;
    if (!this.compressed) {
      yield* createReadStream(this.path, { start: member.offset, end: member.offset + member.size - 1 }) as AsyncIterable<Uint8Array>;
      return;
    }
    const reader = new StreamReader(decompressAs(createReadStream(this.path), this.format));
    try {
      const chunk = 1 << 20;
      for (let done = 0; done < member.size; ) {
        const bytes = await namingArchive(this.path, () => reader.read(member.offset + done, Math.min(chunk, member.size - done)), member.name);
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
