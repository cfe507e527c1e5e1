/**
 * The context directory as the builder receives it: a lazily listed,
 * memoized snapshot of names and `lstat` results with `.dockerignore`
 * applied the way BuildKit's context transfer (tonistiigi/fsutil `FilterFS`)
 * applies it:
 * - a file matched by the patterns is absent;
 * - a directory matched by the patterns is absent *unless* something inside
 *   it is re-included by an exception, in which case the directory is present
 *   (with its real metadata) and holds only the re-included descendants;
 * - directories are only searched for such descendants when an exception
 *   could match inside them: when every exception is a plain path (no
 *   `*?[]^\` except a trailing `/*` or `/**`), a matched directory is skipped
 *   unless an exception lies below it; otherwise every matched directory is
 *   walked (as Docker does, at the same cost);
 * - symlinks are entries, never followed; a socket is an empty regular
 *   file (BuildKit's transfer clears the socket bit).
 *
 * Listings are memoized: once a directory has been listed the view does not
 * change, so everything computed from one context (sources, checksums,
 * entries) agrees on which files exist.
 * @module
 */
import { lstatSync, readdirSync, type BigIntStats, type Dirent } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { comparePaths, type EntryType } from '../layers/entry.js';
import { NO_PARENT_INFO, type MatchInfo, type PatternMatcher } from './patternmatcher.js';

/** One object of the context as seen after `.dockerignore`. */
export interface ContextNode {
  /** Absolute context path: `/` for the root, `/src/a.ts` below it. */
  readonly path: string;
  /** The same path relative to the root, as patterns see it (`src/a.ts`; `''` for the root). */
  readonly rel: string;
  readonly type: EntryType;
  readonly stats: NodeStats;
  /** True for a directory matched by `.dockerignore` but kept for re-included descendants. */
  readonly excluded: boolean;
  /** The ignore matcher's per-pattern results, inherited by children. */
  readonly info: MatchInfo;
}

const S_IFMT = 0o170000;
const SECOND_NS = 1_000_000_000n;

/** A number when the value is a safe integer, else the bigint. */
function compact(value: bigint): number | bigint {
  return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Nanoseconds as whole seconds (rounded down) and the nanoseconds left (0…999,999,999). */
function splitNs(ns: bigint): [number, number] {
  let seconds = ns / SECOND_NS;
  let rest = ns % SECOND_NS;
  if (rest < 0n) {
    seconds -= 1n;
    rest += SECOND_NS;
  }
  return [Number(seconds), Number(rest)];
}

/**
 * The parts of an lstat result a context node keeps. A `BigIntStats` holds
 * four `Date`s and eighteen bigints, about a kilobyte per file; ten bigints
 * are still two hundred bytes. Values are kept as numbers (small ones live
 * inside the object) and times as whole seconds plus nanoseconds; a value
 * that is not a safe integer (a 64-bit inode number) stays a bigint. The
 * getters give the `BigIntStats` fields back.
 */
export class NodeStats {
  readonly #dev: number | bigint;
  readonly #ino: number | bigint;
  readonly #rdev: number | bigint;
  readonly #size: number | bigint;
  readonly #mode: number;
  readonly #nlink: number;
  readonly #uid: number;
  readonly #gid: number;
  readonly #mtimeS: number;
  readonly #mtimeNsec: number;
  readonly #ctimeS: number;
  readonly #ctimeNsec: number;

  constructor(stats: Pick<BigIntStats, 'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'mtimeNs' | 'ctimeNs'>) {
    this.#dev = compact(stats.dev);
    this.#ino = compact(stats.ino);
    this.#rdev = compact(stats.rdev);
    this.#size = compact(stats.size);
    this.#mode = Number(stats.mode);
    this.#nlink = Number(stats.nlink);
    this.#uid = Number(stats.uid);
    this.#gid = Number(stats.gid);
    [this.#mtimeS, this.#mtimeNsec] = splitNs(stats.mtimeNs);
    [this.#ctimeS, this.#ctimeNsec] = splitNs(stats.ctimeNs);
  }

  get dev(): bigint {
    return BigInt(this.#dev);
  }

  get ino(): bigint {
    return BigInt(this.#ino);
  }

  get mode(): bigint {
    return BigInt(this.#mode);
  }

  get nlink(): bigint {
    return BigInt(this.#nlink);
  }

  get uid(): bigint {
    return BigInt(this.#uid);
  }

  get gid(): bigint {
    return BigInt(this.#gid);
  }

  get rdev(): bigint {
    return BigInt(this.#rdev);
  }

  get size(): bigint {
    return BigInt(this.#size);
  }

  get mtimeNs(): bigint {
    return BigInt(this.#mtimeS) * SECOND_NS + BigInt(this.#mtimeNsec);
  }

  get ctimeNs(): bigint {
    return BigInt(this.#ctimeS) * SECOND_NS + BigInt(this.#ctimeNsec);
  }

  /** The permission bits (`mode & 0o7777`), as a number: entries and checksum records need no bigint for them. */
  get permissions(): number {
    return this.#mode & 0o7777;
  }

  /** `uid` as a number. */
  get uidNumber(): number {
    return this.#uid;
  }

  /** `gid` as a number. */
  get gidNumber(): number {
    return this.#gid;
  }

  /** `size` as a number (a file cannot be 2^53 bytes long). */
  get sizeNumber(): number {
    return Number(this.#size);
  }

  /** The mtime in whole seconds, rounded down (the tar's precision). */
  get mtimeSeconds(): number {
    return this.#mtimeS;
  }

  /**
   * `dev:ino:size:mtimeNs:ctimeNs:mode` in decimal, as the stat index keys a
   * file: the same text as joining the bigint fields, without making them.
   */
  statKey(): string {
    return [this.#dev, this.#ino, this.#size, nsDecimal(this.#mtimeS, this.#mtimeNsec), nsDecimal(this.#ctimeS, this.#ctimeNsec), this.#mode].join(':');
  }

  /** The entry type of the file (see {@link entryType}); undefined for a type tar cannot hold. */
  get entryType(): EntryType | undefined {
    switch (this.#mode & S_IFMT) {
      case 0o100000:
      case 0o140000:
        return 'file';
      case 0o040000:
        return 'dir';
      case 0o120000:
        return 'symlink';
      case 0o020000:
        return 'char';
      case 0o060000:
        return 'block';
      case 0o010000:
        return 'fifo';
      default:
        return undefined;
    }
  }

  /**
   * Whether `dev`, `ino` and `size` are all safe integers, so that a
   * number (not bigint) fstat result can be compared with them: nearly
   * always, and it costs a quarter less than a bigint one.
   */
  get numericIdentity(): boolean {
    return typeof this.#dev === 'number' && typeof this.#ino === 'number' && typeof this.#size === 'number';
  }

  /** What differs in an fstat result (numbers or bigints) from these stats: the inode, the size, or nothing. */
  changeIn(now: { dev: number | bigint; ino: number | bigint; size: number | bigint }): 'inode' | 'size' | undefined {
    if (!sameInteger(now.ino, this.#ino) || !sameInteger(now.dev, this.#dev)) return 'inode';
    return sameInteger(now.size, this.#size) ? undefined : 'size';
  }

  /** `dev:ino`, the identity of the inode (for hardlinks). */
  get inodeKey(): string {
    return `${this.#dev}:${this.#ino}`;
  }

  /** Whether more than one name links to the inode. */
  get linked(): boolean {
    return this.#nlink > 1;
  }

  #is(type: number): boolean {
    return (this.#mode & S_IFMT) === type;
  }

  isFile(): boolean {
    return this.#is(0o100000);
  }

  isDirectory(): boolean {
    return this.#is(0o040000);
  }

  isSymbolicLink(): boolean {
    return this.#is(0o120000);
  }

  isCharacterDevice(): boolean {
    return this.#is(0o020000);
  }

  isBlockDevice(): boolean {
    return this.#is(0o060000);
  }

  isFIFO(): boolean {
    return this.#is(0o010000);
  }

  isSocket(): boolean {
    return this.#is(0o140000);
  }
}

/** Integer equality of a number and a bigint, or of two of a kind. */
function sameInteger(a: number | bigint, b: number | bigint): boolean {
  return typeof a === typeof b ? a === b : BigInt(a) === BigInt(b);
}

/** Nanoseconds given as whole seconds and the rest, in decimal (as `String` of the bigint). */
function nsDecimal(seconds: number, nsec: number): string {
  if (seconds > 0) return `${seconds}${String(nsec).padStart(9, '0')}`;
  return seconds === 0 ? String(nsec) : String(BigInt(seconds) * SECOND_NS + BigInt(nsec));
}

/**
 * The node of a listed object, its own {@link NodeStats} (one object per
 * file rather than two: a context of many files keeps one per file for the
 * whole build). `rel` is derived from `path` and `type` from the mode when
 * asked for, not kept; a node the ignore patterns looked at is a
 * {@link MatchedNode}, which keeps what they said.
 */
class ListedNode extends NodeStats implements ContextNode {
  readonly path: string;

  constructor(path: string, stats: BigIntStats) {
    super(stats);
    this.path = path;
  }

  get type(): EntryType {
    return this.entryType!;
  }

  get excluded(): boolean {
    return false;
  }

  get info(): MatchInfo {
    return NO_PARENT_INFO;
  }

  get stats(): NodeStats {
    return this;
  }

  get rel(): string {
    return this.path.slice(1);
  }
}

/** A listed node with the ignore matcher's results. */
class MatchedNode extends ListedNode {
  readonly #excluded: boolean;
  readonly #info: MatchInfo;

  constructor(path: string, stats: BigIntStats, excluded: boolean, info: MatchInfo) {
    super(path, stats);
    this.#excluded = excluded;
    this.#info = info;
  }

  override get excluded(): boolean {
    return this.#excluded;
  }

  override get info(): MatchInfo {
    return this.#info;
  }
}

/** The root: a directory, whatever lstat says of the path it was opened with. */
class RootNode extends ListedNode {
  override get type(): EntryType {
    return 'dir';
  }
}

/** A listed node (only made for objects of a type tar can hold). */
function listedNode(path: string, stats: BigIntStats, excluded: boolean, info: MatchInfo): ListedNode {
  return excluded || info !== NO_PARENT_INFO ? new MatchedNode(path, stats, excluded, info) : new ListedNode(path, stats);
}

const PATTERN_CHARS = /[*[\]?^\\]/;

/** A `.dockerignore`-filtered, memoized view of one directory tree on disk. */
export class ContextTree {
  readonly hostRoot: string;
  readonly #matcher: PatternMatcher | undefined;
  /** Exception patterns stripped of a trailing glob, when all are plain paths; otherwise undefined. */
  readonly #plainExceptions: string[] | undefined;
  readonly #listings = new Map<string, Promise<readonly ContextNode[]>>();
  #root: Promise<ContextNode> | undefined;

  constructor(hostRoot: string, matcher?: PatternMatcher) {
    this.hostRoot = hostRoot;
    this.#matcher = matcher && matcher.patterns.length > 0 ? matcher : undefined;
    const exceptions = (matcher?.patterns ?? []).filter((p) => p.exclusion).map((p) => withoutTrailingGlob(p.cleaned));
    this.#plainExceptions = exceptions.some((p) => PATTERN_CHARS.test(p)) ? undefined : exceptions;
  }

  /** The host path of a context path. */
  hostPath(path: string): string {
    return path === '/' ? this.hostRoot : this.hostRoot + path;
  }

  /** The root directory node. */
  root(): Promise<ContextNode> {
    this.#root ??= lstat(this.hostRoot, { bigint: true }).then((stats) => new RootNode('/', stats));
    return this.#root;
  }

  /** The visible children of a directory node, in {@link comparePaths} order. */
  list(dir: ContextNode): Promise<readonly ContextNode[]> {
    let listing = this.#listings.get(dir.path);
    if (!listing) {
      listing = this.#list(dir);
      this.#listings.set(dir.path, listing);
    }
    return listing;
  }

  /** The visible child `name` of `dir`, if any. */
  async child(dir: ContextNode, name: string): Promise<ContextNode | undefined> {
    const children = await this.list(dir);
    let lo = 0;
    let hi = children.length;
    const path = joinPath(dir.path, name);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const order = comparePaths(children[mid]!.path, path);
      if (order === 0) return children[mid];
      if (order < 0) lo = mid + 1;
      else hi = mid;
    }
    return undefined;
  }

  async #list(dir: ContextNode): Promise<readonly ContextNode[]> {
    // Listings use synchronous calls: a few microseconds each, where the thread pool would queue
    // them behind layer compression (a build lists a directory just before copying it).
    let dirents: Dirent[];
    try {
      dirents = readdirSync(this.hostPath(dir.path), { withFileTypes: true });
    } catch (err) {
      if (isVanished(err)) return [];
      // Docker ignores permission errors only below excluded directories.
      if (dir.excluded && (err as NodeJS.ErrnoException).code === 'EACCES') return [];
      throw err;
    }
    const candidates = dirents.map((dirent) => this.#candidate(dir, dirent));
    const nodes: ContextNode[] = [];
    for (const node of candidates) {
      if (!node) continue;
      // A matched directory survives only through a re-included descendant.
      if (node.excluded && (await this.list(node)).length === 0) continue;
      nodes.push(node);
    }
    return nodes.sort((a, b) => comparePaths(a.path, b.path));
  }

  #candidate(dir: ContextNode, dirent: Dirent): ContextNode | undefined {
    // One flat string per node (join, not +, which keeps the pieces): the node holds it for the whole build.
    const path = dir.path === '/' ? ['', dirent.name].join('/') : [dir.path, dirent.name].join('/');
    let excluded = false;
    let info = NO_PARENT_INFO;
    if (this.#matcher) {
      const rel = path.slice(1);
      const result = this.#matcher.matchesWithParentInfo(rel, dir.info);
      excluded = result.matched;
      info = result.info;
      if (excluded && (!dirent.isDirectory() || !this.#mayHoldExceptions(rel))) return undefined;
    }
    let stats: BigIntStats;
    try {
      stats = lstatSync(this.hostPath(path), { bigint: true });
    } catch (err) {
      if (isVanished(err)) return undefined;
      throw err;
    }
    const type = entryType(stats);
    if (!type) return undefined;
    // The directory entry may have changed type since readdir; trust lstat.
    if (excluded && type !== 'dir') return undefined;
    return listedNode(path, stats, excluded, info);
  }

  /** Whether an excluded directory must be searched for re-included descendants. */
  #mayHoldExceptions(rel: string): boolean {
    if (!this.#plainExceptions) return true;
    const dirSlash = rel + '/';
    return this.#plainExceptions.some((p) => (p + '/').startsWith(dirSlash));
  }
}

function withoutTrailingGlob(pattern: string): string {
  let p = pattern;
  if (p.endsWith('/**')) p = p.slice(0, -3);
  if (p.endsWith('/*')) p = p.slice(0, -2);
  return p;
}

/**
 * The entry type of an lstat result. A socket becomes an empty `file`, as
 * BuildKit's context transfer sends it (tar has no socket type).
 */
export function entryType(stats: Pick<BigIntStats, 'isFile' | 'isSocket' | 'isDirectory' | 'isSymbolicLink' | 'isCharacterDevice' | 'isBlockDevice' | 'isFIFO'>): EntryType | undefined {
  if (stats.isFile() || stats.isSocket()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  if (stats.isFIFO()) return 'fifo';
  return undefined;
}

/** `/a` + `b` → `/a/b`; `/` + `b` → `/b`. */
function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function isVanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
