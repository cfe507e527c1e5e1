/**
 * COPY/ADD source selection over the context view, as BuildKit's Dockerfile
 * frontend and file-op backend perform it.
 * @module
 */
import type { Entry, EntryType } from '../layers/entry.js';
import { ContextError } from './errors.js';
import { PatternMatcher } from './patternmatcher.js';
import { notFound, sourcePath, type EscapePolicy, type Resolver } from './resolve.js';
import type { ContextNode } from './tree.js';
import { nodeEntries, walkNodes, type EntryOptions, type WalkedNode } from './walk.js';

/** Options of {@link BuildContext.resolveSources}. */
export interface ResolveSourcesOptions {
  /**
   * COPY/ADD `--exclude` patterns (`.dockerignore` syntax, matched against
   * paths relative to each source directory; a source named or matched
   * itself is never excluded).
   */
  excludes?: readonly string[];
  /**
   * Follow a symlink that is itself a source or a wildcard match (default
   * true, as COPY does). Symlinks inside copied directories are never
   * followed. Links are followed with the context as the root; see `escape`.
   */
  followFinalSymlink?: boolean;
  /**
   * A wildcard that matches nothing is skipped silently (default true, as
   * BuildKit's COPY does: `COPY foo nomatch* /` copies `foo`); false makes it
   * a `CONTEXT_NOT_FOUND` error. A source without wildcards that names
   * nothing is always an error.
   */
  allowEmptyWildcard?: boolean;
  /** Overrides the context's {@link EscapePolicy} for these sources. */
  escape?: EscapePolicy;
}

/** One object a COPY/ADD copies: a source as written, or one wildcard match of it. */
export interface CopySource {
  /** The source as written in the instruction. */
  readonly source: string;
  /** The context path it names or matched (before following a final symlink). */
  readonly path: string;
  /** Where the bytes come from: `path` with a final symlink followed. */
  readonly resolvedPath: string;
  /**
   * The base name of `path`: what COPY calls a non-directory source inside a
   * destination directory (`''` for the context root).
   */
  readonly name: string;
  /** The type of the object at `resolvedPath`; a directory is copied as its contents. */
  readonly type: EntryType;
  /**
   * The object and, for a directory, everything below it after `--exclude`:
   * the root first (`rel` `''`), then depth-first with siblings in byte order.
   * Entry paths are context paths; `rel` is relative to `resolvedPath`.
   */
  entries(): AsyncIterable<SourceEntry>;
}

/** An entry of a {@link CopySource}, with its path relative to the source root. */
export interface SourceEntry {
  rel: string;
  entry: Entry;
}

/** What checksums need to reach behind a CopySource. */
export interface SourceInternals {
  /** The context that made the source. */
  context: object;
  root: ContextNode;
  excludes: PatternMatcher | undefined;
  options: EntryOptions;
  /**
   * What the source's checksum depends on besides the context: the object it
   * names, its name and type, and the `--exclude` patterns. Two sources with
   * the same identity from one context walk the same nodes.
   */
  identity: string;
  walk(): AsyncGenerator<WalkedNode>;
}

/** The internals of sources created by a context (not part of the public API). */
export const sourceInternals = new WeakMap<CopySource, SourceInternals>();

/**
 * Resolves COPY/ADD sources (see {@link BuildContext.resolveSources}).
 * @internal
 */
export async function resolveCopySources(
  context: object,
  resolver: Resolver,
  entryOptions: EntryOptions,
  sources: readonly string[],
  options: ResolveSourcesOptions & { escape: EscapePolicy },
): Promise<CopySource[]> {
  const { escape, followFinalSymlink = true, allowEmptyWildcard = true } = options;
  const excludes = options.excludes?.length
    ? new PatternMatcher(
        options.excludes,
        options.excludes.map(() => ({ file: '--exclude' })),
      )
    : undefined;
  const out: CopySource[] = [];
  for (const source of sources) {
    const path = sourcePath(source, escape);
    let matches = await resolver.expand(path, source, escape);
    if (matches === undefined) matches = [path];
    else if (matches.length === 0 && !allowEmptyWildcard) throw notFound(source, path);
    for (const match of matches) {
      const { node } = await resolver.resolve(match, { followFinal: followFinalSymlink, escape, source });
      if (!node) throw notFound(source, match);
      out.push(makeSource(context, resolver, entryOptions, source, match, node, excludes, options.excludes ?? []));
    }
  }
  return out;
}

function makeSource(
  context: object,
  resolver: Resolver,
  entryOptions: EntryOptions,
  source: string,
  path: string,
  root: ContextNode,
  excludes: PatternMatcher | undefined,
  excludePatterns: readonly string[],
): CopySource {
  const walk = () => walkNodes(resolver.tree, root, excludes);
  const name = path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
  const copySource: CopySource = {
    source,
    path,
    resolvedPath: root.path,
    name,
    type: root.type,
    async *entries() {
      for await (const { rel, entry } of nodeEntries(walk(), entryOptions)) yield { rel, entry };
    },
  };
  const identity = JSON.stringify([root.path, root.type, name, excludes ? excludePatterns : []]);
  sourceInternals.set(copySource, { context, root, excludes, options: entryOptions, identity, walk });
  return copySource;
}

/** The internals of a source, checked to belong to `context`. */
export function internalsOf(source: CopySource, context: object): SourceInternals {
  const internals = sourceInternals.get(source);
  if (!internals || internals.context !== context) {
    throw new ContextError('CONTEXT_NOT_FOUND', `source ${JSON.stringify(source.source)} does not belong to this context`, {
      source: source.source,
      reason: 'selection from another context',
    });
  }
  return internals;
}
