/**
 * The shared chroot-style path resolution: its stops on small trees, and on
 * generated trees of directories, files, relative and absolute symlinks
 * (loops and `..` included) the same answer as the kernel's own
 * openat2(RESOLVE_IN_ROOT), through both drivers.
 */
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LINUX_MAX_SYMLINKS,
  resolveAsync,
  resolveSync,
  type NodeKind,
  type PathWalk,
  type WalkOptions,
} from '../../src/layers/resolve-path.js';
import { KernelResolver, type KernelAnswer } from './kernel-resolve.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const runs = (n: number) => ({ numRuns: RUNS || n });

/** An in-memory tree node. */
interface Mem {
  path: string;
  kind: NodeKind;
  children: Map<string, Mem>;
  target: string;
}

function memTree(spec: Record<string, string | null>): Mem {
  const root: Mem = { path: '/', kind: 'dir', children: new Map(), target: '' };
  // Keys: paths; value null a directory, '=' a file, otherwise a symlink target.
  for (const [path, value] of Object.entries(spec)) {
    const names = path.split('/').filter(Boolean);
    let dir = root;
    for (const [i, name] of names.entries()) {
      let child = dir.children.get(name);
      if (!child) {
        const last = i === names.length - 1;
        const kind: NodeKind = !last || value === null ? 'dir' : value === '=' ? 'other' : 'symlink';
        child = { path: '/' + names.slice(0, i + 1).join('/'), kind, children: new Map(), target: last && kind === 'symlink' ? value! : '' };
        dir.children.set(name, child);
      }
      dir = child;
    }
  }
  return root;
}

const memReader = { child: (dir: Mem, name: string) => dir.children.get(name), readlink: (node: Mem) => node.target };

function walkMem(root: Mem, path: string, extra: Partial<WalkOptions<Mem>> = {}): PathWalk<Mem> {
  return resolveSync(path, { root, kindOf: (n) => n.kind, follow: true, maxLinks: LINUX_MAX_SYMLINKS, ...extra }, memReader);
}

const top = (walk: PathWalk<{ path: string }>): string => walk.stack[walk.stack.length - 1]!.path;

describe('resolveSync on small trees', () => {
  const root = memTree({
    '/etc': null,
    '/etc/resolv.conf': '../run/resolv.conf',
    '/run/f': '=',
    '/abs': '/etc',
    '/up': '../../../run',
    '/loop': 'loop',
    '/chain': 'c1',
    '/c1': 'c2',
    '/c2': 'run/f',
  });

  it('follows relative and absolute links inside the root; `..` stops at the root', () => {
    expect(walkMem(root, '/up/f')).toMatchObject({ stop: 'found', dotted: false });
    expect(top(walkMem(root, '/up/f'))).toBe('/run/f');
    expect(top(walkMem(root, 'abs/../run'))).toBe('/run');
    expect(walkMem(root, '/abs/..')).toMatchObject({ stop: 'found', dotted: true });
    expect(top(walkMem(root, '/abs/..'))).toBe('/');
    expect(top(walkMem(root, '/chain'))).toBe('/run/f');
  });

  it('reports the missing name and what is left, a non-directory in the way, and loops', () => {
    expect(walkMem(root, '/etc/resolv.conf')).toMatchObject({ stop: 'missing', name: 'resolv.conf', rest: [] });
    expect(top(walkMem(root, '/etc/resolv.conf'))).toBe('/run');
    expect(walkMem(root, '/nope/../etc')).toMatchObject({ stop: 'missing', name: 'nope', rest: ['..', 'etc'] });
    expect(walkMem(root, '/run/f/..')).toMatchObject({ stop: 'notdir', rest: ['..'] });
    expect(walkMem(root, '/loop')).toMatchObject({ stop: 'loop', name: 'loop' });
    expect(walkMem(root, '/chain', { maxLinks: 2 })).toMatchObject({ stop: 'loop', name: 'c2' });
  });

  it('leaves the last link alone when not following, but not one with names after it', () => {
    expect(top(walkMem(root, '/abs', { follow: false }))).toBe('/abs');
    expect(top(walkMem(root, '/abs/.', { follow: false }))).toBe('/etc');
  });

  it('under `report`, stops at an absolute target and at a `..` leaving the root after a link', () => {
    const report = { escape: 'report' as const };
    expect(walkMem(root, '/abs/x', report)).toMatchObject({ stop: 'escape', name: 'abs', target: '/etc' });
    expect(walkMem(root, '/up/f', report)).toMatchObject({ stop: 'escape' });
    expect(walkMem(root, '/up/f', report).target).toBeUndefined();
    expect(walkMem(root, '/up/f', report).link?.path).toBe('/up');
    // Without a link, `..` at the root is the caller's business (it stays there).
    expect(top(walkMem(root, '/../etc', report))).toBe('/etc');
  });

  it('reports an empty link target, as the kernel gives ENOENT for it', () => {
    expect(walkMem(memTree({ '/e': '' }), '/e')).toMatchObject({ stop: 'empty-link', name: 'e' });
  });
});

// ---- generated trees against the kernel ------------------------------------------------------

const NAMES = ['a', 'b', 'c'] as const;
const STEPS = ['a', 'b', 'c', '.', '..'] as const;

interface NodeSpec {
  names: string[];
  kind: 'dir' | 'file' | 'link';
  target: string;
}

const targetArb = fc
  .record({ absolute: fc.boolean(), parts: fc.array(fc.constantFrom(...STEPS), { maxLength: 4 }) })
  .map(({ absolute, parts }) => (absolute ? '/' : '') + (parts.length === 0 && !absolute ? '.' : parts.join('/')));

const nodeArb: fc.Arbitrary<NodeSpec> = fc.record({
  names: fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }),
  kind: fc.constantFrom('dir', 'file', 'link'),
  target: targetArb,
});

const queryArb = fc.record({
  absolute: fc.boolean(),
  parts: fc.array(fc.constantFrom(...STEPS), { maxLength: 6 }),
  follow: fc.boolean(),
});

/** Creates the nodes under `root` in order, skipping one whose parent is not a plain directory or whose name is taken. */
function materialize(root: string, nodes: NodeSpec[]): void {
  nodes: for (const node of nodes) {
    let host = root;
    for (const name of node.names.slice(0, -1)) {
      host = join(host, name);
      const info = lstatOrUndefined(host);
      if (!info) mkdirSync(host);
      else if (!info.isDirectory()) continue nodes;
    }
    host = join(host, node.names.at(-1)!);
    if (lstatOrUndefined(host)) continue;
    if (node.kind === 'dir') mkdirSync(host);
    else if (node.kind === 'file') writeFileSync(host, '');
    else symlinkSync(node.target, host);
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

interface Disk {
  path: string;
  info: Stats | undefined;
}

const kindOfStats = (info: Stats | undefined): NodeKind => (!info || info.isDirectory() ? 'dir' : info.isSymbolicLink() ? 'symlink' : 'other');

/** The shared walk's answer, in the kernel's terms. */
function answerOf(walk: PathWalk<{ path: string }>): KernelAnswer {
  switch (walk.stop) {
    case 'found':
      return { path: top(walk) };
    case 'notdir':
      return { error: 'ENOTDIR' };
    case 'loop':
      return { error: 'ELOOP' };
    default:
      return { error: 'ENOENT' };
  }
}

describe('resolveAsync and resolveSync against the kernel (openat2 RESOLVE_IN_ROOT)', () => {
  let kernel: KernelResolver | undefined;
  let scratch: string;
  beforeAll(() => {
    kernel = KernelResolver.start();
    scratch = mkdtempSync(join(tmpdir(), 'layerkit-resolve-'));
  });
  afterAll(async () => {
    await kernel?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('agree on random trees of dirs, files, relative and absolute links, loops and `..`', async () => {
    if (!kernel) return;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(nodeArb, { maxLength: 14 }), fc.array(queryArb, { minLength: 1, maxLength: 8 }), async (nodes, queries) => {
        const root = join(scratch, String(n++));
        mkdirSync(root);
        try {
          materialize(root, nodes);
          for (const query of queries) {
            const path = (query.absolute ? '/' : '') + query.parts.join('/');
            if (path === '') continue;
            const options: WalkOptions<Disk> = { root: { path: '/', info: undefined }, kindOf: (d) => kindOfStats(d.info), follow: query.follow, maxLinks: LINUX_MAX_SYMLINKS };
            const onDisk = await resolveAsync<Disk>(path, options, {
              child: async (dir, name) => {
                const child = dir.path === '/' ? `/${name}` : `${dir.path}/${name}`;
                const info = await lstat(root + child).catch(() => undefined);
                return info ? { path: child, info } : undefined;
              },
              readlink: (d) => readlink(root + d.path),
            });
            const inMemory = resolveSync<Disk>(path, options, {
              child: (dir, name) => {
                const child = dir.path === '/' ? `/${name}` : `${dir.path}/${name}`;
                const info = lstatOrUndefined(root + child);
                return info ? { path: child, info } : undefined;
              },
              readlink: (d) => readlinkSync(root + d.path),
            });
            const expected = await kernel!.resolve(root, path, query.follow);
            expect({ path, follow: query.follow, answer: answerOf(onDisk) }).toEqual({ path, follow: query.follow, answer: expected });
            expect(answerOf(inMemory)).toEqual(answerOf(onDisk));
          }
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }),
      runs(150),
    );
  }, 120_000);
});
