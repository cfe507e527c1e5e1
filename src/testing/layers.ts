/**
 * Property-testing kit for layers: fast-check arbitraries for entries, trees
 * and layers (well-formed or deliberately hostile), raw tar encoding for
 * adversarial archives, and {@link validateLayer}, an oracle that recomputes
 * every digest and size of a layer and reports every disagreement.
 * @module
 */
import fc from 'fast-check';
import { createSha256, type Digest } from '../digest.js';
import { LayerkitError } from '../errors.js';
import { decompress, mediaTypeCompression } from '../layers/compress/index.js';
import { detectCompression, peek } from '../layers/compress/sniff.js';
import { comparePaths, type ContentSource, type Entry, type EntryType } from '../layers/entry.js';
import { layerFromEntries, type LayerFromEntriesOptions } from '../layers/from-entries.js';
import type { Layer } from '../layers/layer.js';
import { BLOCK, ZEROS, encodeHeader, encodePaxRecords, utf8 } from '../layers/tar/header.js';
import { readTar } from '../layers/tar/read.js';

// ───────────────────────────── content ─────────────────────────────

/**
 * A deterministic pseudo-random content source: `size` bytes derived from
 * `seed`, generated chunk by chunk (never held whole), identical on every
 * `open()`. Good for large files in property tests.
 *
 * @example
 * ```ts
 * const big = patternSource(42, 64 * 1024 * 1024);
 * ```
 */
export function patternSource(seed: number, size: number, chunkSize = 64 * 1024): ContentSource {
  return {
    size,
    async *open() {
      let state = (seed | 0) ^ 0x9e3779b9;
      let left = size;
      while (left > 0) {
        const n = Math.min(chunkSize, left);
        const chunk = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          // xorshift32: cheap, deterministic, not all zeros.
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          chunk[i] = state & 0xff;
        }
        left -= n;
        yield chunk;
      }
    },
  };
}

// ───────────────────────────── arbitraries ─────────────────────────────

/** Options of the entry, tree and layer arbitraries. */
export interface EntryArbitraryOptions {
  /** Largest file content in bytes (default 4096). */
  maxFileSize?: number;
  /** Include xattrs (default true). */
  xattrs?: boolean;
  /** Include char/block devices and fifos (default true). */
  specialFiles?: boolean;
  /** Include mtimes before 1970 and beyond 2242 (PAX-only; default true). */
  extremeTimes?: boolean;
  /** Mix in hostile shapes (default false); see {@link treeArbitrary}. */
  hostile?: boolean;
}

/** Options of {@link treeArbitrary} and {@link layerArbitrary}. */
export interface TreeArbitraryOptions extends EntryArbitraryOptions {
  /** Most paths generated before parents are added (default 12). */
  maxEntries?: number;
  /** Deepest path (default 4). */
  maxDepth?: number;
}

const encoder = new TextEncoder();

function isValidName(name: string, hostile: boolean): boolean {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return false;
  if (encoder.encode(name).length > 255) return false; // NAME_MAX on Linux
  return hostile || !name.startsWith('.wh.');
}

/**
 * One path component: short ASCII, unicode (incl. astral), or long (60–120
 * characters, so whole paths pass 100 and 255 bytes). Never `.`, `..`, empty,
 * containing `/` or NUL, or over 255 UTF-8 bytes; `.wh.` names only when hostile.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(nameArbitrary(), (name) => !name.includes('/')));
 * ```
 */
export function nameArbitrary(options: { hostile?: boolean } = {}): fc.Arbitrary<string> {
  const hostile = options.hostile ?? false;
  const plain = fc.constantFrom('a', 'b', 'c', 'A', 'a-b', 'a.b', 'a b', 'bin', 'etc', 'z');
  const unicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });
  const long = fc.string({ unit: fc.constantFrom('x', 'y', '_', 'é'), minLength: 60, maxLength: 120 });
  const arbitraries: Array<fc.WeightedArbitrary<string>> = [
    { weight: 6, arbitrary: plain },
    { weight: 2, arbitrary: unicode },
    { weight: 1, arbitrary: long },
  ];
  if (hostile) {
    arbitraries.push({
      weight: 2,
      arbitrary: fc.constantFrom('.wh.', '.wh..', '.wh...', '.wh..wh..opq', '.wh..wh.plnk', '.wh.a', '.wh..wh.', '\\', 'a\\..\\b'),
    });
  }
  return fc.oneof(...arbitraries).filter((n) => isValidName(n, hostile));
}

const modeArbitrary = fc.integer({ min: 0, max: 0o7777 });
const idArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 1000, 65534) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0o7777777 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0o7777777 + 1, max: 2 ** 32 - 1 }) },
);

function mtimeArbitrary(extreme: boolean): fc.Arbitrary<number> {
  const normal = fc.integer({ min: 0, max: 2 ** 32 });
  if (!extreme) return normal;
  return fc.oneof(
    { weight: 6, arbitrary: normal },
    { weight: 1, arbitrary: fc.integer({ min: -(2 ** 34), max: -1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 8 ** 11, max: 2 ** 40 }) },
  );
}

function xattrsArbitrary(enabled: boolean): fc.Arbitrary<Record<string, Uint8Array> | undefined> {
  if (!enabled) return fc.constant(undefined);
  const name = fc.oneof(
    fc.constantFrom('user.a', 'user.b', 'security.capability', 'trusted.overlay.opaque'),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }).map((s) => `user.${s}`),
  ).filter((n) => !n.includes('=') && !n.includes('\0'));
  return fc.option(fc.dictionary(name, fc.uint8Array({ maxLength: 40 }), { maxKeys: 3 }), { nil: undefined, freq: 3 });
}

/** Metadata and content shared by every generated entry, before the type decides what is kept. */
interface Shape {
  kind: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  seed: number;
  link: string;
  target: number;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Uint8Array> | undefined;
}

function shapeArbitrary(options: EntryArbitraryOptions): fc.Arbitrary<Shape> {
  const special = options.specialFiles ?? true;
  const kinds: EntryType[] = special ? ['file', 'file', 'file', 'dir', 'symlink', 'hardlink', 'fifo', 'char', 'block'] : ['file', 'file', 'file', 'dir', 'symlink', 'hardlink'];
  const maxSize = options.maxFileSize ?? 4096;
  return fc.record({
    kind: fc.constantFrom(...kinds),
    mode: modeArbitrary,
    uid: idArbitrary,
    gid: idArbitrary,
    mtime: mtimeArbitrary(options.extremeTimes ?? true),
    size: fc.oneof(fc.constantFrom(0, 1, 511, 512, 513), fc.integer({ min: 0, max: maxSize })),
    seed: fc.integer(),
    link: fc.oneof(
      fc.constantFrom('a', '../a', '/etc/passwd', '.', '..', 'b/c'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
      fc.string({ unit: fc.constantFrom('l', '/', 'ü'), minLength: 101, maxLength: 160 }),
    ).filter((s) => s !== '' && !s.includes('\0')),
    target: fc.nat(),
    devmajor: fc.integer({ min: 0, max: 4095 }),
    devminor: fc.integer({ min: 0, max: 0xfffff }),
    xattrs: xattrsArbitrary(options.xattrs ?? true),
  });
}

function entryFromShape(path: string, shape: Shape, kind: EntryType): Entry {
  const entry: Entry = { path, type: kind, mode: shape.mode, uid: shape.uid, gid: shape.gid, mtime: shape.mtime, size: 0 };
  if (kind === 'file') {
    entry.size = shape.size;
    if (shape.size > 0) entry.content = patternSource(shape.seed, shape.size);
  } else if (kind === 'symlink') entry.linkname = shape.link;
  else if (kind === 'char' || kind === 'block') {
    entry.devmajor = shape.devmajor;
    entry.devminor = shape.devminor;
  }
  if (shape.xattrs && Object.keys(shape.xattrs).length > 0) entry.xattrs = shape.xattrs;
  return entry;
}

/**
 * One entry with a random (clean, absolute) path. Hardlinks point at `/a`.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(entryArbitrary(), (e) => isCleanPath(e.path)));
 * ```
 */
export function entryArbitrary(options: EntryArbitraryOptions = {}): fc.Arbitrary<Entry> {
  return fc
    .tuple(fc.array(nameArbitrary(options), { minLength: 1, maxLength: 3 }), shapeArbitrary(options))
    .map(([parts, shape]) => {
      const entry = entryFromShape('/' + parts.join('/'), shape, shape.kind);
      if (entry.type === 'hardlink') entry.linkname = entry.path === '/a' ? '/b' : '/a';
      return entry;
    });
}

/**
 * A tree as an entry list: unique clean paths, every parent present as a
 * directory, hardlinks pointing at files of the same list. Order is random
 * (shuffled), as real inputs are.
 *
 * With `hostile: true` the list is additionally bent in ways a safe
 * consumer must survive (each still a valid `Entry`): a symlink to a
 * directory outside with a file written "through" it, a hardlink to a path
 * that is not in the layer, a duplicated path, and `.wh.` oddities (`.wh.`,
 * `.wh..`, `.wh..wh..opq` as a directory, whiteouts with content). For
 * names with `..` or absolute names use {@link rawTarArbitrary}.
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(treeArbitrary(), async (entries) => {
 *   const layer = layerFromEntries(entries);
 *   expect((await validateLayer(layer)).ok).toBe(true);
 * }));
 * ```
 */
export function treeArbitrary(options: TreeArbitraryOptions = {}): fc.Arbitrary<Entry[]> {
  const maxEntries = options.maxEntries ?? 12;
  const tree = fc
    .uniqueArray(fc.tuple(fc.array(nameArbitrary({ hostile: false }), { minLength: 1, maxLength: options.maxDepth ?? 4 }), shapeArbitrary(options)), {
      maxLength: maxEntries,
      selector: ([parts]) => parts.join('/'),
    })
    .chain((items) => {
      const shapes = new Map<string, Shape>();
      const dirs = new Set<string>();
      for (const [parts, shape] of items) {
        shapes.set('/' + parts.join('/'), shape);
        for (let i = 1; i < parts.length; i++) dirs.add('/' + parts.slice(0, i).join('/'));
      }
      const paths = [...new Set([...shapes.keys(), ...dirs])].sort(comparePaths);
      const entries: Entry[] = [];
      const files: string[] = [];
      for (const path of paths) {
        const shape = shapes.get(path) ?? shapes.values().next().value!;
        let kind: EntryType = dirs.has(path) ? 'dir' : shape.kind;
        if (kind === 'hardlink' && files.length === 0) kind = 'file';
        const entry = entryFromShape(path, shape, kind);
        if (kind === 'dir' && !shapes.has(path)) {
          entry.mode = 0o755;
          delete entry.xattrs;
        }
        if (kind === 'hardlink') entry.linkname = files[shape.target % files.length]!;
        if (kind === 'file') files.push(path);
        entries.push(entry);
      }
      return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length });
    });
  if (!options.hostile) return tree;
  return fc.tuple(tree, fc.subarray(['symlink-through', 'hardlink-out', 'duplicate', 'whiteouts'] as const, { minLength: 1 }), shapeArbitrary(options)).map(
    ([entries, kinds, shape]) => {
      const out = [...entries];
      const base = { mode: 0o644, uid: 0, gid: 0, mtime: shape.mtime, size: 0 };
      const taken = (p: string) => out.some((e) => e.path === p);
      for (const kind of kinds) {
        if (kind === 'symlink-through' && !taken('/lnk')) {
          out.push({ ...base, path: '/lnk', type: 'symlink', linkname: shape.seed % 2 ? '/etc' : '../../../etc' });
          out.push({ ...base, path: '/lnk/pwned', type: 'file', size: 3, content: patternSource(shape.seed, 3) });
        }
        if (kind === 'hardlink-out' && !taken('/hl')) out.push({ ...base, path: '/hl', type: 'hardlink', linkname: '/etc/shadow' });
        if (kind === 'duplicate' && out.length > 0) {
          const victim = out[shape.target % out.length]!;
          out.push({ ...victim, mode: victim.mode ^ 0o100 });
        }
        if (kind === 'whiteouts' && !taken('/wh')) {
          out.push({ ...base, path: '/wh', type: 'dir', mode: 0o755 });
          out.push({ ...base, path: '/wh/.wh.', type: 'file' });
          out.push({ ...base, path: '/wh/.wh..', type: 'file' });
          out.push({ ...base, path: '/wh/.wh..wh..opq', type: 'dir', mode: 0o755 });
          out.push({ ...base, path: '/wh/.wh.x', type: 'file', size: 4, content: patternSource(shape.seed, 4) });
        }
      }
      return out;
    },
  );
}

/**
 * A layer over a generated tree ({@link treeArbitrary}), written by
 * `layerFromEntries` with `layerOptions` (default gzip level 1).
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(layerArbitrary(), async (layer) => (await validateLayer(layer)).ok));
 * ```
 */
export function layerArbitrary(options: TreeArbitraryOptions & { layerOptions?: LayerFromEntriesOptions } = {}): fc.Arbitrary<Layer> {
  return treeArbitrary({ ...options, hostile: false }).map((entries) => layerFromEntries(entries, options.layerOptions ?? { level: 1 }));
}

// ───────────────────────────── raw tars ─────────────────────────────

/** A tar member exactly as it should appear in an archive: name not normalized, nothing checked. */
export interface RawTarMember {
  name: string;
  type: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  data?: Uint8Array;
  devmajor?: number;
  devminor?: number;
}

const RAW_TYPEFLAG: Record<EntryType, number> = { file: 0x30, hardlink: 0x31, symlink: 0x32, char: 0x33, block: 0x34, dir: 0x35, fifo: 0x36 };

/**
 * Encodes members into a tar in the given order with the given names (PAX
 * `path`/`linkpath` records when a name is longer than 100 bytes), ending
 * with the zero marker. For building adversarial input; the layer writer is
 * {@link writeTar}.
 *
 * @example
 * ```ts
 * const evil = encodeRawTar([{ name: '../../etc/passwd', type: 'file', data: bytes }]);
 * ```
 */
export function encodeRawTar(members: readonly RawTarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const name = utf8(m.name);
    const link = utf8(m.linkname ?? '');
    const data = m.type === 'file' ? (m.data ?? new Uint8Array(0)) : new Uint8Array(0);
    const records: Array<[string, Uint8Array]> = [];
    if (name.length > 100) records.push(['path', name]);
    if (link.length > 100) records.push(['linkpath', link]);
    if (records.length > 0) {
      const pax = encodePaxRecords(records);
      parts.push(encodeHeader({ name: utf8('PaxHeader'), mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: 0, typeflag: 0x78 }));
      parts.push(pax, ZEROS.subarray(0, (BLOCK - (pax.length % BLOCK)) % BLOCK));
    }
    parts.push(
      encodeHeader({
        name: name.subarray(0, 100),
        mode: m.mode ?? (m.type === 'dir' ? 0o755 : 0o644),
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        size: data.length,
        mtime: m.mtime ?? 0,
        typeflag: RAW_TYPEFLAG[m.type],
        linkname: link.subarray(0, 100),
        devmajor: m.devmajor ?? 0,
        devminor: m.devminor ?? 0,
      }),
    );
    parts.push(data, ZEROS.subarray(0, (BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(ZEROS);
  return Buffer.concat(parts);
}

/**
 * Raw tar members (and their encoding). Well-formed by default (relative
 * names, parents first); with `hostile: true`, names and link targets
 * include `../` escapes, absolute and `////` names, `./` and `//` spellings,
 * backslashes, hardlinks out of the root, a symlink followed by a member
 * written through it, duplicates, and `.wh.` oddities.
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(rawTarArbitrary({ hostile: true }), async ({ bytes }) => {
 *   await expectSafeExtraction(bytes);
 * }));
 * ```
 */
export function rawTarArbitrary(options: { hostile?: boolean; maxMembers?: number } = {}): fc.Arbitrary<{ members: RawTarMember[]; bytes: Uint8Array }> {
  const hostile = options.hostile ?? false;
  const segment = hostile
    ? fc.oneof({ weight: 4, arbitrary: nameArbitrary({ hostile: true }) }, { weight: 2, arbitrary: fc.constantFrom('..', '.', '') })
    : nameArbitrary();
  const name = fc
    .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), hostile ? fc.constantFrom('', '', '/', '////', './', '../') : fc.constant(''))
    .map(([parts, lead]) => lead + parts.join('/'));
  const member: fc.Arbitrary<RawTarMember> = fc.record({
    name,
    type: fc.constantFrom<EntryType>('file', 'dir', 'symlink', 'hardlink'),
    linkname: hostile ? fc.oneof(name, fc.constantFrom('/etc/shadow', '../../../../etc/shadow', '/', '.')) : name,
    data: fc.uint8Array({ maxLength: 600 }),
  });
  const members = fc.array(member, { minLength: 1, maxLength: options.maxMembers ?? 8 }).map((list) => {
    if (!hostile) return list;
    return [
      ...list,
      { name: 'through', type: 'symlink', linkname: '/etc' } as RawTarMember,
      { name: 'through/evil', type: 'file', data: utf8('x') } as RawTarMember,
    ];
  });
  return members.map((list) => ({ members: list, bytes: encodeRawTar(list) }));
}

// ───────────────────────────── validation ─────────────────────────────

/** What {@link validateLayer} can find wrong. */
export type LayerProblemCode =
  | 'GETTER_FAILED'
  | 'STREAM_FAILED'
  | 'DIFFID_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'UNCOMPRESSED_SIZE_MISMATCH'
  | 'BLOB_CONTENT_MISMATCH'
  | 'MEDIA_TYPE_MISMATCH'
  | 'TAR_INVALID'
  | 'DUPLICATE_PATH';

/** One disagreement found by {@link validateLayer}. */
export interface LayerProblem {
  code: LayerProblemCode;
  message: string;
  expected?: string;
  actual?: string;
}

/** The result of {@link validateLayer}: `ok` when `problems` is empty. */
export interface LayerValidationReport {
  ok: boolean;
  problems: LayerProblem[];
  /** Recomputed from the streams. */
  computed: {
    diffId?: Digest;
    uncompressedSize?: number;
    digest?: Digest;
    size?: number;
    /** diffID of the decompressed blob. */
    blobDiffId?: Digest;
    compression?: 'gzip' | 'zstd' | 'none';
    entries?: number;
  };
}

async function settle<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}

function describe(err: unknown): string {
  return err instanceof LayerkitError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}

/** Hashes a stream; an error part way is reported but what came before still counts. */
async function hashStream(source: () => AsyncIterable<Uint8Array>): Promise<{ digest: Digest; size: number; error?: unknown }> {
  const hasher = createSha256();
  let size = 0;
  try {
    for await (const chunk of source()) {
      hasher.update(chunk);
      size += chunk.byteLength;
    }
    return { digest: hasher.digest(), size };
  } catch (error) {
    return { digest: hasher.digest(), size, error };
  }
}

/**
 * Re-reads both streams of a layer and checks every claim it makes: diffID
 * = sha256(uncompressed), digest = sha256(compressed), size = blob length,
 * uncompressed size, decompress(blob) = the uncompressed tar, media type vs
 * the compression actually found, and that the tar parses with no duplicate
 * paths. Reports *every* problem, never stops at the first; getters or
 * streams that throw are problems too.
 *
 * @example
 * ```ts
 * const report = await validateLayer(layer);
 * if (!report.ok) console.table(report.problems);
 * ```
 */
export async function validateLayer(layer: Layer): Promise<LayerValidationReport> {
  const problems: LayerProblem[] = [];
  const computed: LayerValidationReport['computed'] = {};
  const mismatch = (code: LayerProblemCode, what: string, expected: string | number, actual: string | number) =>
    problems.push({ code, message: `${what}: layer says ${expected}, streams give ${actual}`, expected: String(expected), actual: String(actual) });

  const claimed = {
    diffId: await settle(() => layer.diffId()),
    digest: await settle(() => layer.digest()),
    size: await settle(() => layer.size()),
    uncompressedSize: layer.uncompressedSize ? await settle(() => layer.uncompressedSize!()) : undefined,
  };
  for (const [name, result] of Object.entries(claimed)) {
    if (result?.error !== undefined) problems.push({ code: 'GETTER_FAILED', message: `${name}() failed: ${describe(result.error)}` });
  }

  const tar = await hashStream(() => layer.uncompressed());
  if (tar.error !== undefined) problems.push({ code: 'STREAM_FAILED', message: `uncompressed() failed after ${tar.size} bytes: ${describe(tar.error)}` });
  computed.diffId = tar.digest;
  computed.uncompressedSize = tar.size;

  const blob = await hashStream(() => layer.compressed());
  if (blob.error !== undefined) problems.push({ code: 'STREAM_FAILED', message: `compressed() failed after ${blob.size} bytes: ${describe(blob.error)}` });
  computed.digest = blob.digest;
  computed.size = blob.size;

  // Decompress the blob independently of the layer's own uncompressed().
  const inflated = await settle(async () => {
    const { head, stream } = await peek(layer.compressed(), 4);
    computed.compression = detectCompression(head);
    const { stream: tarStream } = await decompress(stream);
    return hashStream(() => tarStream);
  });
  if (inflated.error !== undefined || inflated.value?.error !== undefined) {
    problems.push({ code: 'BLOB_CONTENT_MISMATCH', message: `the blob does not decompress: ${describe(inflated.error ?? inflated.value?.error)}` });
  } else if (inflated.value) {
    computed.blobDiffId = inflated.value.digest;
    if (inflated.value.digest !== tar.digest) mismatch('BLOB_CONTENT_MISMATCH', 'decompressed blob vs uncompressed()', tar.digest, inflated.value.digest);
  }

  if (claimed.diffId.value !== undefined && claimed.diffId.value !== tar.digest) mismatch('DIFFID_MISMATCH', 'diffId()', claimed.diffId.value, tar.digest);
  if (claimed.digest.value !== undefined && claimed.digest.value !== blob.digest) mismatch('DIGEST_MISMATCH', 'digest()', claimed.digest.value, blob.digest);
  if (claimed.size.value !== undefined && claimed.size.value !== blob.size) mismatch('SIZE_MISMATCH', 'size()', claimed.size.value, blob.size);
  if (claimed.uncompressedSize?.value !== undefined && claimed.uncompressedSize.value !== tar.size) {
    mismatch('UNCOMPRESSED_SIZE_MISMATCH', 'uncompressedSize()', claimed.uncompressedSize.value, tar.size);
  }

  const compression = computed.compression;
  if (compression) {
    // The media-type table says what a known layer type holds; a type outside it is not judged.
    const expectedKind = mediaTypeCompression(layer.mediaType);
    if (expectedKind !== undefined && expectedKind !== compression) mismatch('MEDIA_TYPE_MISMATCH', `mediaType ${layer.mediaType}`, expectedKind, compression);
  }

  // Structure: the tar parses, and no path appears twice.
  const parsed = await settle(async () => {
    const seen = new Set<string>();
    let count = 0;
    for await (const member of readTar(layer.uncompressed())) {
      count++;
      if (seen.has(member.entry.path)) problems.push({ code: 'DUPLICATE_PATH', message: `${member.entry.path} appears more than once` });
      seen.add(member.entry.path);
      for await (const _ of member.body) void _;
    }
    return count;
  });
  if (parsed.error !== undefined) problems.push({ code: 'TAR_INVALID', message: `the tar does not parse: ${describe(parsed.error)}` });
  else computed.entries = parsed.value!;

  return { ok: problems.length === 0, problems, computed };
}
