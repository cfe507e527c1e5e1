/**
 * Checksums taken from a copy's own reads. A cold build must read every
 * source file to copy it; hashing those bytes on their way into the layer
 * gives the cache key without a second read of the context, and the xattrs
 * the copy read for the layer are the ones the key covers, so no second
 * round of `getfattr` runs either.
 *
 * The digest is exactly {@link BuildContext.checksum}'s for the same
 * selection: the records are built by the same code, from the same
 * snapshot of the context, with contents and xattrs taken from what the
 * copy observed. A file the copy did not read to its end (replaced by a
 * later source, or only sniffed by ADD) is read for the checksum as usual.
 * @module
 */
import { createSha256, type Digest } from '../digest.js';
import type { ContentSource, Entry } from '../layers/entry.js';
import { checksumSelection, type ChecksumOptions, type Observed, type ObservedLookup } from './checksum.js';
import { observedFileSource, type ReadObserver } from './content.js';
import { packDigest, type StoredDigest } from './packed-digest.js';
import { internalsOf, type CopySource } from './sources.js';

/** "Read, none": one shared object rather than one per file. */
const NO_XATTRS: Readonly<Record<string, Uint8Array>> = Object.freeze({});

/**
 * What a tap knows of one path. Most objects of a large copy have no
 * xattrs of their own and are no second name of a file, so they need no
 * record: `null` is "seen, nothing read to the end yet" and a digest is
 * "read"; an {@link Observed} record is kept only for the rest (xattrs, a
 * hardlink, a content that is not a context file).
 */
type Seen = Observed | StoredDigest | null;

/** What a tap needs from its context. */
export interface TapHost {
  /** The context object (sources must come from it). */
  readonly context: object;
  readonly root: string;
  /** Whether the context reads xattrs (then every observed entry's attributes are known). */
  readonly readsXattrs: boolean;
}

/**
 * Collects what a copy reads from a context and turns it into the
 * selection's checksum (see the module notes). Create it with
 * {@link BuildContext.tapChecksum} before the copy reads anything.
 *
 * @example
 * ```ts
 * const tap = await ctx.tapChecksum({ cache });
 * const sources = await ctx.resolveSources(['src']);
 * tap.add(sources);
 * for (const source of sources) for await (const { entry } of source.entries()) await copy(tap.observe(entry));
 * const key = await tap.digest(); // === await ctx.checksum(sources, { cache })
 * ```
 */
export class ChecksumTap {
  readonly #host: TapHost;
  readonly #options: ChecksumOptions;
  readonly #fence: bigint;
  readonly #selection: CopySource[] = [];
  readonly #observed = new Map<string, Seen>();
  /** Context file sources report their complete reads here (one object for all files). */
  readonly #reads: ReadObserver = {
    read: (path, digest) => {
      const seen = this.#observed.get(path);
      // The first complete read names the content; a path not observed is not the tap's.
      if (seen === null) this.#observed.set(path, packDigest(digest));
      else if (typeof seen === 'object') seen.digest ??= digest;
    },
  };
  /** What a path with no record of its own was seen with (shared, read-only). */
  readonly #plain: Readonly<Observed>;
  #digest: Promise<Digest> | undefined;

  /** @internal Use {@link BuildContext.tapChecksum}. */
  constructor(host: TapHost, options: ChecksumOptions, fence: bigint) {
    this.#host = host;
    this.#options = options;
    this.#fence = fence;
    this.#plain = Object.freeze({ xattrs: host.readsXattrs ? NO_XATTRS : undefined, digest: undefined, sameAs: undefined });
  }

  /** Appends sources to the selection the digest covers (in copy order). */
  add(sources: readonly CopySource[]): void {
    if (this.#digest) throw new Error('ChecksumTap: sources added after the digest was taken');
    for (const source of sources) internalsOf(source, this.#host.context);
    this.#selection.push(...sources);
  }

  /**
   * Notes an entry of one of the sources and returns it with a content
   * source that hashes the bytes as they are read.
   */
  observe(entry: Entry): Entry {
    // A path met twice (overlapping sources) is one object of one snapshot: keep what is known.
    if (!this.#observed.has(entry.path)) {
      const hardlink = entry.type === 'hardlink' && entry.linkname !== undefined;
      const xattrs = this.#host.readsXattrs ? entry.xattrs : undefined;
      this.#observed.set(entry.path, hardlink || xattrs ? { xattrs: xattrs ?? this.#plain.xattrs, digest: undefined, sameAs: hardlink ? entry.linkname : undefined } : null);
    }
    if (entry.type !== 'file' || !entry.content) return entry;
    const content = observedFileSource(entry.content, this.#reads) ?? hashing(entry.content, this.#record(entry.path));
    return { ...entry, content };
  }

  /** The record of an observed path, made if it had none. */
  #record(path: string): Observed {
    const seen = this.#observed.get(path);
    if (typeof seen === 'object' && seen !== null) return seen;
    const record: Observed = { ...this.#plain, digest: seen ?? undefined };
    this.#observed.set(path, record);
    return record;
  }

  /** What the checksum asks of each path. */
  readonly #lookup: ObservedLookup = {
    get: (path) => {
      const seen = this.#observed.get(path);
      if (seen === undefined || seen === null) return seen === null ? this.#plain : undefined;
      return typeof seen === 'string' ? { ...this.#plain, digest: seen } : seen;
    },
  };

  /**
   * The checksum of the selection. Call it after the copy read what it
   * needs; files it did not read are read now.
   */
  digest(): Promise<Digest> {
    this.#digest ??= (async () => {
      return checksumSelection(this.#host.context, this.#host.root, [...this.#selection], this.#options, {
        observed: this.#lookup,
        fence: this.#fence,
        // What the copy observed is in the digest once every source is walked: a large copy's
        // records need not outlive it, nor stay while the stat index is written.
        walked: () => this.#observed.clear(),
      });
    })();
    return this.#digest;
  }
}

/**
 * A content source whose complete reads record the bytes' SHA-256 in `seen`,
 * for contents that are not context file sources (those report their reads
 * themselves). A class, not an object literal: a generator method of a
 * literal costs each object its own closure, prototype and shape.
 */
class HashingSource implements ContentSource {
  readonly size: number;

  constructor(
    private readonly inner: ContentSource,
    private readonly seen: Observed,
  ) {
    this.size = inner.size;
  }

  async *open(): AsyncGenerator<Uint8Array> {
    const hasher = createSha256();
    let size = 0;
    for await (const chunk of this.inner.open()) {
      hasher.update(chunk);
      size += chunk.byteLength;
      yield chunk;
    }
    // Only a read that ran to the end, with the listed size, names the content.
    if (size === this.inner.size) this.seen.digest ??= hasher.digest();
  }
}

function hashing(inner: ContentSource, seen: Observed): ContentSource {
  return new HashingSource(inner, seen);
}
