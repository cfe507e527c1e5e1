import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesSource, comparePaths, type Entry } from '../../src/layers/entry.js';
import { DuplicatePathError, InvalidEntryError, UnsafePathError } from '../../src/layers/errors.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { compareNames, normalizePath } from '../../src/layers/path.js';
import { contentDigest, Tree } from '../../src/layers/tree.js';
import { fileTreeArbitrary, snapshotTree } from '../../src/testing/trees.js';

const enc = new TextEncoder();
const dir = (path: string, mode = 0o755): Entry => ({ path, type: 'dir', mode, uid: 0, gid: 0, mtime: 0, size: 0 });
const file = (path: string, text = '', mode = 0o644): Entry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: enc.encode(text).length,
  ...(text ? { content: bytesSource(enc.encode(text)) } : {}),
});
const symlink = (path: string, target: string): Entry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });

describe('path helpers', () => {
  it('orders names by UTF-8 bytes, not UTF-16 units', () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 9F 98 80), though its UTF-16 unit is larger than a surrogate.
    expect(['\u{1F600}', '\uFF5E', 'B', 'a'].sort(compareNames)).toEqual(['B', 'a', '\uFF5E', '\u{1F600}']);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const bytes = Buffer.compare(Buffer.from(a), Buffer.from(b));
        expect(Math.sign(compareNames(a, b))).toBe(bytes);
      }),
    );
  });

  it('normalizes names and refuses escapes', () => {
    expect(normalizePath('./usr//bin/')).toBe('/usr/bin');
    expect(normalizePath('////etc/x')).toBe('/etc/x');
    expect(normalizePath('a/../b')).toBe('/b');
    expect(() => normalizePath('a/../../x')).toThrow(UnsafePathError);
    expect(() => normalizePath('/etc/x', { absolute: 'reject' })).toThrow(UnsafePathError);
    expect(normalizePath('etc/x', { absolute: 'reject' })).toBe('/etc/x');
  });
});

describe('Tree', () => {
  it('builds from entries in any order, with implicit parents and the root', () => {
    const t = Tree.fromEntries([file('/a/b/c', 'hi'), dir('/a', 0o700), dir('/', 0o711)]);
    expect(t.get('/')!.mode).toBe(0o711);
    expect(t.get('/a')!.mode).toBe(0o700);
    expect(t.get('/a/b')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    expect([...t.entries()].map((e) => e.path)).toEqual(['/', '/a', '/a/b', '/a/b/c']);
    expect(t.size).toBe(4);
  });

  it('walks depth first with siblings in byte order', () => {
    const t = Tree.fromEntries([file('/a-c'), file('/a/b'), file('/B'), file('/ab'), file('/a/a')]);
    const paths = [...t.entries()].map((e) => e.path);
    expect(paths).toEqual(['/', '/B', '/a', '/a/a', '/a/b', '/a-c', '/ab']);
    expect([...paths].sort(comparePaths)).toEqual(paths);
    expect(t.readdir('/')).toEqual(['B', 'a', 'a-c', 'ab']);
    expect(t.readdir('/a/b')).toBeUndefined();
  });

  it('merges directory onto directory and replaces anything else with its subtree', () => {
    const t = Tree.fromEntries([dir('/d', 0o700), file('/d/x', 'x'), file('/f', 'f')]);
    t.put(dir('/d', 0o750));
    expect(t.get('/d')!.mode).toBe(0o750);
    expect(t.get('/d/x')).toBeDefined();
    t.put(file('/d', 'now a file'));
    expect(t.get('/d')!.type).toBe('file');
    expect(t.has('/d/x')).toBe(false);
    t.put(dir('/f'));
    expect(t.get('/f')!.type).toBe('dir');
  });

  it('refuses entries below symlinks and files, whiteout names, duplicates and bad sizes', () => {
    const t = Tree.fromEntries([symlink('/l', '/etc'), file('/f', 'x')]);
    expect(() => t.put(file('/l/passwd', 'pwn'))).toThrow(UnsafePathError);
    const err = (() => {
      try {
        t.put(file('/f/x'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LayerFormatError);
    expect((err as LayerFormatError).code).toBe('NOT_A_DIRECTORY');
    expect(() => t.put(file('/.wh.x'))).toThrow(LayerFormatError);
    expect(() => Tree.fromEntries([file('/a'), file('/a')])).toThrow(DuplicatePathError);
    expect(() => t.put({ ...file('/g', 'abc'), size: 5 })).toThrow(InvalidEntryError);
    expect(t.has('/g')).toBe(false);
  });

  it('keeps hardlink groups: one inode, walk emits the first path in full', () => {
    const t = Tree.fromEntries([file('/z', 'data'), { ...file('/a'), type: 'hardlink', linkname: '/z' }, { ...file('/m/n'), type: 'hardlink', linkname: '/a' }]);
    expect(t.hardlinks('/z')).toEqual(['/a', '/m/n', '/z']);
    expect(t.get('/a')).toMatchObject({ type: 'file', size: 4 });
    const listed = [...t.entries()].filter((e) => e.type !== 'dir');
    expect(listed.map((e) => [e.path, e.type, e.linkname])).toEqual([
      ['/a', 'file', undefined],
      ['/m/n', 'hardlink', '/a'],
      ['/z', 'hardlink', '/a'],
    ]);
    t.remove('/a');
    expect(t.hardlinks('/z')).toEqual(['/m/n', '/z']);
    t.put(file('/z', 'new'));
    expect(t.hardlinks('/z')).toEqual(['/z']);
    expect(t.hardlinks('/m/n')).toEqual(['/m/n']);
    expect(() => t.link('/q', '/missing')).toThrow(LayerFormatError);
    expect(() => t.link('/q', '/m')).toThrow(LayerFormatError);
  });

  it('clones deeply: changes to a clone leave the original as it was', async () => {
    await fc.assert(
      fc.asyncProperty(fileTreeArbitrary({ maxOps: 10 }), async (tree) => {
        const before = await snapshotTree(tree);
        const copy = tree.clone();
        expect(await snapshotTree(copy)).toEqual(before);
        for (const path of copy.readdir('/') ?? []) copy.remove('/' + path);
        copy.put(file('/new', 'x'));
        expect(await snapshotTree(tree)).toEqual(before);
      }),
      { numRuns: 60 },
    );
  });

  it('entries() round-trips through fromEntries', async () => {
    await fc.assert(
      fc.asyncProperty(fileTreeArbitrary(), async (tree) => {
        const again = Tree.fromEntries([...tree.entries()].reverse());
        expect(await snapshotTree(again)).toEqual(await snapshotTree(tree));
      }),
      { numRuns: 80 },
    );
  });

  it('remembers content digests per source', async () => {
    const source = bytesSource(enc.encode('abc'));
    const d = await contentDigest(source);
    expect(d).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await contentDigest(source)).toBe(d);
  });
});
