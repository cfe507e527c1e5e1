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
import { createSha256, sha256, sha256Stream, type Digest } from '../../digest.js';
import { fileSource } from './content.js';
import type { RootIndex, StatCache, StatRecord } from './stat-cache.js';
import { internalsOf, type CopySource, type SourceInternals } from './sources.js';
import { deviceNumbers, type WalkedNode } from './walk.js';

const VERSION_LINE = 'layerkit.context.checksum/v1\n';
const BATCH = 256;
const PARALLEL_READS = 4;
const EMPTY_DIGEST = sha256(new Uint8Array(0));

/** Options of {@link BuildContext.checksum}. */
export interface ChecksumOptions {
  /** Reuse content digests of unchanged files, and record new ones. */
  cache?: StatCache;
}

interface Known {
  digest: Digest | undefined;
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
): Promise<Digest> {
  const internals = selection.map((source) => internalsOf(source, context));
  const index = options.cache ? await options.cache.index(hostRoot) : undefined;
  const fence = options.cache ? await options.cache.fence() : 0n;
  const hasher = createSha256();
  const encoder = new TextEncoder();
  const line = (record: unknown[]) => hasher.update(encoder.encode(JSON.stringify(record) + '\n'));
  hasher.update(encoder.encode(VERSION_LINE));
  for (const [i, source] of selection.entries()) {
    const inner = internals[i]!;
    // A directory is copied as its contents: its own name does not reach the destination.
    line(['source', source.type === 'dir' ? '' : source.name, source.type]);
    const firstRel = new Map<string, string>();
    const seen = new Set<string>();
    let batch: WalkedNode[] = [];
    const flush = async () => {
      const known = await describe(batch, inner, index, fence, options.cache);
      batch.forEach((walked, k) => {
        line(record(walked, inner, known[k]!, firstRel));
        seen.add(walked.node.rel);
      });
      batch = [];
    };
    for await (const walked of inner.walk()) {
      batch.push(walked);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    // A directory walked whole tells which recorded paths below it are gone.
    if (index && inner.root.type === 'dir' && !inner.excludes) index.prune(inner.root.rel, seen);
  }
  await index?.save();
  return hasher.digest();
}

/** Content digests and xattrs of a batch: from the index where valid, else read. */
async function describe(
  batch: WalkedNode[],
  inner: SourceInternals,
  index: RootIndex | undefined,
  fence: bigint,
  cache: StatCache | undefined,
): Promise<Known[]> {
  const tree = inner.options.resolver.tree;
  const reader = inner.options.xattrs;
  const known: (Known | undefined)[] = batch.map(({ node }) => {
    const hit: StatRecord | undefined = index?.lookup(node.rel, node.stats);
    if (!hit || (node.type === 'file' && hit.digest === undefined)) return undefined;
    // A record made without reading xattrs cannot answer for a context that reads them.
    if (reader && hit.xattrs === undefined) return undefined;
    if (node.type === 'file' && cache) cache.stats.hits++;
    return { digest: hit.digest, xattrs: reader ? hit.xattrs : undefined };
  });
  const misses = batch.map((_, k) => k).filter((k) => known[k] === undefined);
  const attrs = reader && misses.length > 0 ? await reader.read(misses.map((k) => tree.hostPath(batch[k]!.node.path))) : undefined;
  let next = 0;
  const work = async () => {
    while (next < misses.length) {
      const k = misses[next++]!;
      const { node } = batch[k]!;
      let digest: Digest | undefined;
      if (node.stats.isSocket()) {
        digest = EMPTY_DIGEST;
      } else if (node.type === 'file') {
        digest = (await sha256Stream(fileSource(tree.hostPath(node.path), node.path, node.stats).open())).digest;
        if (cache) cache.stats.misses++;
      }
      const xattrs = attrs?.get(tree.hostPath(node.path));
      known[k] = { digest, xattrs };
      // `{}` records "read, none"; undefined "not read".
      index?.store(node.rel, node.stats, fence, digest, reader ? (xattrs ?? {}) : undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, misses.length) }, work));
  for (const [k, { node }] of batch.entries()) {
    if (node.type === 'symlink') known[k]!.link = await inner.options.resolver.readlink(node);
  }
  return known as Known[];
}

function record(walked: WalkedNode, inner: SourceInternals, known: Known, firstRel: Map<string, string>): unknown[] {
  const { node, rel } = walked;
  const { stats } = node;
  const host = inner.options.owner === 'host';
  let type: string = node.type;
  let size = 0n;
  let link = '';
  let digest = '';
  if (node.type === 'file') {
    const key = `${stats.dev}:${stats.ino}`;
    const first = stats.nlink > 1n ? firstRel.get(key) : undefined;
    if (first !== undefined) {
      type = 'hardlink';
      link = first;
    } else {
      if (stats.nlink > 1n) firstRel.set(key, rel);
      size = stats.isSocket() ? 0n : stats.size;
      digest = known.digest ?? '';
    }
  }
  if (node.type === 'symlink') link = known.link ?? '';
  const [major, minor] = node.type === 'char' || node.type === 'block' ? deviceNumbers(stats.rdev) : [0, 0];
  return [
    'entry',
    rel,
    type,
    Number(stats.mode & 0o7777n),
    host ? Number(stats.uid) : 0,
    host ? Number(stats.gid) : 0,
    `${size}`,
    link,
    major,
    minor,
    hashedXattrs(known.xattrs),
    digest,
  ];
}

/** BuildKit's contenthash keeps `security.capability` but no other `security.*`, and no `system.*`. */
function hashedXattrs(xattrs: Record<string, Uint8Array> | undefined): [string, string][] {
  if (!xattrs) return [];
  return Object.keys(xattrs)
    .filter((k) => k === 'security.capability' || (!k.startsWith('security.') && !k.startsWith('system.')))
    .sort()
    .map((k) => [k, Buffer.from(xattrs[k]!).toString('hex')]);
}
