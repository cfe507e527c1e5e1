/**
 * Walking the context view and turning its nodes into {@link Entry} objects.
 * @module
 */
import { bytesSource, type Entry } from '../layers/entry.js';
import { nodeFileSource } from './content.js';
import { NO_PARENT_INFO, type MatchInfo, type PatternMatcher } from './patternmatcher.js';
import type { Resolver } from './resolve.js';
import type { ContextNode, ContextTree } from './tree.js';
import type { XattrReader } from './xattrs.js';

/** A node met by a walk, with its path relative to where the walk started (`''` for the start). */
export interface WalkedNode {
  node: ContextNode;
  rel: string;
}

/**
 * Depth-first walk from `start` (yielded first), children in byte order of
 * their names, symlinks not followed. With `excludes` (COPY `--exclude`),
 * paths relative to `start` are matched: a matched file is skipped; a matched
 * directory is skipped whole unless the patterns have `!` exceptions, in
 * which case it is yielded just before the first descendant that is kept (and
 * not at all if none is), as BuildKit's copier does. `start` itself is never
 * matched.
 *
 * One generator with a stack of listings, not one per directory: each
 * object passes through one `yield` however deep it lies (a nested
 * `yield*` costs promises at every level), and its relative path is a
 * slice of its context path, not a new string.
 */
export async function* walkNodes(
  tree: ContextTree,
  start: ContextNode,
  excludes?: PatternMatcher,
): AsyncGenerator<WalkedNode> {
  yield { node: start, rel: '' };
  if (start.type !== 'dir') return;
  // A node's path is its parent's plus `/name`, so its path relative to `start` is a suffix of it.
  const cut = start.path === '/' ? 1 : start.path.length + 1;
  // Excluded directories waiting for a kept descendant, outermost first.
  const pending: WalkedNode[] = [];
  const stack: Frame[] = [{ children: await tree.list(start), next: 0, info: NO_PARENT_INFO, held: undefined }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next === frame.children.length) {
      stack.pop();
      // An excluded directory with nothing kept below it is not yielded.
      if (frame.held !== undefined && pending[pending.length - 1] === frame.held) pending.pop();
      continue;
    }
    const node = frame.children[frame.next++]!;
    const rel = node.path.slice(cut);
    let excluded = false;
    let info = NO_PARENT_INFO;
    if (excludes) ({ matched: excluded, info } = excludes.matchesWithParentInfo(rel, frame.info));
    if (!excluded) {
      // Excluded ancestors appear once something below them is kept.
      if (pending.length > 0) yield* pending.splice(0);
      yield { node, rel };
      if (node.type === 'dir') stack.push({ children: await tree.list(node), next: 0, info, held: undefined });
    } else if (node.type === 'dir' && excludes!.hasExclusions) {
      const held = { node, rel };
      pending.push(held);
      stack.push({ children: await tree.list(node), next: 0, info, held });
    }
  }
}

/** A directory being walked: its listing, the next child, and what the exclude patterns said of it. */
interface Frame {
  children: readonly ContextNode[];
  next: number;
  info: MatchInfo;
  /** The directory itself when excluded and held back until something below it is kept. */
  held: WalkedNode | undefined;
}

/** How context nodes become entries. */
export interface EntryOptions {
  resolver: Resolver;
  /** `root`: uid/gid 0 as BuildKit and the classic builder send them; `host`: the ids on disk. */
  owner: 'root' | 'host';
  xattrs: XattrReader | undefined;
}

/**
 * Nodes per `getfattr` batch. A process start costs tens of milliseconds on
 * a busy machine, far more than listing a few thousand paths, so batches are
 * large (the reader still splits command lines that would grow too long).
 * The first batch is small so that the consumer starts hashing and copying
 * early instead of waiting for thousands of nodes to be walked.
 */
const XATTR_BATCH = 2048;
const FIRST_XATTR_BATCH = 128;

/** A batch of walked nodes whose xattrs are being read. */
interface PendingBatch {
  nodes: WalkedNode[];
  attrs: Promise<Awaited<ReturnType<XattrReader['read']>> | undefined>;
  settled: boolean;
}

/**
 * Entries for walked nodes, in the same order. Files that share an inode
 * become one `file` (the first met) and `hardlink` entries pointing at it,
 * within this call (BuildKit's copier keeps links within one source).
 * Extended attributes are read in batches while the walk goes on: a batch is
 * handed on as soon as its attributes are in, so `getfattr` runs overlap the
 * walk and the consumer's work on earlier entries.
 */
export async function* nodeEntries(
  nodes: AsyncIterable<WalkedNode>,
  options: EntryOptions,
): AsyncGenerator<WalkedNode & { entry: Entry }> {
  const firstPaths = new Map<string, string>();
  const hostPath = (walked: WalkedNode) => options.resolver.tree.hostPath(walked.node.path);
  const pending: PendingBatch[] = [];
  const start = (batch: WalkedNode[]) => {
    const attrs = options.xattrs ? options.xattrs.read(batch.map(hostPath)) : Promise.resolve(undefined);
    const item: PendingBatch = { nodes: batch, attrs, settled: false };
    // Also marks a rejection as handled until the batch's turn comes (it is rethrown there).
    attrs.then(
      () => (item.settled = true),
      () => (item.settled = true),
    );
    pending.push(item);
  };
  const emit = async function* (item: PendingBatch) {
    const attrs = await item.attrs;
    for (const walked of item.nodes) {
      const { node } = walked;
      let hardlinkTo: string | undefined;
      if (node.type === 'file' && node.stats.linked) {
        const key = node.stats.inodeKey;
        hardlinkTo = firstPaths.get(key);
        if (hardlinkTo === undefined) firstPaths.set(key, node.path);
      }
      const entry = await nodeEntry(node, options, hardlinkTo);
      const xattrs = attrs?.get(hostPath(walked));
      if (xattrs) entry.xattrs = xattrs;
      yield { ...walked, entry };
    }
  };
  let batch: WalkedNode[] = [];
  let limit = FIRST_XATTR_BATCH;
  for await (const walked of nodes) {
    batch.push(walked);
    if (batch.length >= limit) {
      start(batch);
      batch = [];
      limit = XATTR_BATCH;
    }
    // Hand on every batch whose attributes are in; keep walking past the rest, a few batches at most.
    while (pending[0]?.settled || pending.length > 2) yield* emit(pending.shift()!);
  }
  if (batch.length > 0) start(batch);
  while (pending.length > 0) yield* emit(pending.shift()!);
}

/**
 * One node as an {@link Entry} (without xattrs). Each kind is one object
 * literal with all its fields: an entry given a field after it was made
 * keeps that field out of line (a second object), and a large copy keeps
 * every file's entry for as long as its layer is in use.
 */
export async function nodeEntry(
  node: ContextNode,
  options: Pick<EntryOptions, 'resolver' | 'owner'>,
  hardlinkTo?: string,
): Promise<Entry> {
  const { stats, path } = node;
  const host = options.owner === 'host';
  const mode = stats.permissions;
  const uid = host ? stats.uidNumber : 0;
  const gid = host ? stats.gidNumber : 0;
  const mtime = stats.mtimeSeconds;
  if (hardlinkTo !== undefined) return { path, type: 'hardlink', mode, uid, gid, mtime, size: 0, linkname: hardlinkTo };
  if (stats.isSocket()) return { path, type: node.type, mode, uid, gid, mtime, size: 0, content: bytesSource(new Uint8Array(0)) };
  switch (node.type) {
    case 'file':
      return { path, type: 'file', mode, uid, gid, mtime, size: stats.sizeNumber, content: nodeFileSource(options.resolver.tree.hostRoot, node) };
    case 'symlink':
      return { path, type: 'symlink', mode, uid, gid, mtime, size: 0, linkname: await options.resolver.readlink(node) };
    case 'char':
    case 'block': {
      const [devmajor, devminor] = deviceNumbers(stats.rdev);
      return { path, type: node.type, mode, uid, gid, mtime, size: 0, devmajor, devminor };
    }
    default:
      return { path, type: node.type, mode, uid, gid, mtime, size: 0 };
  }
}

/** glibc's `major()`/`minor()` of a Linux `dev_t`. */
export function deviceNumbers(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}
