/**
 * Differential testing of union views: fast-check arbitraries for lower
 * layers (whiteouts and opaque directories included) and for sequences of
 * fs operations, one runner that applies an operation to anything shaped
 * like `fs.promises` (a `UnionFS`, `node:fs` rooted in a directory, a kernel
 * overlayfs mount) and reports the outcome as data, and an observer that
 * reads a whole tree back as comparable data.
 *
 * Only `import type` from the rest of layerkit, so the runner also works in a
 * child process that has nothing but Node and fast-check.
 * @module
 */
import fc from 'fast-check';
import type { ContentSource, Entry } from '../layers/entry.js';
import type { FsLike, StatLike } from '../unionfs/fs-like.js';

export type { FsLike, StatLike };

/**
 * One file-system operation, as data.
 *
 * @example
 * ```ts
 * const op: UnionOp = { op: 'rename', from: '/a', to: '/b' };
 * ```
 */
export type UnionOp =
  | { op: 'stat' | 'lstat' | 'readFile' | 'readdir' | 'readdirTypes' | 'readlink' | 'realpath' | 'unlink' | 'rmdir'; path: string }
  | { op: 'access'; path: string; mode: number }
  | { op: 'writeFile'; path: string; data: string; flag: 'w' | 'a' | 'wx' | 'r+' }
  | { op: 'mkdir'; path: string; recursive: boolean; mode: number }
  | { op: 'rm'; path: string; recursive: boolean; force: boolean }
  | { op: 'rename' | 'link'; from: string; to: string }
  | { op: 'copyFile'; from: string; to: string; exclusive: boolean }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'chown' | 'lchown'; path: string; uid: number; gid: number }
  | { op: 'truncate'; path: string; length: number }
  | { op: 'utimes'; path: string; atime: number; mtime: number };

/**
 * What an operation did: its value (normalized) or its error code.
 *
 * @example
 * ```ts
 * expect(await runUnionOp(view, op)).toEqual(await runUnionOp(model, op)); // { ok: false, code: 'EXDEV' } …
 * ```
 */
export type UnionOpOutcome = { ok: true; value?: unknown } | { ok: false; code: string };

/**
 * The type of an object from its stat, as the observer names it.
 *
 * @example
 * ```ts
 * statType(await view.lstat('/bin')); // 'symlink'
 * ```
 */
export function statType(st: StatLike): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'socket';
}

function statValue(st: StatLike): Record<string, unknown> {
  const type = statType(st);
  const out: Record<string, unknown> = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (type !== 'dir') Object.assign(out, { size: st.size, nlink: st.nlink });
  return out;
}

/**
 * Applies `op` to `fs` and returns what happened as data: the normalized
 * value (stat fields that matter, contents as latin1 text, sorted listings)
 * or the error's `code`. Never throws for a failing operation.
 *
 * @example
 * ```ts
 * await runUnionOp(view, { op: 'mkdir', path: '/a/b', recursive: true, mode: 0o755 }); // { ok: true, value: '/a' }
 * await runUnionOp(view, { op: 'rmdir', path: '/missing' }); // { ok: false, code: 'ENOENT' }
 * ```
 */
export async function runUnionOp(fs: FsLike, op: UnionOp): Promise<UnionOpOutcome> {
  try {
    return { ok: true, value: await perform(fs, op) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string') throw err;
    return { ok: false, code };
  }
}

async function perform(fs: FsLike, op: UnionOp): Promise<unknown> {
  switch (op.op) {
    case 'stat':
    case 'lstat':
      return statValue(await fs[op.op](op.path));
    case 'readFile':
      return Buffer.from(await fs.readFile(op.path)).toString('latin1');
    case 'readdir':
      return (await fs.readdir(op.path)).sort();
    case 'readdirTypes': {
      const names = (await fs.readdir(op.path)).sort();
      const dir = op.path.endsWith('/') ? op.path : op.path + '/';
      return Promise.all(names.map(async (n) => `${n}:${statType(await fs.lstat(dir + n))}`));
    }
    case 'readlink':
      return fs.readlink(op.path);
    case 'realpath':
      return fs.realpath(op.path);
    case 'access':
      return fs.access(op.path, op.mode);
    case 'unlink':
      return fs.unlink(op.path);
    case 'rmdir':
      return fs.rmdir(op.path);
    case 'writeFile':
      return fs.writeFile(op.path, op.data, { flag: op.flag });
    case 'mkdir':
      return fs.mkdir(op.path, { recursive: op.recursive, mode: op.mode });
    case 'rm':
      return fs.rm(op.path, { recursive: op.recursive, force: op.force });
    case 'rename':
      return fs.rename(op.from, op.to);
    case 'link':
      return fs.link(op.from, op.to);
    case 'copyFile':
      return fs.copyFile(op.from, op.to, op.exclusive ? 1 : 0);
    case 'symlink':
      return fs.symlink(op.target, op.path);
    case 'chmod':
      return fs.chmod(op.path, op.mode);
    case 'chown':
    case 'lchown':
      return fs[op.op](op.path, op.uid, op.gid);
    case 'truncate':
      return fs.truncate(op.path, op.length);
    case 'utimes':
      return fs.utimes(op.path, op.atime, op.mtime);
  }
}

/**
 * One object as the observer records it.
 *
 * @example
 * ```ts
 * // { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 5, nlink: 1, content: 'hello' }
 * ```
 */
export interface ObservedNode {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  nlink?: number;
  content?: string;
  target?: string;
}

/**
 * A whole tree as data: objects by path, and the groups of paths that are one inode.
 *
 * @example
 * ```ts
 * const { nodes, links } = await observeFs(view); // links: [['/usr/bin/perl', '/usr/bin/perl5.36']]
 * ```
 */
export interface Observation {
  nodes: Record<string, ObservedNode>;
  /** Hardlink groups (non-directories sharing an inode), each sorted, the list sorted. */
  links: string[][];
}

/**
 * Options of {@link observeFs}.
 *
 * @example
 * ```ts
 * await observeFs(fs, { exclude: (p) => p === '/proc', owners: false, linkGroups: false });
 * ```
 */
export interface ObserveOptions {
  /** Paths left out (and not descended into), e.g. mount points of a test harness. */
  exclude?: (path: string) => boolean;
  /** Record uid/gid (default true). */
  owners?: boolean;
  /**
   * Group paths by inode number into {@link Observation.links} (default
   * true). overlayfs reports different inode numbers for the names of a
   * copied-up hardlink, so compare a kernel mount by `nlink` alone.
   */
  linkGroups?: boolean;
}

/**
 * Reads the whole tree under `/` through `fs` (lstat, readdir, readFile,
 * readlink) into an {@link Observation}: equal observations mean equal trees
 * for every field a container image preserves, times aside.
 *
 * @example
 * ```ts
 * expect(await observeFs(view)).toEqual(await observeFs(hostFs(dir)));
 * ```
 */
export async function observeFs(fs: FsLike, options: ObserveOptions = {}): Promise<Observation> {
  const nodes: Record<string, ObservedNode> = {};
  const inodes = new Map<number, string[]>();
  const visit = async (dir: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (options.exclude?.(path)) continue;
      const st = await fs.lstat(path);
      const type = statType(st);
      const node: ObservedNode = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (options.owners === false) node.uid = node.gid = -1;
      if (type !== 'dir') {
        node.size = st.size;
        node.nlink = st.nlink;
        if (st.nlink > 1 && options.linkGroups !== false) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      }
      if (type === 'file') node.content = Buffer.from(await fs.readFile(path)).toString('latin1');
      if (type === 'symlink') node.target = await fs.readlink(path);
      nodes[path] = node;
      if (type === 'dir') await visit(path);
    }
  };
  await visit('/');
  const links = [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort());
  return { nodes, links: links.sort((a, b) => (a[0]! < b[0]! ? -1 : 1)) };
}

/**
 * `node:fs` confined to a directory by path prefixing: view path `/a` is
 * `<root>/a`. (Not a sandbox: absolute symlink targets and `..` above the
 * root escape it, so give it trees without such links, or chroot instead.)
 *
 * @example
 * ```ts
 * const model = hostFs(await mkdtemp(join(tmpdir(), 'model-')));
 * await runUnionOp(model, { op: 'mkdir', path: '/a', recursive: false, mode: 0o755 });
 * ```
 */
export function hostFs(root: string, fsp: typeof import('node:fs/promises')): FsLike {
  const base = root.replace(/\/+$/, '');
  const host = (p: string) => base + (p.startsWith('/') ? p : '/' + p);
  const back = (p: string) => (p === base ? '/' : p.startsWith(base + '/') ? p.slice(base.length) : p);
  return {
    stat: (p) => fsp.stat(host(p)),
    lstat: (p) => fsp.lstat(host(p)),
    access: (p, m) => fsp.access(host(p), m),
    readFile: (p) => fsp.readFile(host(p)),
    writeFile: (p, d, o) => fsp.writeFile(host(p), d, o),
    readdir: (p) => fsp.readdir(host(p)),
    mkdir: async (p, o) => {
      const first = await fsp.mkdir(host(p), o);
      return first === undefined ? undefined : back(first);
    },
    rm: (p, o) => fsp.rm(host(p), o),
    rmdir: (p) => fsp.rmdir(host(p)),
    unlink: (p) => fsp.unlink(host(p)),
    rename: (a, b) => fsp.rename(host(a), host(b)),
    copyFile: (a, b, m) => fsp.copyFile(host(a), host(b), m),
    symlink: (t, p) => fsp.symlink(t, host(p)),
    readlink: (p) => fsp.readlink(host(p)),
    realpath: async (p) => back(await fsp.realpath(host(p))),
    link: (a, b) => fsp.link(host(a), host(b)),
    chmod: (p, m) => fsp.chmod(host(p), m),
    chown: (p, u, g) => fsp.chown(host(p), u, g),
    lchown: (p, u, g) => fsp.lchown(host(p), u, g),
    utimes: (p, a, m) => fsp.utimes(host(p), a, m),
    truncate: (p, l) => fsp.truncate(host(p), l),
  };
}

/**
 * Shapes of the generated trees and operations.
 *
 * @example
 * ```ts
 * lowerLayersArbitrary({ names: ['etc', 'usr'], maxDepth: 2, symlinkTargets: 'any', owners: [0] });
 * ```
 */
export interface UnionArbitraryOptions {
  /** Names paths are built from (default `a b c d`). */
  names?: readonly string[];
  /** Deepest path (default 3). */
  maxDepth?: number;
  /** Owners to draw from (default 0, 1, 1000). */
  owners?: readonly number[];
  /**
   * Symlink targets: `relative` (default) are relative paths without `..`,
   * safe for {@link hostFs}; `any` adds absolute targets and `..`, for views
   * and chroots.
   */
  symlinkTargets?: 'relative' | 'any';
  /** Hardlinks in layers and `link` operations (default true). */
  hardlinks?: boolean;
  /** Allow a layer to hold `X` and `.wh.X` together (default true; a kernel lowerdir cannot). */
  sameLayerWhiteouts?: boolean;
  /**
   * Setuid/setgid bits on files (default true). Leave them out where the
   * writer lacks CAP_FSETID (a user namespace's root), whose writes clear them.
   */
  setidModes?: boolean;
  /**
   * Mode bits to draw from, replacing the defaults (which include read-only
   * files and directories: give owner-writable modes when the model runs as
   * an ordinary user, whom those would refuse).
   */
  modes?: { file: readonly number[]; dir: readonly number[] };
  /** Operations to leave out. */
  excludeOps?: readonly UnionOp['op'][];
}

function pathArbitrary(o: UnionArbitraryOptions): fc.Arbitrary<string> {
  const names = o.names ?? ['a', 'b', 'c', 'd'];
  return fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: o.maxDepth ?? 3 }).map((p) => '/' + p.join('/'));
}

function targetArbitrary(o: UnionArbitraryOptions): fc.Arbitrary<string> {
  const names = o.names ?? ['a', 'b', 'c', 'd'];
  const relative = fc.array(fc.constantFrom(...names, 'x'), { minLength: 1, maxLength: 2 }).map((p) => p.join('/'));
  if (o.symlinkTargets !== 'any') return relative;
  return fc.oneof(
    relative,
    pathArbitrary(o),
    relative.map((p) => '../' + p),
    relative.map((p) => '../../../' + p),
    fc.constantFrom('/', '..', '.'),
  );
}

/** Paths for operations: mostly plain, sometimes with `.`/`..` components or a trailing slash. */
function opPathArbitrary(o: UnionArbitraryOptions): fc.Arbitrary<string> {
  const plain = pathArbitrary(o);
  return fc.oneof(
    { weight: 12, arbitrary: plain },
    { weight: 1, arbitrary: plain.map((p) => p + '/') },
    { weight: 1, arbitrary: fc.tuple(plain, plain).map(([a, b]) => `${a}/..${b}`) },
    { weight: 1, arbitrary: plain.map((p) => p.replace(/\/([^/]*)$/, '/./$1')) },
  );
}

const FILE_MODES = [0o644, 0o755, 0o600, 0o4755, 0o2755, 0o2745, 0o400];
const DIR_MODES = [0o755, 0o700, 0o2775, 0o1777, 0o555];
const PLAIN_FILE_MODES = [0o644, 0o755, 0o600, 0o700, 0o444, 0o400];

function fileModes(o: UnionArbitraryOptions): readonly number[] {
  return o.modes?.file ?? (o.setidModes === false ? PLAIN_FILE_MODES : FILE_MODES);
}

function dirModes(o: UnionArbitraryOptions): readonly number[] {
  return o.modes?.dir ?? (o.setidModes === false ? [0o755, 0o700, 0o1777, 0o555] : DIR_MODES);
}

function textSource(text: string): ContentSource {
  const bytes = Buffer.from(text, 'latin1');
  return { size: bytes.byteLength, open: async function* () { if (bytes.byteLength > 0) yield bytes; } };
}

/** Component-wise order of paths (the order of layer tars): `/a` < `/a/z` < `/a-b`. */
function pathBefore(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
  return x.length < y.length;
}

interface RawItem {
  kind: 'file' | 'dir' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque';
  path: string;
  text: string;
  mode: number;
  owner: number;
  target: string;
  pick: number;
}

/**
 * Stacks of 1–4 lower layers over a small name space: files, directories,
 * symlinks, same-layer hardlinks, whiteouts (`.wh.x`) of paths below and
 * opaque directories (`.wh..wh..opq`). Every layer writes the parents of its
 * entries, as Docker's layers do, so each layer also extracts on its own.
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(lowerLayersArbitrary(), async (layers) => {
 *   const view = await UnionFS.open(layers);
 *   // …
 * }));
 * ```
 */
export function lowerLayersArbitrary(options: UnionArbitraryOptions = {}): fc.Arbitrary<Entry[][]> {
  const owners = options.owners ?? [0, 1, 1000];
  const kinds: RawItem['kind'][] = ['file', 'file', 'file', 'dir', 'dir', 'symlink', 'whiteout', 'opaque'];
  if (options.hardlinks !== false) kinds.push('hardlink');
  const item = fc.record({
    kind: fc.constantFrom(...kinds),
    path: pathArbitrary(options),
    text: fc.string({ maxLength: 6 }),
    mode: fc.nat(),
    owner: fc.constantFrom(...owners),
    target: targetArbitrary(options),
    pick: fc.nat(),
  });
  const layer = fc.array(item, { minLength: 1, maxLength: 10 });
  return fc.array(layer, { minLength: 1, maxLength: 4 }).map((layers) => layers.map((items, i) => repairLayer(items, i, options)));
}

function repairLayer(items: RawItem[], position: number, options: UnionArbitraryOptions): Entry[] {
  const mtime = 1_600_000_000 + position;
  const owner = options.owners?.[0] ?? 0; // of the parents and markers the repair adds
  const byPath = new Map<string, Entry>();
  const markers: Entry[] = [];
  const meta = (it: RawItem, modes: readonly number[]) => ({ mode: modes[it.mode % modes.length]!, uid: it.owner, gid: it.owner, mtime, size: 0 });
  const parentsOk = (path: string): boolean => {
    const parts = path.split('/').slice(1, -1);
    let dir = '';
    for (const part of parts) {
      dir += '/' + part;
      const existing = byPath.get(dir);
      if (existing && existing.type !== 'dir') return false;
    }
    dir = '';
    for (const part of parts) {
      dir += '/' + part;
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'dir', mode: 0o755, uid: owner, gid: owner, mtime, size: 0 });
    }
    return true;
  };
  const sorted = [...items].sort((a, b) => a.path.split('/').length - b.path.split('/').length);
  const deferred: RawItem[] = [];
  for (const it of sorted) {
    if (it.kind === 'whiteout' || it.kind === 'hardlink') {
      deferred.push(it);
      continue;
    }
    const existing = byPath.get(it.path);
    if (existing && (existing.type === 'dir') !== (it.kind === 'dir' || it.kind === 'opaque')) continue;
    if (!parentsOk(it.path)) continue;
    if (it.kind === 'file') {
      const content = textSource(it.text);
      byPath.set(it.path, { ...meta(it, fileModes(options)), path: it.path, type: 'file', size: content.size, content });
    } else if (it.kind === 'symlink') byPath.set(it.path, { ...meta(it, [0o777]), path: it.path, type: 'symlink', linkname: it.target });
    else {
      byPath.set(it.path, { ...meta(it, dirModes(options)), path: it.path, type: 'dir' });
      if (it.kind === 'opaque' && !markers.some((m) => m.path === `${it.path}/.wh..wh..opq`)) markers.push({ path: `${it.path}/.wh..wh..opq`, type: 'file', mode: 0o600, uid: owner, gid: owner, mtime, size: 0 });
    }
  }
  // Hardlinks first: their parents must exist before whiteouts check what this layer holds.
  deferred.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'hardlink' ? -1 : 1));
  for (const it of deferred) {
    if (it.kind === 'whiteout' && options.sameLayerWhiteouts === false && byPath.has(it.path)) continue;
    if (it.kind === 'hardlink') {
      // The target sorts first, as in any tar a real extractor can read (the file before its links).
      const files = [...byPath.values()].filter((e) => e.type === 'file' && !e.path.includes('/.wh.') && pathBefore(e.path, it.path));
      const target = files[it.pick % Math.max(files.length, 1)];
      if (!target || byPath.has(it.path) || target.path === it.path || !parentsOk(it.path)) continue;
      byPath.set(it.path, { path: it.path, type: 'hardlink', linkname: target.path, mode: target.mode, uid: target.uid, gid: target.gid, mtime, size: 0 });
      continue;
    }
    const slash = it.path.lastIndexOf('/');
    const wh = `${it.path.slice(0, slash)}/.wh.${it.path.slice(slash + 1)}`;
    if (byPath.has(wh) || !parentsOk(wh)) continue;
    byPath.set(wh, { path: wh, type: 'file', mode: 0o600, uid: owner, gid: owner, mtime, size: 0 });
  }
  const entries = [...byPath.values()].filter((e) => {
    if (options.sameLayerWhiteouts !== false) return true;
    const slash = e.path.lastIndexOf('/');
    const name = e.path.slice(slash + 1);
    return !name.startsWith('.wh.') || !byPath.has(`${e.path.slice(0, slash)}/${name.slice(4)}`);
  });
  return [...entries, ...markers.filter((m) => byPath.get(m.path.slice(0, -'/.wh..wh..opq'.length))?.type === 'dir')];
}

/**
 * One random operation over the same name space as {@link lowerLayersArbitrary}.
 *
 * @example
 * ```ts
 * fc.sample(unionOpArbitrary(), 3); // e.g. [{ op: 'rm', path: '/a/b', recursive: true, force: false }, …]
 * ```
 */
export function unionOpArbitrary(options: UnionArbitraryOptions = {}): fc.Arbitrary<UnionOp> {
  const p = opPathArbitrary(options);
  const owner = fc.constantFrom(...(options.owners ?? [0, 1, 1000]));
  const mode = fc.constantFrom(...new Set([...fileModes(options), ...dirModes(options)]));
  const data = fc.string({ maxLength: 6 });
  const all: [UnionOp['op'], fc.Arbitrary<UnionOp>][] = [
    ['stat', p.map((path) => ({ op: 'stat' as const, path }))],
    ['lstat', p.map((path) => ({ op: 'lstat' as const, path }))],
    ['readFile', p.map((path) => ({ op: 'readFile' as const, path }))],
    ['readdir', p.map((path) => ({ op: 'readdir' as const, path }))],
    ['readdirTypes', p.map((path) => ({ op: 'readdirTypes' as const, path }))],
    ['readlink', p.map((path) => ({ op: 'readlink' as const, path }))],
    ['realpath', p.map((path) => ({ op: 'realpath' as const, path }))],
    ['access', fc.record({ op: fc.constant('access' as const), path: p, mode: fc.constantFrom(0, 1, 6) })],
    ['writeFile', fc.record({ op: fc.constant('writeFile' as const), path: p, data, flag: fc.constantFrom('w' as const, 'a' as const, 'wx' as const, 'r+' as const) })],
    ['mkdir', fc.record({ op: fc.constant('mkdir' as const), path: p, recursive: fc.boolean(), mode })],
    ['rm', fc.record({ op: fc.constant('rm' as const), path: p, recursive: fc.boolean(), force: fc.boolean() })],
    ['rmdir', p.map((path) => ({ op: 'rmdir' as const, path }))],
    ['unlink', p.map((path) => ({ op: 'unlink' as const, path }))],
    ['rename', fc.record({ op: fc.constant('rename' as const), from: p, to: p })],
    ['copyFile', fc.record({ op: fc.constant('copyFile' as const), from: p, to: p, exclusive: fc.boolean() })],
    ['symlink', fc.record({ op: fc.constant('symlink' as const), target: targetArbitrary(options), path: p })],
    ['link', fc.record({ op: fc.constant('link' as const), from: p, to: p })],
    ['chmod', fc.record({ op: fc.constant('chmod' as const), path: p, mode })],
    ['chown', fc.record({ op: fc.constant('chown' as const), path: p, uid: owner, gid: owner })],
    ['lchown', fc.record({ op: fc.constant('lchown' as const), path: p, uid: owner, gid: owner })],
    ['truncate', fc.record({ op: fc.constant('truncate' as const), path: p, length: fc.nat(8) })],
    ['utimes', fc.record({ op: fc.constant('utimes' as const), path: p, atime: fc.nat(2e9), mtime: fc.nat(2e9) })],
  ];
  const excluded = new Set(options.excludeOps ?? []);
  if (options.hardlinks === false) excluded.add('link');
  return fc.oneof(...all.filter(([name]) => !excluded.has(name)).map(([, arb]) => arb));
}

/**
 * Sequences of operations (see {@link unionOpArbitrary}).
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(lowerLayersArbitrary(), unionOpsArbitrary({ maxOps: 10 }), async (layers, ops) => {
 *   const view = await UnionFS.open(layers);
 *   for (const op of ops) await runUnionOp(view, op);
 * }));
 * ```
 */
export function unionOpsArbitrary(options: UnionArbitraryOptions & { maxOps?: number } = {}): fc.Arbitrary<UnionOp[]> {
  return fc.array(unionOpArbitrary(options), { minLength: 1, maxLength: options.maxOps ?? 20 });
}

/**
 * A fast-check command that applies one operation to a model and to a
 * subject file system and fails when their outcomes, or the trees they leave
 * (read with {@link observeFs}), differ. Use with `fc.commands` and
 * `fc.asyncModelRun`.
 *
 * @example
 * ```ts
 * const commands = fc.commands([unionOpArbitrary().map((op) => new UnionOpCommand(op))]);
 * await fc.asyncModelRun(() => ({ model: { fs: hostFs(dir, fsp) }, real: view }), cmds);
 * ```
 */
export class UnionOpCommand implements fc.AsyncCommand<{ fs: FsLike; observe?: ObserveOptions }, FsLike> {
  constructor(readonly op: UnionOp) {}
  check(): boolean {
    return true;
  }
  async run(model: { fs: FsLike; observe?: ObserveOptions }, real: FsLike): Promise<void> {
    const expected = await runUnionOp(model.fs, this.op);
    const actual = await runUnionOp(real, this.op);
    assertSame(actual, expected, `outcome of ${this.toString()}`);
    assertSame(await observeFs(real, model.observe), await observeFs(model.fs, model.observe), `tree after ${this.toString()}`);
  }
  toString(): string {
    return JSON.stringify(this.op);
  }
}

function assertSame(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what} differs\n  subject: ${a}\n  model:   ${e}`);
}
