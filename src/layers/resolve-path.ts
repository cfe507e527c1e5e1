/**
 * Path resolution inside a root, as the kernel does it under chroot: one
 * component at a time, `..` taken physically (after symlinks) and stopping
 * at the root, absolute symlink targets restarting at the root, a limit on
 * the symlinks followed, the last component followed or not.
 *
 * The walk is written once, as a generator that yields the reads it needs
 * (a child lookup, a readlink) and returns why it stopped. The union view
 * answers those reads synchronously from memory, the build context and host
 * roots asynchronously from disk: {@link resolveSync} and
 * {@link resolveAsync} drive the same walk for both, and each caller turns
 * the outcome into its own result and errors.
 * @module
 */

/** How the walk treats a node: descend into it, follow it, or stop at it. */
export type NodeKind = 'dir' | 'symlink' | 'other';

/** A read the walk needs: a name in a directory, or a symlink's target. */
export type PathRead<N> = { op: 'child'; dir: N; name: string } | { op: 'readlink'; node: N };

/** Why a walk stopped. */
export type WalkStop =
  /** Every component resolved: the top of `stack` is the object. */
  | 'found'
  /** `name` does not exist in the directory at the top of `stack`. */
  | 'missing'
  /** The top of `stack` is not a directory and `rest` still has components. */
  | 'notdir'
  /** Following `link` (named `name`) would pass the symlink limit. */
  | 'loop'
  /** `link` has an empty target (ENOENT for the kernel). */
  | 'empty-link'
  /** Policy `report` only: `link` has an absolute `target`, or a `..` after it climbs above the root. */
  | 'escape';

/** The outcome of a walk. */
export interface PathWalk<N> {
  stop: WalkStop;
  /** The resolved nodes, root first: the directories walked into, then the object for `found`/`notdir`. */
  stack: N[];
  /** The component the walk stopped on (`missing`, `loop`, `empty-link`). */
  name?: string;
  /** The symlink the walk stopped on (`loop`, `empty-link`, `escape`). */
  link?: N;
  /** `escape` by an absolute link: its target. */
  target?: string;
  /** The components not walked yet, in order (link targets already spliced in). */
  rest: string[];
  /** `found` ended on `.`/`..` or a link to the root: the top of `stack` is a directory named by no entry. */
  dotted: boolean;
}

/** What a walk needs to know besides the reads. */
export interface WalkOptions<N> {
  /** The root directory's node. */
  root: N;
  /** Classifies a node (synchronous: the node returned by a child read carries its type). */
  kindOf(node: N): NodeKind;
  /** Follow a symlink in the last component. */
  follow: boolean;
  /** Symlinks followed before the walk stops with `loop` (Linux: 40). */
  maxLinks: number;
  /**
   * `confine` (default): absolute targets restart at the root, `..` stops
   * there — chroot. `report`: stop with `escape` instead, on an absolute
   * target or on a `..` at the root once a symlink has been followed.
   */
  escape?: 'confine' | 'report';
}

/** Synchronous answers to a walk's reads; `child` is undefined for a missing name. */
export interface SyncPathReader<N> {
  child(dir: N, name: string): N | undefined;
  readlink(node: N): string;
}

/** Answers to a walk's reads, synchronous or not. */
export interface PathReader<N> {
  child(dir: N, name: string): N | undefined | Promise<N | undefined>;
  readlink(node: N): string | Promise<string>;
}

/** Linux's limit on symlinks followed in one lookup (ELOOP beyond it). */
export const LINUX_MAX_SYMLINKS = 40;
/** BuildKit's limit (continuity's `RootPath`) when resolving in the build context. */
export const CONTINUITY_MAX_SYMLINKS = 255;

/** The components of a path or link target; empty ones (from `//` or an edge `/`) dropped, `.`/`..` kept. */
export function pathComponents(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) if (part !== '') out.push(part);
  return out;
}

/** The components not walked yet, from the walk's reversed queue. */
function restOf(queue: string[]): string[] {
  return queue.slice().reverse();
}

/**
 * The walk itself: yields each read, receives its answer, returns why it
 * stopped. `path` is a path string (absolute or not: both start at the
 * root) or its components (none empty). Given `sync`, it asks that reader directly and
 * never yields: the union view resolves on every call, and a suspension per
 * component more than doubled the cost of a lookup.
 *
 * @example
 * ```ts
 * // A driver of one's own, e.g. one that batches or logs reads:
 * const walk = walkPath('/usr/lib/../bin', options);
 * let step = walk.next();
 * while (!step.done) step = walk.next(step.value.op === 'child' ? lookup(step.value.dir, step.value.name) : target(step.value.node));
 * step.value.stop; // 'found' | 'missing' | 'notdir' | 'loop' | 'empty-link' | 'escape'
 * ```
 */
export function* walkPath<N>(
  path: string | readonly string[],
  options: WalkOptions<N>,
  sync?: SyncPathReader<N>,
): Generator<PathRead<N>, PathWalk<N>, unknown> {
  const { kindOf, follow, maxLinks } = options;
  const report = options.escape === 'report';
  const stack: N[] = [options.root];
  // Components to walk, next one last.
  const queue = (typeof path === 'string' ? pathComponents(path) : path.slice()).reverse();
  let links = 0;
  let lastLink: N | undefined;
  let dotted = true;
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (name === '.') {
      dotted = true;
      continue;
    }
    if (name === '..') {
      if (stack.length > 1) stack.pop();
      else if (report && lastLink !== undefined) return { stop: 'escape', stack, link: lastLink, rest: restOf(queue), dotted: false };
      dotted = true;
      continue;
    }
    const dir = stack[stack.length - 1]!;
    const node = sync ? sync.child(dir, name) : ((yield { op: 'child', dir, name }) as N | undefined);
    if (node === undefined) return { stop: 'missing', stack, name, rest: restOf(queue), dotted: false };
    const kind = kindOf(node);
    if (kind === 'symlink' && (follow || queue.length > 0)) {
      if (++links > maxLinks) return { stop: 'loop', stack, name, link: node, rest: restOf(queue), dotted: false };
      const target = sync ? sync.readlink(node) : ((yield { op: 'readlink', node }) as string);
      if (target === '') return { stop: 'empty-link', stack, name, link: node, rest: restOf(queue), dotted: false };
      lastLink = node;
      if (target.startsWith('/')) {
        if (report) return { stop: 'escape', stack, name, link: node, target, rest: restOf(queue), dotted: false };
        stack.length = 1;
      }
      const parts = pathComponents(target);
      for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i]!);
      // A link to "/" ends the walk on the root, which no entry names.
      dotted = true;
      continue;
    }
    stack.push(node);
    dotted = false;
    if (kind !== 'dir' && queue.length > 0) return { stop: 'notdir', stack, rest: restOf(queue), dotted: false };
  }
  return { stop: 'found', stack, rest: [], dotted };
}

/**
 * Resolves `path` over synchronous reads.
 *
 * @example
 * ```ts
 * // nodes are plain objects: { kind, children?, target? }
 * const walk = resolveSync('/etc/../bin/sh', { root, kindOf: (n) => n.kind, follow: true, maxLinks: LINUX_MAX_SYMLINKS }, {
 *   child: (dir, name) => dir.children?.get(name),
 *   readlink: (node) => node.target ?? '',
 * });
 * walk.stop; // 'found' — walk.stack ends with the node of /bin/sh's target
 * ```
 */
export function resolveSync<N>(path: string | readonly string[], options: WalkOptions<N>, reader: SyncPathReader<N>): PathWalk<N> {
  const step = walkPath(path, options, reader).next();
  if (!step.done) throw new Error('a synchronous walk yielded a read');
  return step.value;
}

/**
 * Resolves `path` over reads that may be asynchronous (a file system on
 * disk). Errors thrown by the reader propagate unchanged.
 *
 * @example
 * ```ts
 * const walk = await resolveAsync('/etc/resolv.conf', { root, kindOf, follow: true, maxLinks: LINUX_MAX_SYMLINKS }, {
 *   child: async (dir, name) => lstatOrUndefined(dir.path + '/' + name),
 *   readlink: (node) => readlink(hostRoot + node.path),
 * });
 * ```
 */
export async function resolveAsync<N>(path: string | readonly string[], options: WalkOptions<N>, reader: PathReader<N>): Promise<PathWalk<N>> {
  const walk = walkPath(path, options);
  let step = walk.next();
  while (!step.done) {
    const read = step.value;
    step = walk.next(await (read.op === 'child' ? reader.child(read.dir, read.name) : reader.readlink(read.node)));
  }
  return step.value;
}
