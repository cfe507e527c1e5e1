/**
 * The deterministic tar writer: the same set of entries gives the same bytes,
 * whatever order they arrive in, whoever runs it, whenever.
 * @module
 */
import { comparePaths, isCleanPath, openSyncReader, type Entry, type EntryType } from '../entry.js';
import { DuplicatePathError, InvalidEntryError } from '../errors.js';
import { BlockSink } from './block-sink.js';
import { BLOCK, ZEROS, encodeHeader, encodePaxRecords, octalLimit, utf8 } from './header.js';
import { canonicalizeLinkGroups, type ExternalHardlinks } from './link-groups.js';

/** Options of {@link writeTar}. */
export interface WriteTarOptions {
  /**
   * Clamp every mtime to this many seconds since the epoch: later times are
   * lowered to it, earlier ones kept (the `SOURCE_DATE_EPOCH` convention of
   * reproducible-builds.org and BuildKit's `rewrite-timestamp`).
   */
  sourceDateEpoch?: number;
  /**
   * A hardlink whose target is not among the entries names a file of a lower
   * layer. OCI changesets do not record such links and extracting them "may
   * fail" (layer.md), so by default (`'reject'`) they are refused with
   * `LayerFormatError` `HARDLINK_TARGET_MISSING`; `'keep'` writes them as
   * given, for re-writing an existing layer that has one.
   */
  externalHardlinks?: ExternalHardlinks;
}

const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

const PAX_TYPEFLAG = 0x78; // 'x'

/**
 * Writes entries as a deterministic POSIX tar (ustar, with PAX records only
 * where ustar cannot say it).
 *
 * The canonical form:
 * - entries sorted by {@link comparePaths} (parents before children,
 *   component-wise byte order, like GNU `tar --sort=name`); duplicates rejected;
 * - member names without a leading `/` or `./`, directories with a trailing
 *   `/`, the root directory (if given) as `./`;
 * - numeric uid/gid only (uname/gname empty), mode & 0o7777, no atime/ctime,
 *   mtime clamped to `sourceDateEpoch` when given;
 * - hardlinks as type `1` whose linkname is the target path without its `/`;
 *   in each group of hardlinked paths the first in canonical order carries
 *   the content and every later one links to it, whichever member the
 *   entries described in full (extractors link to what they already wrote);
 * - PAX (`x`) records only for: names that fit neither the 100-byte name nor
 *   the ustar prefix/name split, link targets over 100 bytes, non-ASCII names
 *   or targets, sizes ≥ 8 GiB, ids ≥ 2^21, mtimes outside 0…8^11−1, xattrs
 *   (`SCHILY.xattr.<name>`); records in that fixed order, xattrs by name;
 * - the 1024-byte zero end-of-archive marker and nothing after it.
 *
 * Entry metadata is collected and sorted first (content stays lazy), then
 * contents are streamed one file at a time. Small pieces are gathered into
 * chunks of up to 1 MiB (files on disk are read straight into them); large
 * chunks of a content source pass through.
 *
 * @throws {@link DuplicatePathError} when two entries share a path.
 * @throws {@link InvalidEntryError} for an entry the tar cannot represent or
 *   whose content yields a different number of bytes than `size`.
 * @throws {@link LayerFormatError} `HARDLINK_TARGET_MISSING` for a hardlink to
 *   a directory, a cycle of hardlinks, or (unless `externalHardlinks: 'keep'`)
 *   a target that is not among the entries.
 * @example
 * ```ts
 * const tar = writeTar([
 *   { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
 *   { path: '/etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3, content: bytesSource(hi) },
 * ], { sourceDateEpoch: 1700000000 });
 * for await (const chunk of tar) out.write(chunk);
 * ```
 */
export async function* writeTar(
  entries: Iterable<Entry> | AsyncIterable<Entry>,
  options: WriteTarOptions = {},
): AsyncIterable<Uint8Array> {
  const epoch = options.sourceDateEpoch;
  if (epoch !== undefined && !Number.isSafeInteger(epoch)) {
    throw new InvalidEntryError('', `sourceDateEpoch must be an integer number of seconds, got ${epoch}`);
  }
  const sorted: Entry[] = [];
  for await (const entry of entries) {
    validateEntry(entry);
    sorted.push(entry);
  }
  sorted.sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new DuplicatePathError(sorted[i]!.path);
  }
  canonicalizeLinkGroups(sorted, options.externalHardlinks);
  const sink = new BlockSink();
  for (const entry of sorted) {
    const mtime = epoch !== undefined && entry.mtime > epoch ? epoch : entry.mtime;
    yield* sink.write(encodeEntryHeader(entry, mtime));
    if (entry.type === 'file' && entry.size > 0) {
      const reader = openSyncReader(entry.content!);
      if (reader) {
        try {
          yield* sink.readFrom(reader, entry.size, entry.path);
        } finally {
          reader.close();
        }
      } else {
        for await (const chunk of streamContent(entry)) yield* sink.write(chunk);
      }
      const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
      if (pad > 0) yield* sink.write(ZEROS.subarray(0, pad));
    }
  }
  yield* sink.write(ZEROS.subarray(0, 2 * BLOCK));
  yield* sink.finish();
}

async function* streamContent(entry: Entry): AsyncIterable<Uint8Array> {
  const content = entry.content!;
  let written = 0;
  for await (const chunk of content.open()) {
    written += chunk.byteLength;
    if (written > entry.size) {
      throw new InvalidEntryError(entry.path, `content yields more than its size ${entry.size}`, 'CONTENT_SIZE_MISMATCH');
    }
    if (chunk.byteLength > 0) yield chunk;
  }
  if (written !== entry.size) {
    throw new InvalidEntryError(entry.path, `content yields ${written} bytes, size says ${entry.size}`, 'CONTENT_SIZE_MISMATCH');
  }
}

function fail(entry: Entry, reason: string): never {
  throw new InvalidEntryError(String(entry.path), reason);
}

function isId(n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

/** Rejects what the tar cannot represent faithfully, before anything is written. */
function validateEntry(entry: Entry): void {
  if (typeof entry.path !== 'string' || !isCleanPath(entry.path)) fail(entry, 'path must be absolute and normalized');
  if (!Object.hasOwn(TYPEFLAG, entry.type)) fail(entry, `unknown type ${JSON.stringify(entry.type)}`);
  if (entry.path === '/' && entry.type !== 'dir') fail(entry, 'the root can only be a directory');
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) fail(entry, `mode ${entry.mode} is not within 0o7777`);
  if (!isId(entry.uid) || !isId(entry.gid)) fail(entry, 'uid and gid must be non-negative integers');
  if (!Number.isSafeInteger(entry.mtime)) fail(entry, 'mtime must be an integer number of seconds');
  if (!isId(entry.size)) fail(entry, 'size must be a non-negative integer');
  if (entry.type === 'file') {
    if (entry.size > 0 && !entry.content) fail(entry, `size ${entry.size} without content`);
    if (entry.content && entry.content.size !== entry.size) {
      fail(entry, `content source has ${entry.content.size} bytes, size says ${entry.size}`);
    }
  } else if (entry.size !== 0) {
    fail(entry, `a ${entry.type} must have size 0`);
  }
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    const link = entry.linkname;
    if (typeof link !== 'string' || link === '' || link.includes('\0')) fail(entry, 'a link needs a non-empty linkname without NUL');
    if (entry.type === 'hardlink' && (!isCleanPath(link) || link === '/')) fail(entry, 'a hardlink target must be an absolute normalized path');
  }
  if (entry.type === 'char' || entry.type === 'block') {
    if (!isId(entry.devmajor ?? 0) || !isId(entry.devminor ?? 0)) fail(entry, 'device numbers must be non-negative integers');
  }
  if (entry.xattrs) {
    for (const name of Object.keys(entry.xattrs)) {
      if (name === '' || name.includes('=') || name.includes('\0')) fail(entry, `xattr name ${JSON.stringify(name)} cannot be stored`);
    }
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7e || text.charCodeAt(i) < 0x20) return false;
  return true;
}

/** Splits an ASCII name into ustar prefix + name, or returns undefined when it does not fit. */
function splitUstarName(name: string): { prefix?: string; name: string } | undefined {
  if (name.length <= 100) return { name };
  // The prefix ends at a slash, holds ≤ 155 bytes; the rest (≤ 100 bytes) must be non-empty.
  const limit = Math.min(155, name.length - 2);
  for (let slash = name.lastIndexOf('/', limit); slash > 0; slash = name.lastIndexOf('/', slash - 1)) {
    const rest = name.length - slash - 1;
    if (rest > 100) return undefined;
    if (rest > 0 && slash <= 155) return { prefix: name.slice(0, slash), name: name.slice(slash + 1) };
  }
  return undefined;
}

function memberName(entry: Entry): string {
  if (entry.path === '/') return './';
  const name = entry.path.slice(1);
  return entry.type === 'dir' ? name + '/' : name;
}

/** The header block(s) of one entry: an optional PAX header + its records, then the ustar header. */
function encodeEntryHeader(entry: Entry, mtime: number): Uint8Array {
  const records: Array<[string, Uint8Array]> = [];
  const name = memberName(entry);
  let nameField: Uint8Array;
  let prefixField: Uint8Array | undefined;
  const split = isAscii(name) ? splitUstarName(name) : undefined;
  if (split) {
    nameField = utf8(split.name);
    if (split.prefix !== undefined) prefixField = utf8(split.prefix);
  } else {
    const bytes = utf8(name);
    records.push(['path', bytes]);
    nameField = truncatedField(bytes, 100);
  }

  let linkField: Uint8Array | undefined;
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    const link = entry.type === 'hardlink' ? entry.linkname!.slice(1) : entry.linkname!;
    const bytes = utf8(link);
    if (bytes.length > 100 || !isAscii(link)) {
      records.push(['linkpath', bytes]);
      linkField = truncatedField(bytes, 100);
    } else {
      linkField = bytes;
    }
  }
  if (entry.size > octalLimit(12)) records.push(['size', utf8(String(entry.size))]);
  if (entry.uid > octalLimit(8)) records.push(['uid', utf8(String(entry.uid))]);
  if (entry.gid > octalLimit(8)) records.push(['gid', utf8(String(entry.gid))]);
  if (mtime < 0 || mtime > octalLimit(12)) records.push(['mtime', utf8(String(mtime))]);
  if (entry.xattrs) {
    const names = Object.keys(entry.xattrs).sort(comparePaths);
    for (const xname of names) records.push([`SCHILY.xattr.${xname}`, entry.xattrs[xname]!]);
  }

  const isDevice = entry.type === 'char' || entry.type === 'block';
  const fields = {
    name: nameField,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.type === 'file' ? entry.size : 0,
    mtime,
    typeflag: TYPEFLAG[entry.type],
    devmajor: isDevice ? (entry.devmajor ?? 0) : 0,
    devminor: isDevice ? (entry.devminor ?? 0) : 0,
    ...(prefixField ? { prefix: prefixField } : {}),
    ...(linkField ? { linkname: linkField } : {}),
  };
  if (records.length === 0) return encodeHeader(fields);

  const pax = encodePaxRecords(records);
  const paxPadded = Math.ceil(pax.length / BLOCK) * BLOCK;
  const out = new Uint8Array(BLOCK + paxPadded + BLOCK);
  encodeHeader(
    {
      // A fixed, ASCII name for the extended header itself: no PIDs, no user names.
      name: utf8('PaxHeaders/' + asciiFallback(name)).subarray(0, 100),
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: pax.length,
      mtime: mtime < 0 ? 0 : Math.min(mtime, octalLimit(12)),
      typeflag: PAX_TYPEFLAG,
    },
    out.subarray(0, BLOCK),
  );
  out.set(pax, BLOCK);
  encodeHeader(fields, out.subarray(BLOCK + paxPadded));
  return out;
}

/** The first ≤ `width` bytes of a UTF-8 string, cut at a character boundary. */
function truncatedField(bytes: Uint8Array, width: number): Uint8Array {
  if (bytes.length <= width) return bytes;
  let end = width;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function asciiFallback(name: string): string {
  const base = name.replace(/\/$/, '');
  const last = base.slice(base.lastIndexOf('/') + 1);
  return last.replace(/[^\x20-\x7e]/g, '_').slice(0, 80);
}
