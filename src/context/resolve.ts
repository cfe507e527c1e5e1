/**
 * Path resolution inside the context: COPY/ADD source text → context paths,
 * symlinks followed with the context as the root, wildcards expanded with
 * Go's `filepath.Match` (what BuildKit's COPY uses — not `.dockerignore`
 * syntax).
 * @module
 */
import { readlink } from 'node:fs/promises';
import { CONTINUITY_MAX_SYMLINKS, resolveAsync, type NodeKind } from '../layers/resolve-path.js';
import { ContextError, ContextFsError } from './errors.js';
import { BadPatternError, goClean, goMatch, splitWildcards } from './go-path.js';
import type { ContextNode, ContextTree } from './tree.js';

/**
 * What to do when a source, or a symlink met while resolving it, points
 * outside the context.
 * - `reject` (default): fail with `CONTEXT_OUTSIDE` — a `..` that climbs above
 *   the context root, or a symlink with an absolute target or one whose
 *   relative target climbs above the root. The classic Docker builder rejects
 *   `COPY ../x` the same way ("forbidden path outside the build context").
 * - `confine`: resolve as BuildKit does, as if the context were `/` under
 *   chroot: `..` stops at the root and an absolute target starts at the
 *   context root (`COPY ../x` reads the context's `x`; a link to `/etc/passwd`
 *   reads the context's `etc/passwd`, usually "not found").
 * Neither ever reads a file outside the context.
 */
export type EscapePolicy = 'reject' | 'confine';

/** BuildKit gives up after this many symlinks on one path (continuity `RootPath`). */
const MAX_LINKS = CONTINUITY_MAX_SYMLINKS;

const kindOf = (node: ContextNode): NodeKind => (node.type === 'dir' ? 'dir' : node.type === 'symlink' ? 'symlink' : 'other');

/** The outcome of resolving a context path. */
export interface Resolution {
  /** The object found, or undefined when the path does not exist in the context. */
  node: ContextNode | undefined;
  /** Why it was not found: a missing name, or a non-directory in the middle. */
  missing?: 'ENOENT' | 'ENOTDIR';
}

/**
 * The absolute context path a COPY/ADD source names: relative and absolute
 * sources both start at the context root; `.`/`..`/`//` are cleaned; a
 * trailing `/` or `/.` changes nothing.
 *
 * @throws {@link ContextError} `CONTEXT_OUTSIDE` under `reject` when `..` climbs above the root.
 */
export function sourcePath(source: string, escape: EscapePolicy): string {
  if (escape === 'confine') return goClean('/' + source);
  const relative = goClean(source.replace(/^\/+/, ''));
  if (relative === '..' || relative.startsWith('../')) {
    throw new ContextError('CONTEXT_OUTSIDE', `forbidden path outside the build context: ${source}`, {
      source,
      reason: '".." climbs above the context root',
    });
  }
  return relative === '.' ? '/' : '/' + relative;
}

/** Resolves context paths over a {@link ContextTree}, never leaving it. */
export class Resolver {
  readonly #links = new Map<string, Promise<string>>();

  constructor(readonly tree: ContextTree) {}

  /** The target of a symlink node, memoized like the rest of the view. */
  readlink(node: ContextNode): Promise<string> {
    let target = this.#links.get(node.path);
    if (!target) {
      target = readlink(this.tree.hostPath(node.path)).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EINVAL' && code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        // Listed as a symlink, now a file or gone: another process changed the context while it was read.
        const reason = code === 'EINVAL' ? 'it is no longer a symbolic link' : 'it is gone';
        throw new ContextError('CONTEXT_CHANGED', `${node.path} changed while the context was being read: ${reason}`, { path: node.path, reason }, { cause: err });
      });
      this.#links.set(node.path, target);
    }
    return target;
  }

  /**
   * Resolves an absolute context path, following symlinks in every component
   * and, when `followFinal`, in the last one too.
   *
   * @param options.source the COPY source being resolved, reported in errors.
   * @throws {@link ContextError} `CONTEXT_OUTSIDE` (policy `reject`) for a symlink leading out.
   * @throws {@link ContextFsError} `ELOOP` after 255 symlinks.
   */
  async resolve(
    path: string,
    options: { followFinal: boolean; escape: EscapePolicy; source?: string },
  ): Promise<Resolution> {
    const { followFinal, escape, source } = options;
    const walk = await resolveAsync<ContextNode>(
      path,
      { root: await this.tree.root(), kindOf, follow: followFinal, maxLinks: MAX_LINKS, escape: escape === 'reject' ? 'report' : 'confine' },
      { child: (dir, name) => this.tree.child(dir, name), readlink: (node) => this.readlink(node) },
    );
    switch (walk.stop) {
      case 'found':
        return { node: walk.stack[walk.stack.length - 1] };
      case 'notdir':
        return { node: undefined, missing: 'ENOTDIR' };
      case 'loop':
        throw new ContextFsError('ELOOP', 'stat', path);
      case 'escape':
        throw this.#outside(walk.link!, source, walk.target);
      default:
        return { node: undefined, missing: 'ENOENT' };
    }
  }

  /**
   * Expands a wildcard source the way BuildKit's COPY does: the components
   * before the first wildcard are resolved (symlinks followed), then the
   * directory below is walked and each path relative to it is tested with
   * `filepath.Match` against the rest; a matching directory is taken whole
   * (nothing below it is tested). Matches come in walk order (siblings in byte
   * order).
   *
   * @returns the matched context paths, or undefined when `path` has no wildcard.
   * @throws {@link ContextError} `CONTEXT_NOT_FOUND` when the part before the wildcard does not exist,
   *   `CONTEXT_BAD_PATTERN` for a malformed wildcard.
   */
  async expand(path: string, source: string, escape: EscapePolicy): Promise<string[] | undefined> {
    const [base, pattern] = splitWildcards(path);
    if (pattern === '') return undefined;
    const { node } = await this.resolve(base, { followFinal: true, escape, source });
    if (!node) throw notFound(source, base);
    if (node.type !== 'dir') return [];
    // `*` and `?` never match '/', but a class can: each '/' of a path needs a '/' or a class.
    const maxDepth = 1 + count(pattern, '/') + count(pattern, '[');
    const matches: string[] = [];
    const visit = async (dir: ContextNode, prefix: string, depth: number): Promise<void> => {
      for (const child of await this.tree.list(dir)) {
        const name = child.path.slice(child.path.lastIndexOf('/') + 1);
        const rel = prefix === '' ? name : `${prefix}/${name}`;
        if (matchWildcard(pattern, rel, source)) matches.push(child.path);
        else if (child.type === 'dir' && depth < maxDepth) await visit(child, rel, depth + 1);
      }
    };
    await visit(node, '', 1);
    return matches;
  }

  #outside(link: ContextNode, source: string | undefined, target?: string): ContextError {
    const reason = target === undefined ? 'symlink target climbs above the context root' : 'symlink target is absolute';
    return new ContextError('CONTEXT_OUTSIDE', `${source ?? link.path}: ${link.path} points outside the build context`, {
      ...(source === undefined ? {} : { source }),
      path: link.path,
      ...(target === undefined ? {} : { target }),
      reason,
    });
  }
}

function matchWildcard(pattern: string, rel: string, source: string): boolean {
  try {
    return goMatch(pattern, rel);
  } catch (err) {
    if (!(err instanceof BadPatternError)) throw err;
    throw new ContextError('CONTEXT_BAD_PATTERN', `syntax error in pattern ${JSON.stringify(source)}`, {
      source,
      pattern,
      reason: 'not a valid filepath.Match pattern',
    });
  }
}

/** BuildKit's words for a COPY source that names nothing. */
export function notFound(source: string, path: string): ContextError {
  return new ContextError('CONTEXT_NOT_FOUND', `failed to compute cache key: ${JSON.stringify(path)}: not found`, {
    source,
    path,
  });
}

function count(text: string, ch: string): number {
  let n = 0;
  for (const c of text) if (c === ch) n++;
  return n;
}

