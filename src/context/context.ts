/**
 * The build context: a read-only view of a directory after `.dockerignore`,
 * as a Docker/BuildKit build sees it.
 * @module
 */
import { readFile, realpath, stat as hostStat } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolveHost } from 'node:path';
import type { Digest } from '../digest.js';
import type { Entry } from '../layers/entry.js';
import { checksumSelection, type ChecksumOptions } from './checksum.js';
import { ChecksumTap } from './checksum-tap.js';
import { DOCKERIGNORE, dockerfileIgnoreName, parseDockerignore } from './dockerignore.js';
import { ContextFsError } from './errors.js';
import { PatternMatcher, type PatternOrigin } from './patternmatcher.js';
import { Resolver, type EscapePolicy } from './resolve.js';
import { resolveCopySources, type CopySource, type ResolveSourcesOptions } from './sources.js';
import { ContextTree, type ContextNode } from './tree.js';
import { nodeEntries, nodeEntry, walkNodes, type EntryOptions } from './walk.js';
import { getfattrReader, type XattrReader } from './xattrs.js';

/** Options of {@link openContext}. */
export interface OpenContextOptions {
  /**
   * The Dockerfile, relative to the context directory or absolute (it may
   * live outside the context). Default `Dockerfile`, falling back to
   * `dockerfile` as BuildKit does. `<this path>.dockerignore` takes precedence
   * over the context's `.dockerignore`.
   */
  dockerfilePath?: string;
  /** Use these patterns instead of reading any ignore file. */
  excludes?: readonly string[];
  /**
   * Owner of the entries: `root` (default) gives uid/gid 0, as Docker and
   * BuildKit send the context; `host` keeps the ids on disk.
   */
  owner?: 'root' | 'host';
  /**
   * Extended attributes: `true` (default) reads them with `getfattr` when it
   * is installed (and silently goes without when it is not), `false` never
   * reads them, or a reader of your own.
   */
  xattrs?: boolean | XattrReader;
  /** How COPY sources that lead outside the context are treated (default `reject`). */
  escape?: EscapePolicy;
}

/** Which ignore patterns a context applies, and where they came from. */
export interface IgnoreInfo {
  /** The ignore file read (host path), or undefined if none was (or `excludes` was given). */
  file: string | undefined;
  /** The cleaned patterns, in order. */
  patterns: readonly string[];
}

/**
 * Opens a build context directory.
 *
 * The ignore patterns are chosen as BuildKit chooses them: `excludes` if
 * given; else `<Dockerfile>.dockerignore` next to the Dockerfile if it exists;
 * else the context's `.dockerignore` (a symlink is followed, inside the
 * context). Malformed patterns fail here.
 *
 * @throws {@link ContextFsError} `ENOENT`/`ENOTDIR` when `dir` is not a directory.
 * @throws {@link ContextError} `CONTEXT_BAD_PATTERN` for a malformed ignore file.
 * @example
 * ```ts
 * const ctx = await openContext('./app', { dockerfilePath: 'docker/Dockerfile.prod' });
 * for await (const entry of ctx.walk()) console.log(entry.path, entry.type, entry.size);
 * ```
 */
export async function openContext(dir: string, options: OpenContextOptions = {}): Promise<BuildContext> {
  let hostRoot: string;
  try {
    hostRoot = await realpath(dir);
  } catch {
    throw new ContextFsError('ENOENT', 'open', dir);
  }
  if (!(await hostStat(hostRoot)).isDirectory()) throw new ContextFsError('ENOTDIR', 'open', dir);
  const given = resolveHost(dir, options.dockerfilePath ?? 'Dockerfile');
  const dockerfile = await firstFile(
    options.dockerfilePath === undefined || basename(given) === 'Dockerfile'
      ? [given, join(dirname(given), 'dockerfile')]
      : [given],
  );
  const ignore = await readIgnore(hostRoot, given, options.excludes);
  const matcher = new PatternMatcher(ignore.patterns, ignore.origins);
  let xattrs: XattrReader | undefined;
  if (options.xattrs === undefined || options.xattrs === true) xattrs = await getfattrReader();
  else if (options.xattrs !== false) xattrs = options.xattrs;
  return new BuildContext(hostRoot, new ContextTree(hostRoot, matcher), {
    dockerfile,
    dockerfileWanted: given,
    ignore: { file: ignore.file, patterns: ignore.patterns },
    owner: options.owner ?? 'root',
    escape: options.escape ?? 'reject',
    xattrs,
  });
}

async function firstFile(candidates: string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if ((await hostStat(candidate).catch(() => undefined))?.isFile()) return candidate;
  }
  return undefined;
}

async function readIgnore(
  hostRoot: string,
  dockerfilePath: string,
  excludes: readonly string[] | undefined,
): Promise<{ file: string | undefined; patterns: string[]; origins: PatternOrigin[] }> {
  if (excludes) return { file: undefined, patterns: [...excludes], origins: excludes.map(() => ({ file: 'excludes' })) };
  const specific = dockerfileIgnoreName(dockerfilePath);
  const content = await readFile(specific).catch(() => undefined);
  if (content) return { file: specific, ...parseDockerignore(content, basename(specific)) };
  // The context's .dockerignore, symlinks followed without leaving the context.
  const tree = new ContextTree(hostRoot);
  const { node } = await new Resolver(tree).resolve('/' + DOCKERIGNORE, { followFinal: true, escape: 'confine' });
  if (!node || node.type !== 'file') return { file: undefined, patterns: [], origins: [] };
  const file = tree.hostPath(node.path);
  return { file, ...parseDockerignore(await readFile(file), DOCKERIGNORE) };
}

interface ContextSettings {
  dockerfile: string | undefined;
  /** Where the Dockerfile was looked for, for the error when it is missing. */
  dockerfileWanted: string;
  ignore: IgnoreInfo;
  owner: 'root' | 'host';
  escape: EscapePolicy;
  xattrs: XattrReader | undefined;
}

/**
 * A read-only view of a build context after `.dockerignore`: what COPY and
 * ADD can read, and what the build cache hashes. Paths are POSIX and absolute
 * from the context root (`/src/app.ts`); a relative path means the same. The
 * view is a snapshot of names and metadata taken as directories are first
 * listed; contents are read from disk when asked for.
 *
 * The fs-shaped methods resolve symlinks the way a process chrooted into the
 * context would (`..` stops at the root, absolute targets start at it), so
 * they never reach outside; a path hidden by `.dockerignore` is `ENOENT`.
 *
 * @example
 * ```ts
 * const ctx = await openContext('.');
 * if (await ctx.exists('/package.json')) console.log(JSON.parse(new TextDecoder().decode(await ctx.readFile('/package.json'))));
 * ```
 */
export class BuildContext {
  /** The context directory on the host (symlinks resolved). */
  readonly root: string;
  /**
   * The Dockerfile (host path), if found. It is read for the build even when
   * `.dockerignore` excludes it — but then COPY cannot see it, as in BuildKit.
   */
  readonly dockerfile: string | undefined;
  readonly ignore: IgnoreInfo;
  readonly #tree: ContextTree;
  readonly #resolver: Resolver;
  readonly #settings: ContextSettings;
  readonly #entryOptions: EntryOptions;
  readonly #xattrs = new Map<string, Promise<Map<string, Record<string, Uint8Array>>>>();

  /** Use {@link openContext}. */
  constructor(root: string, tree: ContextTree, settings: ContextSettings) {
    this.root = root;
    this.dockerfile = settings.dockerfile;
    this.ignore = settings.ignore;
    this.#tree = tree;
    this.#resolver = new Resolver(tree);
    this.#settings = settings;
    this.#entryOptions = { resolver: this.#resolver, owner: settings.owner, xattrs: settings.xattrs };
  }

  /**
   * The Dockerfile's bytes, whether or not `.dockerignore` excludes it.
   * @throws {@link ContextFsError} `ENOENT` when there is no Dockerfile.
   */
  async readDockerfile(): Promise<Uint8Array> {
    if (!this.dockerfile) throw new ContextFsError('ENOENT', 'open', this.#settings.dockerfileWanted);
    return readFile(this.dockerfile);
  }

  /** The entry at `path`, a symlink itself rather than its target. */
  async lstat(path: string): Promise<Entry> {
    return this.#entry(await this.#node(path, false, 'lstat'));
  }

  /** The entry at `path` with symlinks followed (its `path` is where they led). */
  async stat(path: string): Promise<Entry> {
    return this.#entry(await this.#node(path, true, 'stat'));
  }

  /** Whether `path` exists in the view (symlinks followed). */
  async exists(path: string): Promise<boolean> {
    const { node } = await this.#resolver.resolve(cleanViewPath(path), { followFinal: true, escape: 'confine' });
    return node !== undefined;
  }

  /**
   * A file's content source, opened lazily: nothing is read until `open()`.
   * @throws {@link ContextFsError} `EISDIR` for a directory, `EINVAL` for other non-files.
   */
  async contentSource(path: string): Promise<NonNullable<Entry['content']>> {
    const node = await this.#node(path, true, 'open');
    if (node.type === 'dir') throw new ContextFsError('EISDIR', 'read', path);
    if (node.type !== 'file') throw new ContextFsError('EINVAL', 'read', path);
    return (await this.#entry(node)).content!;
  }

  /** A whole file, symlinks followed. */
  async readFile(path: string): Promise<Uint8Array> {
    const source = await this.contentSource(path);
    const out = new Uint8Array(source.size);
    let offset = 0;
    for await (const chunk of source.open()) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  /** A symlink's target as written. @throws {@link ContextFsError} `EINVAL` when not a symlink. */
  async readlink(path: string): Promise<string> {
    const node = await this.#node(path, false, 'readlink');
    if (node.type !== 'symlink') throw new ContextFsError('EINVAL', 'readlink', path);
    return this.#resolver.readlink(node);
  }

  /** The names in a directory, in byte order. */
  async readdir(path: string): Promise<string[]> {
    const node = await this.#node(path, true, 'scandir');
    if (node.type !== 'dir') throw new ContextFsError('ENOTDIR', 'scandir', path);
    return (await this.#tree.list(node)).map((child) => child.path.slice(child.path.lastIndexOf('/') + 1));
  }

  /**
   * Every entry at and below `path` (default: the whole context), depth-first
   * with siblings in byte order, so a directory's contents follow it.
   * Symlinks are yielded, never followed (a symlink `path` yields just
   * itself). Files sharing an inode come as one `file` and `hardlink`s to it.
   *
   * @example
   * ```ts
   * for await (const e of ctx.walk('/src')) if (e.type === 'file') console.log(e.path, e.size);
   * ```
   */
  async *walk(path = '/'): AsyncGenerator<Entry> {
    const start = await this.#node(path, false, 'scandir');
    for await (const { entry } of nodeEntries(walkNodes(this.#tree, start), this.#entryOptions)) yield entry;
  }

  /**
   * Selects what `COPY <sources…> <dest>` copies, as BuildKit does:
   * - each source starts at the context root, whether written `a`, `./a` or
   *   `/a`; `..` that climbs out is rejected (policy `reject`, default) or
   *   stopped at the root (`confine`, BuildKit's behaviour);
   * - a source with `*`, `?` or `[` is a wildcard in Go `filepath.Match`
   *   syntax (not `.dockerignore` syntax: no `**`); the part before the first
   *   wildcard component is resolved and the rest matched below it, each
   *   match a separate {@link CopySource}; a wildcard matching nothing is
   *   skipped (see `allowEmptyWildcard`);
   * - a source (or match) that is a symlink is followed with the context as
   *   root; symlinks inside copied directories stay symlinks;
   * - a directory is copied as its contents; `--exclude` patterns apply
   *   below it.
   *
   * @throws {@link ContextError} `CONTEXT_NOT_FOUND` for a source naming nothing (BuildKit:
   *   `failed to compute cache key: "/x": not found`), `CONTEXT_OUTSIDE`, `CONTEXT_BAD_PATTERN`.
   * @example
   * ```ts
   * const sel = await ctx.resolveSources(['package*.json', 'src/'], { excludes: ['tests', '*.md'] });
   * for (const s of sel) for await (const { rel, entry } of s.entries()) console.log(s.name, rel, entry.type);
   * ```
   */
  resolveSources(sources: readonly string[], options: ResolveSourcesOptions = {}): Promise<CopySource[]> {
    return resolveCopySources(this, this.#resolver, this.#entryOptions, sources, {
      ...options,
      escape: options.escape ?? this.#settings.escape,
    });
  }

  /**
   * The build-cache checksum of a selection from {@link resolveSources}:
   * relative paths, types, modes, owners, sizes, link targets, xattrs and
   * contents — not timestamps. See `docs/build-context.md` for the exact
   * records.
   *
   * @example
   * ```ts
   * const cache = new StatCache('.layerkit/cache');
   * const key = await ctx.checksum(await ctx.resolveSources(['.']), { cache });
   * ```
   */
  async checksum(selection: readonly CopySource[], options: ChecksumOptions = {}): Promise<Digest> {
    return checksumSelection(this, this.root, selection, options);
  }

  /**
   * Starts a checksum taken from a copy's own reads: add the sources the
   * copy selects, pass every entry it copies through `observe()` (file
   * contents are hashed as they are read, xattrs taken from the entry), and
   * `digest()` gives what {@link checksum} would give for that selection —
   * without reading the files a second time. With a `cache`, the stat
   * index learns every file the copy read (its fence is taken here, before
   * any read).
   *
   * @example
   * ```ts
   * const tap = await ctx.tapChecksum({ cache });
   * const sources = await ctx.resolveSources(['src']);
   * tap.add(sources);
   * for (const source of sources) for await (const { entry } of source.entries()) await copy(tap.observe(entry));
   * console.log(await tap.digest());
   * ```
   */
  async tapChecksum(options: ChecksumOptions = {}): Promise<ChecksumTap> {
    const fence = options.cache ? await options.cache.fence() : 0n;
    const host = { context: this, root: this.root, readsXattrs: this.#settings.xattrs !== undefined };
    return new ChecksumTap(host, options, fence);
  }

  async #node(path: string, followFinal: boolean, syscall: string): Promise<ContextNode> {
    const { node, missing } = await this.#resolver.resolve(cleanViewPath(path), { followFinal, escape: 'confine' });
    if (!node) throw new ContextFsError(missing ?? 'ENOENT', syscall, path);
    return node;
  }

  async #entry(node: ContextNode): Promise<Entry> {
    const entry = await nodeEntry(node, this.#entryOptions);
    const xattrs = (await this.#siblingXattrs(node))?.get(this.#tree.hostPath(node.path));
    if (xattrs) entry.xattrs = xattrs;
    return entry;
  }

  /** Xattrs of a node and its siblings, read in one batch and remembered like the listings. */
  #siblingXattrs(node: ContextNode): Promise<Map<string, Record<string, Uint8Array>>> | undefined {
    const reader = this.#settings.xattrs;
    if (!reader) return undefined;
    const parent = node.path === '/' ? '' : node.path.slice(0, node.path.lastIndexOf('/')) || '/';
    let batch = this.#xattrs.get(parent);
    if (!batch) {
      batch = (async () => {
        if (parent === '') return reader.read([this.#tree.hostPath('/')]);
        const { node: dir } = await this.#resolver.resolve(parent, { followFinal: true, escape: 'confine' });
        const siblings = dir ? await this.#tree.list(dir) : [node];
        return reader.read(siblings.map((sibling) => this.#tree.hostPath(sibling.path)));
      })();
      this.#xattrs.set(parent, batch);
    }
    return batch;
  }
}

function cleanViewPath(path: string): string {
  return path.startsWith('/') ? path : '/' + path;
}
