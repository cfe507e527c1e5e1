/**
 * Where COPY/ADD read from: the build context (or a named context
 * directory), or the file system of a stage or image (`COPY --from`).
 * Both select sources the same way — wildcards in Go `filepath.Match`
 * syntax, a final symlink followed inside the source's root, a directory
 * copied as its contents, `--exclude` below it.
 * @module
 */
import type { BuildContext } from '../../context/context.js';
import { goClean, goMatch, splitWildcards } from '../../context/go-path.js';
import { PatternMatcher } from '../../context/patternmatcher.js';
import type { CopySource } from '../../context/sources.js';
import type { Entry, EntryType } from '../../layers/entry.js';
import type { LowerNode } from '../../unionfs/inode.js';
import { entryOf } from '../../unionfs/commit.js';
import type { LowerStack } from '../../unionfs/lower-stack.js';
import { CopyTarget } from './target.js';

/** One object to copy: a source as written, or one wildcard match of it. */
export type CopyItem = Pick<CopySource, 'source' | 'path' | 'name' | 'type' | 'entries'>;

/** Options of {@link SourceFs.select}. */
export interface SelectOptions {
  excludes?: readonly string[];
}

/** A file system COPY can read from. */
export interface SourceFs {
  /** `context` for a build context, `rootfs` for a stage or image. */
  readonly kind: 'context' | 'rootfs';
  /** A short description for messages (`context`, `stage build`, `image alpine`). */
  readonly label: string;
  /** For a stage or image: what identifies its content (a chain key), when the caller gave one. */
  readonly identity?: string;
  /**
   * The objects `sources` name. A wildcard matching nothing yields nothing;
   * a plain source naming nothing throws (the caller turns it into a
   * positioned error).
   */
  select(sources: readonly string[], options?: SelectOptions): Promise<CopyItem[]>;
}

/**
 * Who watches a context source: told what each `select()` chose, and, with
 * `observe`, handed every entry read (a checksum tap hashes the copy's own
 * reads that way).
 */
export interface ContextWatcher {
  selected(sources: readonly CopySource[]): void;
  observe?(entry: Entry): Entry;
}

/**
 * A build context as a COPY source, optionally watched (see
 * {@link ContextWatcher}).
 *
 * @example
 * ```ts
 * const fs = contextSourceFs(context, 'context', { selected: (s) => tap.add(s), observe: (e) => tap.observe(e) });
 * ```
 */
export function contextSourceFs(context: BuildContext, label = 'context', watcher?: ContextWatcher): SourceFs {
  return {
    kind: 'context',
    label,
    async select(sources, options = {}) {
      const selected = await context.resolveSources(sources, options.excludes && options.excludes.length > 0 ? { excludes: options.excludes } : {});
      watcher?.selected(selected);
      const observe = watcher?.observe?.bind(watcher);
      if (!observe) return selected;
      return selected.map((item) => ({
        source: item.source,
        path: item.path,
        name: item.name,
        type: item.type,
        async *entries() {
          for await (const { rel, entry } of item.entries()) yield { rel, entry: observe(entry) };
        },
      }));
    },
  };
}

/** Thrown by a rootfs source that names nothing. */
export class RootfsNotFoundError extends Error {
  constructor(readonly source: string) {
    super(`"${source}": not found`);
  }
}

/**
 * The file system of a stage or image as a COPY source. Paths start at its
 * root; `..` stops there; symlinks are followed inside it.
 */
export function rootfsSourceFs(stack: LowerStack, label: string, identity?: string): SourceFs {
  const view = new CopyTarget(stack);
  return {
    kind: 'rootfs',
    label,
    ...(identity === undefined ? {} : { identity }),
    async select(sources, options = {}) {
      const excludes = options.excludes && options.excludes.length > 0 ? new PatternMatcher(options.excludes) : undefined;
      const out: CopyItem[] = [];
      for (const source of sources) {
        const path = goClean('/' + source);
        const [head, pattern] = splitWildcards(path);
        const matches = pattern === '' ? [path] : matchWildcard(view, stack, view.resolve(head), pattern);
        for (const match of matches) {
          const resolved = view.resolve(match, true);
          const node = stack.lookup(resolved);
          if (!node) {
            if (pattern === '') throw new RootfsNotFoundError(source);
            continue;
          }
          out.push(rootfsItem(stack, source, match, resolved, node, excludes));
        }
      }
      return out;
    },
  };
}

/** fsutil's `resolveWildcards`: walk below `base`, matching the pattern against relative paths. */
function matchWildcard(view: CopyTarget, stack: LowerStack, base: string, pattern: string): string[] {
  const depth = pattern.split('/').length;
  const out: string[] = [];
  const walk = (dir: string, rel: string, level: number): void => {
    const node = stack.lookup(dir);
    if (!node || node.type !== 'dir') return;
    for (const name of [...node.children.keys()].sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childPath = dir === '/' ? `/${name}` : `${dir}/${name}`;
      let matched = false;
      try {
        matched = goMatch(pattern, childRel);
      } catch {
        matched = false;
      }
      if (matched) {
        out.push(childPath);
        continue;
      }
      if (level + 1 < depth) walk(view.resolve(childPath, false), childRel, level + 1);
    }
  };
  walk(base, '', 0);
  return out;
}

function rootfsItem(stack: LowerStack, source: string, path: string, resolved: string, root: LowerNode, excludes: PatternMatcher | undefined): CopyItem {
  return {
    source,
    path,
    name: path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1),
    type: root.type as EntryType,
    async *entries() {
      const firstNames = new Map<object, string>();
      function* walk(node: LowerNode, nodePath: string, rel: string): Generator<{ rel: string; entry: Entry }> {
        if (rel !== '' && excludes?.matches(rel)) {
          if (node.type !== 'dir' || !excludes.hasExclusions) return;
        } else {
          const entry = entryOf(nodePath, node);
          if (node.type !== 'dir' && stack.links.has(node)) {
            const first = firstNames.get(node);
            if (first !== undefined) {
              yield { rel, entry: { ...entry, type: 'hardlink', size: 0, linkname: first, content: undefined } };
              return;
            }
            firstNames.set(node, nodePath);
          }
          yield { rel, entry };
        }
        if (node.type === 'dir') {
          for (const name of [...node.children.keys()].sort()) {
            const child = node.children.get(name)!;
            yield* walk(child, nodePath === '/' ? `/${name}` : `${nodePath}/${name}`, rel === '' ? name : `${rel}/${name}`);
          }
        }
      }
      yield* walk(root, resolved, '');
    },
  };
}
