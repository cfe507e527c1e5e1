/**
 * The streaming tar reader: lenient about dialects (ustar, GNU, PAX, v7),
 * strict about safety (paths confined to the root) and about damage
 * (checksums, truncation), never holding more than one member header.
 * @module
 */
import { cleanPath, type Entry, type EntryType } from '../entry.js';
import { decompress, describeHead } from '../compress/index.js';
import type { CompressionBackend } from '../compress/zlib.js';
import { TarBodyExpiredError, TarFormatError, TarUnsupportedError, UnsafePathError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { BLOCK, checksumMatches, decodeHeader, decodePaxRecords, decodeText, isZeroBlock, looksLikeTar, type DecodedHeader } from './header.js';

/** One member of a tar stream. */
export interface TarMember {
  /** The member as an entry: normalized path, type, metadata (no `content`: read `body`). */
  entry: Entry;
  /** The member name as stored (after PAX/GNU long-name overrides, before normalization). */
  name: string;
  /**
   * The member's data (`entry.size` bytes for files, nothing otherwise).
   * Read it before asking for the next member; if you don't, it is skipped.
   */
  body: AsyncIterable<Uint8Array>;
}

/** Options of {@link readTar}. */
export interface ReadTarOptions {
  /** Decompressor for gzip input (default node:zlib where present). */
  backend?: CompressionBackend;
}

/** Largest PAX or GNU long-name payload accepted (they are held in memory). */
const MAX_META = 16 * 1024 * 1024;

const TYPES: Record<number, EntryType> = {
  0x00: 'file',
  0x30: 'file',
  0x37: 'file', // contiguous file
  0x31: 'hardlink',
  0x32: 'symlink',
  0x33: 'char',
  0x34: 'block',
  0x35: 'dir',
  0x36: 'fifo',
  0x44: 'dir', // GNU dump directory: its data lists names, skipped
};

const UNSUPPORTED: Record<number, string> = {
  0x53: 'GNU sparse file', // 'S'
  0x4d: 'GNU multi-volume continuation', // 'M'
  0x4e: 'GNU old long names', // 'N'
  0x56: 'GNU volume label', // 'V'
};

/**
 * Reads a tar stream member by member. Gzip input is recognised by its magic
 * bytes and inflated on the fly; zstd is read where node:zlib supports it.
 *
 * What it accepts: POSIX ustar (with prefix), GNU (`L` long names, `K` long
 * link targets, base-256 numbers), PAX per-member records (`path`,
 * `linkpath`, `size`, `uid`, `gid`, `mtime` — fractions floored —,
 * `SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`; others ignored), v7 headers, names
 * with `./` or `/` prefixes. PAX global headers (`g`) are checked and then
 * ignored: their records do not apply to later members. Names are decoded as
 * UTF-8, or latin-1 when not valid UTF-8.
 *
 * Paths become entry paths with {@link cleanPath}: every leading `/` goes,
 * `.` and empty components go, and a `..` above the root is an
 * {@link UnsafePathError}; hardlink targets likewise. Symlink targets are kept
 * as written (they are resolved inside the root by whoever follows them).
 * Data of header-only members (links, directories, devices, fifos) is not
 * read, whatever their size field says.
 *
 * @throws {@link TarFormatError} (`TAR_FORMAT`, `TAR_TRUNCATED`) with the
 *   member name and offset; {@link TarUnsupportedError} for sparse and
 *   multi-volume members; {@link UnsafePathError}; {@link CompressionError}.
 * @example
 * ```ts
 * for await (const { entry, body } of readTar(createReadStream('layer.tar.gz'))) {
 *   console.log(entry.type, entry.path);
 *   for await (const chunk of body) hash.update(chunk);
 * }
 * ```
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, options: ReadTarOptions = {}): AsyncIterable<TarMember> {
  const { format, stream } = await decompress(source, options.backend ? { backend: options.backend } : {});
  const reader = new ByteReader(stream);
  let finished = false;
  try {
    let pax: Map<string, Uint8Array> | undefined;
    let longName: Uint8Array | undefined;
    let longLink: Uint8Array | undefined;
    for (;;) {
      const offset = reader.offset;
      const block = await reader.read(BLOCK);
      if (block === null || block.length < BLOCK) {
        throw new TarFormatError('TAR_TRUNCATED', block === null ? 'no end-of-archive marker' : 'partial header block', { offset });
      }
      if (isZeroBlock(block)) {
        if (pax || longName || longLink) throw new TarFormatError('TAR_FORMAT', 'extended header without a member', { offset });
        // The marker is two zero blocks; accept a lone one at the very end, then drain padding
        // (and let a decompressor verify its trailer).
        await reader.drain();
        finished = true;
        return;
      }
      if (!checksumMatches(block)) {
        // Garbage from the first byte is not a damaged tar: say what it is not, and show what it starts with.
        if (offset === 0 && format === 'none' && !looksLikeTar(block)) throw new TarFormatError('TAR_FORMAT', `not a gzip/zstd/tar stream: ${describeHead(block)}`, { offset });
        const name = decodeText(decodeHeader(block).name);
        throw new TarFormatError('TAR_FORMAT', 'header checksum mismatch', { offset, name });
      }
      const header = decodeHeader(block);
      const rawName = decodeText(header.name);
      const size = checkNumber(header.size, 'size', offset, rawName);
      const flag = header.typeflag;

      if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
        // 'x' PAX, 'g' PAX global, 'L' GNU long name, 'K' GNU long link.
        if (size > MAX_META) throw new TarFormatError('TAR_FORMAT', `extended header of ${size} bytes`, { offset, name: rawName });
        const data = await readPayload(reader, size, offset, rawName);
        if (flag === 0x4c) longName = trimNul(data);
        else if (flag === 0x4b) longLink = trimNul(data);
        else {
          const records = decodePaxRecords(data);
          if (typeof records === 'string') throw new TarFormatError('TAR_FORMAT', records, { offset, name: rawName });
          for (const key of records.keys()) {
            if (key.startsWith('GNU.sparse.')) throw new TarUnsupportedError('GNU sparse file (PAX)', { offset, name: rawName });
          }
          if (flag === 0x78) pax = pax ? new Map([...pax, ...records]) : records;
        }
        continue;
      }
      const unsupported = UNSUPPORTED[flag];
      if (unsupported) throw new TarUnsupportedError(unsupported, { offset, name: rawName });

      const name = pax?.has('path') ? decodeText(pax.get('path')!) : longName ? decodeText(longName) : rawName;
      let type = TYPES[flag];
      if (type === undefined) {
        throw new TarUnsupportedError(`member type ${JSON.stringify(String.fromCharCode(flag))}`, { offset, name });
      }
      if ((flag === 0x30 || flag === 0x00) && name.endsWith('/')) type = 'dir'; // pre-POSIX directories
      const entry = buildEntry(header, type, name, pax, longLink, offset);
      pax = undefined;
      longName = undefined;
      longLink = undefined;

      // Only regular files (and GNU dump directories) carry data.
      const dataSize = flag === 0x44 ? size : type === 'file' ? entry.size : 0;
      const body = new MemberBody(reader, dataSize, name, offset);
      yield { entry, name, body: flag === 0x44 ? emptyBody() : body };
      body.expire();
      await body.skipRest();
      const pad = (BLOCK - (dataSize % BLOCK)) % BLOCK;
      if (pad > 0 && (await reader.skip(pad)) < pad) {
        throw new TarFormatError('TAR_TRUNCATED', 'archive ends inside member padding', { offset, name });
      }
    }
  } finally {
    if (!finished) await reader.close();
  }
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

function checkNumber(value: number | undefined, field: string, offset: number, name: string): number {
  if (value === undefined) throw new TarFormatError('TAR_FORMAT', `malformed ${field} field`, { offset, name });
  return value;
}

function trimNul(data: Uint8Array): Uint8Array {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.subarray(0, end);
}

async function readPayload(reader: ByteReader, size: number, offset: number, name: string): Promise<Uint8Array> {
  const padded = Math.ceil(size / BLOCK) * BLOCK;
  const data = padded === 0 ? new Uint8Array(0) : await reader.read(padded);
  if (data === null || data.length < padded) throw new TarFormatError('TAR_TRUNCATED', 'archive ends inside an extended header', { offset, name });
  // Copy: the view may point into a chunk that later reads recycle.
  return data.slice(0, size);
}

function paxNumber(pax: Map<string, Uint8Array> | undefined, key: string, offset: number, name: string): number | undefined {
  const raw = pax?.get(key);
  if (raw === undefined) return undefined;
  const text = decodeText(raw);
  const value = key === 'mtime' ? Math.floor(Number(text)) : Number(text);
  const pattern = key === 'mtime' ? /^-?[0-9]+(\.[0-9]*)?$/ : /^[0-9]+$/;
  if (!pattern.test(text) || !Number.isSafeInteger(value)) {
    throw new TarFormatError('TAR_FORMAT', `bad PAX ${key} ${JSON.stringify(text)}`, { offset, name });
  }
  return value;
}

function buildEntry(
  header: DecodedHeader,
  type: EntryType,
  name: string,
  pax: Map<string, Uint8Array> | undefined,
  longLink: Uint8Array | undefined,
  offset: number,
): Entry {
  const path = cleanPath(name, offset);
  if (path === '/' && type !== 'dir') throw new UnsafePathError(name, 'names the root but is not a directory', offset);
  const mode = checkNumber(header.mode, 'mode', offset, name);
  const entry: Entry = {
    path,
    type,
    mode: mode & 0o7777,
    uid: paxNumber(pax, 'uid', offset, name) ?? checkNumber(header.uid, 'uid', offset, name),
    gid: paxNumber(pax, 'gid', offset, name) ?? checkNumber(header.gid, 'gid', offset, name),
    mtime: paxNumber(pax, 'mtime', offset, name) ?? checkNumber(header.mtime, 'mtime', offset, name),
    size: 0,
  };
  const size = paxNumber(pax, 'size', offset, name) ?? checkNumber(header.size, 'size', offset, name);
  if (type === 'file') entry.size = size;
  if (type === 'symlink' || type === 'hardlink') {
    const link = pax?.has('linkpath') ? decodeText(pax.get('linkpath')!) : longLink ? decodeText(longLink) : decodeText(header.linkname);
    if (link === '') throw new TarFormatError('TAR_FORMAT', `${type} without a target`, { offset, name });
    if (type === 'hardlink') {
      const target = cleanPath(link, offset);
      if (target === '/') throw new UnsafePathError(link, 'a hardlink cannot point at the root', offset);
      entry.linkname = target;
    } else {
      if (link.includes('\0')) throw new UnsafePathError(link, 'symlink target contains a NUL byte', offset);
      entry.linkname = link;
    }
  }
  if (type === 'char' || type === 'block') {
    entry.devmajor = checkNumber(header.devmajor, 'devmajor', offset, name);
    entry.devminor = checkNumber(header.devminor, 'devminor', offset, name);
  }
  if (pax) {
    let xattrs: Record<string, Uint8Array> | undefined;
    for (const [key, value] of pax) {
      let xname: string | undefined;
      let xvalue = value;
      if (key.startsWith('SCHILY.xattr.')) xname = key.slice('SCHILY.xattr.'.length);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        xname = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
        xvalue = Uint8Array.from(Buffer.from(decodeText(value), 'base64'));
      }
      if (xname === undefined || xname === '') continue;
      // defineProperty: a hostile name such as "__proto__" must stay an ordinary key.
      Object.defineProperty((xattrs ??= {}), xname, { value: xvalue, enumerable: true, writable: true, configurable: true });
    }
    if (xattrs) entry.xattrs = xattrs;
  }
  return entry;
}

/** The body of one member: reads straight from the shared reader while it is current. */
class MemberBody implements AsyncIterable<Uint8Array> {
  #left: number;
  #expired = false;
  #reading = false;

  constructor(
    readonly reader: ByteReader,
    size: number,
    readonly name: string,
    readonly offset: number,
  ) {
    this.#left = size;
  }

  expire(): void {
    this.#expired = true;
  }

  async skipRest(): Promise<void> {
    if (this.#left === 0) return;
    const skipped = await this.reader.skip(this.#left);
    this.#left -= skipped;
    if (this.#left > 0) throw this.#truncated();
  }

  #truncated(): TarFormatError {
    return new TarFormatError('TAR_TRUNCATED', `archive ends ${this.#left} bytes before the end of the member`, { offset: this.offset, name: this.name });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#expired) throw new TarBodyExpiredError(this.name);
    if (this.#reading) throw new TarBodyExpiredError(this.name);
    this.#reading = true;
    while (this.#left > 0) {
      if (this.#expired) throw new TarBodyExpiredError(this.name);
      const chunk = await this.reader.readSome(this.#left);
      if (chunk === null) throw this.#truncated();
      this.#left -= chunk.byteLength;
      yield chunk;
    }
  }
}
