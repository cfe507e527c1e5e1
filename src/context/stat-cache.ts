/**
 * A persisted stat index for incremental context checksums.
 *
 * For every file it has hashed, the index remembers `dev`, `ino`, `size`,
 * `mtime` and `ctime` (nanoseconds) and `mode`, next to the content digest
 * and the extended attributes. A later checksum reuses the digest only when
 * all six are unchanged, so a rebuild of an unchanged context reads no file
 * contents, while any write, truncate, chmod, chown, xattr change, rename over
 * the path or replacement by a new inode forces a re-hash. mtime alone is never
 * trusted (it can be restored with `touch -d`, `utimes`, `rsync -t`, `git
 * checkout`); ctime cannot be set from user space and moves on every one of
 * those changes — the guard against the stale hits of buildkit#4950 and
 * earthly#2317.
 *
 * Timestamps have a granularity (the kernel's coarse clock tick, 1 s or 2 s on
 * some filesystems), so two changes within one tick can leave identical stat
 * data. Like git's "racily clean" rule, an entry is only recorded if the file's
 * ctime is strictly older than a fence taken (from the filesystem's own clock,
 * by writing a file in the cache directory) before any content was read; a
 * file changed in the same tick as the hashing is simply hashed again next
 * time. A ctime with no sub-second part hints at a coarse filesystem and must
 * be two seconds older than the fence. (mtime plays no part here: it can be
 * set to anything, including the future.)
 * @module
 */
import type { BigIntStats } from 'node:fs';

/** The stat fields that identify a file's content in the index. */
type StatKey = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs' | 'mode'>;
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, sha256, type Digest } from '../digest.js';
import { fullDigest, packDigest, type StoredDigest } from './packed-digest.js';
import { NodeStats } from './tree.js';

/** What a checksum reused and what it had to read. */
export interface StatCacheStats {
  /** Files whose content digest came from the index. */
  hits: number;
  /** Files whose content was read and hashed. */
  misses: number;
}

/**
 * The remembered state of one path: `digest` only for regular files; `xattrs`
 * undefined when they were not read, `{}` when there were none.
 */
export interface StatRecord {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: bigint;
  digest: Digest | undefined;
  xattrs: Record<string, Uint8Array> | undefined;
}

type StoredRecord = [string, string, string, string, string, string, string | null, Record<string, string> | null];

/** What a checksum needs of a valid record: the content digest (packed) and the xattrs. */
export interface StatHit {
  readonly digest: StoredDigest | undefined;
  readonly xattrs: Record<string, Uint8Array> | undefined;
}

/**
 * A record as the index keeps it. The six stat fields are the listed node's
 * own {@link NodeStats} when the record was made from a context listing (the
 * tree keeps that object anyway), else one string of their decimal values
 * (`dev:ino:size:mtimeNs:ctimeNs:mode`, the stored form's first six fields) —
 * never six bigints; the digest is packed: a context of 100,000 files keeps
 * 100,000 records for the whole build.
 */
class IndexedStat implements StatHit {
  constructor(
    readonly stat: NodeStats | string,
    readonly digest: StoredDigest | undefined,
    readonly xattrs: Record<string, Uint8Array> | undefined,
  ) {}

  get key(): string {
    return typeof this.stat === 'string' ? this.stat : this.stat.statKey();
  }

  /** Whether `stats` are the recorded ones. */
  matches(stats: StatKey): boolean {
    return this.stat === stats || this.key === statKey(stats);
  }

  /** The public form. */
  expand(): StatRecord {
    const [dev, ino, size, mtimeNs, ctimeNs, mode] = this.key.split(':').map((v) => BigInt(v)) as [bigint, bigint, bigint, bigint, bigint, bigint];
    return { dev, ino, size, mtimeNs, ctimeNs, mode, digest: this.digest === undefined ? undefined : fullDigest(this.digest), xattrs: this.xattrs };
  }
}

function statKey(stats: StatKey): string {
  if (stats instanceof NodeStats) return stats.statKey();
  // join, not a template: it makes one flat string, where concatenation keeps a tree of pieces.
  return [stats.dev, stats.ino, stats.size, stats.mtimeNs, stats.ctimeNs, stats.mode].join(':');
}

/** The context path of a path relative to the root (`''` is the root), as one flat string. */
function pathOf(rel: string): string {
  return ['', rel].join('/');
}

/** Bytes per `write` of {@link RootIndex.save}: the index file is written in pieces, never held whole. */
const SAVE_BUFFER = 256 * 1024;

const VERSION = 1;
const COARSE_MARGIN_NS = 2_000_000_000n;
const SECOND_NS = 1_000_000_000n;

/**
 * A caller-owned cache of file digests, persisted in a directory. Give the
 * same `StatCache` (or a new one on the same directory, in a later process) to
 * successive checksums of a context so unchanged files are not read again.
 * One index file per context root lives in the directory.
 *
 * @example
 * ```ts
 * const cache = new StatCache('.layerkit/cache');
 * const ctx = await openContext('.');
 * const digest = await ctx.checksum(await ctx.resolveSources(['.']), { cache });
 * console.log(cache.stats); // { hits: 120, misses: 3 }
 * ```
 */
export class StatCache {
  readonly dir: string;
  readonly stats: StatCacheStats = { hits: 0, misses: 0 };
  readonly #indexes = new Map<string, Promise<RootIndex>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The index of one context root (loaded once per cache object). */
  index(hostRoot: string): Promise<RootIndex> {
    let index = this.#indexes.get(hostRoot);
    if (!index) {
      index = RootIndex.load(join(this.dir, `context-${sha256(hostRoot).slice(7, 23)}.json`), hostRoot);
      this.#indexes.set(hostRoot, index);
    }
    return index;
  }

  /**
   * The current time of the filesystem holding the cache, as it would stamp a
   * file changed now (nanoseconds).
   */
  async fence(): Promise<bigint> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `.fence-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const handle = await open(path, 'w');
    try {
      await handle.write('fence');
      return (await handle.stat({ bigint: true })).mtimeNs;
    } finally {
      await handle.close();
      await unlink(path).catch(() => undefined);
    }
  }
}

/**
 * The records of one context root. Records are keyed by context path
 * (`/src/a.ts`; the file names them relative to the root, `src/a.ts`): a
 * record made from a listed node shares the node's path string.
 */
export class RootIndex {
  readonly #records: Map<string, IndexedStat>;
  #dirty = false;

  private constructor(
    readonly file: string,
    readonly hostRoot: string,
    records: Map<string, IndexedStat>,
  ) {
    this.#records = records;
  }

  /** Loads the index file; a missing, corrupt or foreign file gives an empty index. */
  static async load(file: string, hostRoot: string): Promise<RootIndex> {
    const records = new Map<string, IndexedStat>();
    try {
      const json = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; root?: unknown; entries?: unknown };
      if (json.version === VERSION && json.root === hostRoot && json.entries && typeof json.entries === 'object') {
        for (const [rel, stored] of Object.entries(json.entries as Record<string, StoredRecord>)) {
          const record = decode(stored);
          if (record) records.set(pathOf(rel), record);
        }
      }
    } catch {
      // No usable index: start empty; it is only a cache.
    }
    return new RootIndex(file, hostRoot, records);
  }

  /** The record of `rel` (relative to the root) if the file's stat data is exactly what was recorded. */
  lookup(rel: string, stats: StatKey): StatRecord | undefined {
    return this.#valid(pathOf(rel), stats)?.expand();
  }

  /** {@link lookup} by context path (`/a` for `a`), without expanding the record. */
  lookupPath(path: string, stats: StatKey): StatHit | undefined {
    return this.#valid(path, stats);
  }

  #valid(path: string, stats: StatKey): IndexedStat | undefined {
    const record = this.#records.get(path);
    return record && record.matches(stats) ? record : undefined;
  }

  /**
   * Records what was read for `rel` (relative to the root), unless the file
   * changed too recently (relative to `fence`) for its stat data to identify
   * this content.
   */
  store(rel: string, stats: StatKey, fence: bigint, digest: Digest | undefined, xattrs: StatRecord['xattrs']): void {
    this.storePath(pathOf(rel), stats, fence, digest, xattrs);
  }

  /** {@link store} by context path; give a listed node's own path string and stats, which the record then shares. */
  storePath(path: string, stats: StatKey, fence: bigint, digest: StoredDigest | undefined, xattrs: StatRecord['xattrs']): void {
    // ctime is when the inode last changed, and no one can set it; mtime can be anything.
    const coarse = stats.ctimeNs % SECOND_NS === 0n;
    if (stats.ctimeNs + (coarse ? COARSE_MARGIN_NS : 0n) >= fence) {
      if (this.#records.delete(path)) this.#dirty = true;
      return;
    }
    this.#records.set(path, new IndexedStat(stats instanceof NodeStats ? stats : statKey(stats), digest === undefined ? undefined : packDigest(digest), xattrs));
    this.#dirty = true;
  }

  /** Whether any record lies at or below `prefix` (a directory's context path, `/` for all). */
  hasBelow(prefix: string): boolean {
    if (prefix === '/') return this.#records.size > 0;
    for (const path of this.#records.keys()) if (path === prefix || path.startsWith(prefix + '/')) return true;
    return false;
  }

  /** Forgets records below `prefix` (a directory's context path, `/` for all) that `keep` does not keep. */
  prune(prefix: string, keep: ReadonlySet<string> | ((path: string) => boolean)): void {
    const kept = typeof keep === 'function' ? keep : (path: string) => keep.has(path);
    const dirPrefix = prefix === '/' ? '/' : prefix + '/';
    for (const path of this.#records.keys()) {
      const below = path === prefix || path.startsWith(dirPrefix);
      if (below && !kept(path)) {
        this.#records.delete(path);
        this.#dirty = true;
      }
    }
  }

  /**
   * Writes the index if it changed (atomically: temporary file, then rename).
   * The JSON is encoded record by record into one buffer, written whenever
   * it fills: the whole text of a large context's index would be tens of
   * megabytes at once, and text gathered over many records lives long
   * enough to be moved to the old generation, where it stays until a full
   * collection.
   */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    const dir = join(this.file, '..');
    await mkdir(dir, { recursive: true });
    const temp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const handle = await open(temp, 'w');
    try {
      const out = new TextSink(handle);
      // The same text as JSON.stringify({ version, root, entries }) of the whole index.
      out.put(`{"version":${VERSION},"root":${JSON.stringify(this.hostRoot)},"entries":{`);
      let first = true;
      for (const [path, r] of this.#records) {
        if (out.full) await out.flush();
        out.put(`${first ? '' : ','}${JSON.stringify(path.slice(1))}:${storedJson(r)}`);
        first = false;
      }
      out.put('}}');
      await out.flush();
    } catch (err) {
      await handle.close();
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    await handle.close();
    await rename(temp, this.file);
    this.#dirty = false;
  }

  /** Number of records (for tests and diagnostics). */
  get size(): number {
    return this.#records.size;
  }
}

/** Text encoded as UTF-8 into one reused buffer, written to a file when asked. */
class TextSink {
  readonly #buffer = Buffer.allocUnsafe(SAVE_BUFFER);
  #used = 0;
  /** What did not fit (a record with large xattrs), in order, before the buffer's bytes. */
  #overflow: Buffer[] = [];

  constructor(readonly handle: FileHandle) {}

  /** Whether to flush before the next piece. */
  get full(): boolean {
    return this.#used > SAVE_BUFFER / 2 || this.#overflow.length > 0;
  }

  /** Appends `text`. */
  put(text: string): void {
    if (Buffer.byteLength(text) > SAVE_BUFFER - this.#used) {
      this.#overflow.push(Buffer.concat([this.#buffer.subarray(0, this.#used), Buffer.from(text)]));
      this.#used = 0;
      return;
    }
    this.#used += this.#buffer.write(text, this.#used);
  }

  async flush(): Promise<void> {
    for (const bytes of this.#overflow.splice(0)) await this.#write(bytes);
    await this.#write(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.byteLength) at += (await this.handle.write(bytes, at, bytes.byteLength - at)).bytesWritten;
  }
}

/**
 * A record as the JSON of its {@link StoredRecord}, written directly: the
 * six decimal fields are the key's, quoted (digits and `-` need no escapes).
 */
function storedJson(r: IndexedStat): string {
  const digest = r.digest === undefined ? 'null' : `"${fullDigest(r.digest)}"`;
  const xattrs = !r.xattrs ? 'null' : isEmpty(r.xattrs) ? '{}' : JSON.stringify(Object.fromEntries(Object.entries(r.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('hex')])));
  return `["${r.key.replaceAll(':', '","')}",${digest},${xattrs}]`;
}

function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

function decode(stored: StoredRecord): IndexedStat | undefined {
  try {
    const [dev, ino, size, mtimeNs, ctimeNs, mode, digest, xattrs] = stored;
    // Through BigInt: a malformed number fails here, and the key is in canonical decimal form.
    const key = statKey({ dev: BigInt(dev), ino: BigInt(ino), size: BigInt(size), mtimeNs: BigInt(mtimeNs), ctimeNs: BigInt(ctimeNs), mode: BigInt(mode) });
    return new IndexedStat(
      key,
      digest === null ? undefined : packDigest(parseDigest(digest)),
      xattrs ? Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, Uint8Array.from(Buffer.from(v, 'hex'))])) : undefined,
    );
  } catch {
    return undefined;
  }
}

