/**
 * Content checksums of COPY/ADD selections, for the build cache.
 *
 * The digest covers exactly what the copy would produce and nothing else:
 * for each source, in order, its name (the name a non-directory gets inside a
 * destination directory) and type, then one record per object — the root
 * first, then depth-first with siblings in byte order — holding the path
 * relative to the source root, type, permission and setuid/setgid/sticky
 * bits, uid, gid, size, symlink target (or, for a second link to a file
 * already copied, the relative path of the first), device numbers, extended
 * attributes (BuildKit's selection: `security.*` only `security.capability`,
 * no `system.*`) and the SHA-256 of the content. Timestamps are not hashed:
 * touching a file changes nothing. The host path of the context, inode
 * numbers and `readdir` order do not enter either.
 *
 * Each record is one line of JSON; the digest is the SHA-256 of a version
 * line followed by those lines. With a {@link StatCache}, content digests
 * (and xattrs) of files whose stat data is unchanged come from the index and
 * the files are not read.
 * @module
 */
import { createSha256, sha256, sha256Stream, type Digest, type Hasher } from '../digest.js';
import { nodeFileSource } from './content.js';
import { fullDigest, packDigest, type StoredDigest } from './packed-digest.js';
import type { RootIndex, StatCache, StatHit } from './stat-cache.js';
import { internalsOf, type CopySource, type SourceInternals } from './sources.js';
import { deviceNumbers, type WalkedNode } from './walk.js';

const VERSION_LINE = 'layerkit.context.checksum/v1\n';
/** Nodes described at once: one `getfattr` batch for those the index cannot answer. */
const BATCH = 2048;
const PARALLEL_READS = 4;
/** Bytes of lines hashed at once. */
const LINE_BUFFER = 64 * 1024;
const EMPTY_DIGEST = sha256(new Uint8Array(0));

/** Options of {@link BuildContext.checksum}. */
export interface ChecksumOptions {
  /** Reuse content digests of unchanged files, and record new ones. */
  cache?: StatCache;
}

/**
 * What a copy learnt about one context object while reading it (see
 * `ChecksumTap`): the checksum then needs neither a second read of the
 * content nor another xattr lookup.
 */
export interface Observed {
  /** The SHA-256 of the content, when a read ran to the end. */
  digest?: StoredDigest;
  /** For the second name of a hardlinked file: the context path of the first (same bytes). */
  sameAs?: string;
  /** Xattrs as read for the copy (`{}`: none); undefined when the context reads none. */
  xattrs: Record<string, Uint8Array> | undefined;
}

/** What a copy observed, by context path (a `Map` is one). */
export interface ObservedLookup {
  get(path: string): Readonly<Observed> | undefined;
}

/** How a checksum is being taken, beyond the public options. */
export interface ChecksumRun {
  /** Objects a copy already read, by context path. */
  observed?: ObservedLookup;
  /** The stat-index fence, when it was taken before the reads began. */
  fence?: bigint;
  /** Called once every source is walked, before the stat index is written: `observed` is not asked again. */
  walked?(): void;
}

interface Known {
  digest: StoredDigest | undefined;
  xattrs: Record<string, Uint8Array> | undefined;
  /** Symlink target. */
  link?: string;
}

/**
 * The checksum of a selection made by `context` (see module docs).
 * @internal
 */
export async function checksumSelection(
  context: object,
  hostRoot: string,
  selection: readonly CopySource[],
  options: ChecksumOptions,
  run: ChecksumRun = {},
): Promise<Digest> {
  const internals = selection.map((source) => internalsOf(source, context));
  const index = options.cache ? await options.cache.index(hostRoot) : undefined;
  const fence = run.fence ?? (options.cache ? await options.cache.fence() : 0n);
  const hasher = createSha256();
  const lines = new LineHasher(hasher);
  lines.add(VERSION_LINE);
  for (const [i, source] of selection.entries()) {
    const inner = internals[i]!;
    // A directory is copied as its contents: its own name does not reach the destination.
    lines.add(`${JSON.stringify(['source', source.type === 'dir' ? '' : source.name, source.type])}\n`);
    const firstRel = new Map<string, string>();
    // A directory walked whole tells which recorded paths below it are gone (context paths, no new strings).
    // Only records made before the walk can be gone: when there are none (a first build), nothing is noted.
    const pruning = index !== undefined && inner.root.type === 'dir' && !inner.excludes && index.hasBelow(inner.root.path);
    const seen = new Set<string>();
    let batch: WalkedNode[] = [];
    const flush = async () => {
      const known = await describe(batch, inner, { index, fence, cache: options.cache, observed: run.observed });
      batch.forEach((walked, k) => {
        lines.add(recordLine(walked, inner, known[k]!, firstRel));
        if (pruning) seen.add(walked.node.path);
      });
      batch = [];
    };
    for await (const walked of inner.walk()) {
      batch.push(walked);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    if (pruning) index.prune(inner.root.path, (path) => seen.has(path));
  }
  lines.flush();
  run.walked?.();
  await index?.save();
  return hasher.digest();
}

interface Describing {
  index: RootIndex | undefined;
  fence: bigint;
  cache: StatCache | undefined;
  observed: ObservedLookup | undefined;
}

/**
 * Content digests and xattrs of a batch: what a copy observed, else the
 * index where it is valid, else read now. Everything not taken from the
 * index is recorded in it.
 */
async function describe(batch: WalkedNode[], inner: SourceInternals, how: Describing): Promise<Known[]> {
  const { index, fence, cache, observed } = how;
  const tree = inner.options.resolver.tree;
  const reader = inner.options.xattrs;
  const known: Known[] = [];
  const toRead: number[] = [];
  const toList: number[] = [];
  const toStore: number[] = [];
  for (const [k, { node }] of batch.entries()) {
    const plainFile = node.type === 'file' && !node.stats.isSocket();
    const seen = observed?.get(node.path);
    if (seen) {
      const digest = plainFile ? (seen.digest ?? (seen.sameAs === undefined ? undefined : observed!.get(seen.sameAs)?.digest)) : undefined;
      known.push({ digest: node.type === 'file' && !plainFile ? EMPTY_DIGEST : digest, xattrs: seen.xattrs });
      if (plainFile && digest === undefined) toRead.push(k);
      else if (plainFile && cache) cache.stats.misses++;
      toStore.push(k);
      continue;
    }
    const hit: StatHit | undefined = index?.lookupPath(node.path, node.stats);
    // A record made without reading xattrs cannot answer for a context that reads them.
    if (hit && !(node.type === 'file' && hit.digest === undefined) && !(reader && hit.xattrs === undefined)) {
      if (node.type === 'file' && cache) cache.stats.hits++;
      known.push({ digest: hit.digest, xattrs: reader ? hit.xattrs : undefined });
      continue;
    }
    known.push({ digest: node.type === 'file' && !plainFile ? EMPTY_DIGEST : undefined, xattrs: undefined });
    if (plainFile) toRead.push(k);
    if (reader) toList.push(k);
    toStore.push(k);
  }
  if (reader && toList.length > 0) {
    const attrs = await reader.read(toList.map((k) => tree.hostPath(batch[k]!.node.path)));
    for (const k of toList) known[k]!.xattrs = attrs.get(tree.hostPath(batch[k]!.node.path));
  }
  let next = 0;
  const work = async () => {
    while (next < toRead.length) {
      const k = toRead[next++]!;
      const { node } = batch[k]!;
      known[k]!.digest = packDigest((await sha256Stream(nodeFileSource(tree.hostRoot, node).open())).digest);
      if (cache) cache.stats.misses++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, toRead.length) }, work));
  if (index) {
    // `{}` records "read, none"; undefined "not read".
    for (const k of toStore) index.storePath(batch[k]!.node.path, batch[k]!.node.stats, fence, known[k]!.digest, reader ? (known[k]!.xattrs ?? {}) : undefined);
  }
  for (const [k, { node }] of batch.entries()) {
    if (node.type === 'symlink') known[k]!.link = await inner.options.resolver.readlink(node);
  }
  return known;
}

/**
 * The line of one object: the JSON of `['entry', rel, type, mode, uid, gid,
 * size, link, major, minor, xattrs, digest]` and a newline, written directly
 * (the same text, without an array per object).
 */
function recordLine(walked: WalkedNode, inner: SourceInternals, known: Known, firstRel: Map<string, string>): string {
  const { node, rel } = walked;
  const { stats } = node;
  const host = inner.options.owner === 'host';
  let type: string = node.type;
  let size: number | bigint = 0;
  let link = '';
  let digest = '';
  if (node.type === 'file') {
    const key = stats.inodeKey;
    const first = stats.linked ? firstRel.get(key) : undefined;
    if (first !== undefined) {
      type = 'hardlink';
      link = first;
    } else {
      if (stats.linked) firstRel.set(key, rel);
      // Exact in decimal either way: a size past 2^53 (a sparse file) stays a bigint.
      size = stats.isSocket() ? 0 : stats.numericIdentity ? stats.sizeNumber : stats.size;
      digest = known.digest === undefined ? '' : fullDigest(known.digest);
    }
  }
  if (node.type === 'symlink') link = known.link ?? '';
  const [major, minor] = node.type === 'char' || node.type === 'block' ? deviceNumbers(stats.rdev) : [0, 0];
  const mode = stats.permissions;
  const uid = host ? stats.uidNumber : 0;
  const gid = host ? stats.gidNumber : 0;
  const xattrs = hashedXattrs(known.xattrs);
  // Types, decimal sizes and digests are plain ASCII: quoting them is their JSON.
  return `["entry",${JSON.stringify(rel)},"${type}",${mode},${uid},${gid},"${size}",${link === '' ? '""' : JSON.stringify(link)},${major},${minor},${xattrs.length === 0 ? '[]' : JSON.stringify(xattrs)},"${digest}"]\n`;
}

/**
 * Lines encoded as UTF-8 into one reused buffer and hashed as it fills: no
 * text of many lines is gathered (it would live long enough to be moved to
 * the old generation), and no encoding is made per line.
 */
class LineHasher {
  readonly #buffer = Buffer.allocUnsafe(LINE_BUFFER);
  #used = 0;

  constructor(readonly hasher: Hasher) {}

  add(text: string): void {
    // At most three bytes per UTF-16 unit.
    if (text.length * 3 > LINE_BUFFER - this.#used) {
      this.flush();
      if (text.length * 3 > LINE_BUFFER) {
        this.hasher.update(Buffer.from(text));
        return;
      }
    }
    this.#used += this.#buffer.write(text, this.#used);
  }

  flush(): void {
    if (this.#used > 0) this.hasher.update(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }
}

/** BuildKit's contenthash keeps `security.capability` but no other `security.*`, and no `system.*`. */
function hashedXattrs(xattrs: Record<string, Uint8Array> | undefined): [string, string][] {
  if (!xattrs) return [];
  return Object.keys(xattrs)
    .filter((k) => k === 'security.capability' || (!k.startsWith('security.') && !k.startsWith('system.')))
    .sort()
    .map((k) => [k, Buffer.from(xattrs[k]!).toString('hex')]);
}
