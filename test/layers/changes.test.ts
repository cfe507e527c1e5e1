import { describe, expect, it } from 'vitest';
import { apply, applyEntries } from '../../src/layers/changes/apply.js';
import { diff, type Change } from '../../src/layers/changes/diff.js';
import { changesToEntries, toLayer } from '../../src/layers/changes/emit.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { classifyPath, opaquePath, whiteoutPath } from '../../src/layers/changes/whiteout.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { DuplicatePathError, UnsafePathError } from '../../src/layers/errors.js';
import { readTar } from '../../src/layers/tar/read.js';
import { Tree } from '../../src/layers/tree.js';
import { dir, file, hardlink, membersOf, symlink, whiteout } from './changes-helpers.js';

const summary = (changes: Change[]) => changes.map((c) => `${c.kind[0]!.toUpperCase()} ${c.path}`);

function base(): Tree {
  return Tree.fromEntries([
    dir('/etc'),
    file('/etc/my-app-config', 'cfg'),
    dir('/bin'),
    file('/bin/my-app-binary', 'bin'),
    file('/bin/my-app-tools', 'tools'),
    dir('/var'),
    dir('/var/lib'),
    dir('/var/lib/x'),
    file('/var/lib/x/1', '1'),
    file('/var/lib/x/2', '2'),
  ]);
}

function err(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('diff, in the docker diff sense', () => {
  it('reproduces the OCI layer.md example, with parents reported as modified', () => {
    const lower = base();
    const upper = lower.clone();
    upper.remove('/etc/my-app-config');
    upper.put(dir('/etc/my-app.d'));
    upper.put(file('/etc/my-app.d/default.cfg', 'x'));
    upper.put(file('/bin/my-app-tools', 'tools v2'));
    expect(summary(diff(lower, upper))).toEqual([
      'M /bin',
      'M /bin/my-app-tools',
      'M /etc',
      'D /etc/my-app-config',
      'A /etc/my-app.d',
      'A /etc/my-app.d/default.cfg',
    ]);
    const entries = changesToEntries(diff(lower, upper), upper);
    expect(entries.map((e) => e.path)).toEqual(['/bin', '/bin/my-app-tools', '/etc', '/etc/.wh.my-app-config', '/etc/my-app.d', '/etc/my-app.d/default.cfg']);
    const wh = entries.find((e) => e.path === '/etc/.wh.my-app-config')!;
    expect(wh).toMatchObject({ type: 'file', size: 0, mode: 0o600, uid: 0, gid: 0, mtime: 0 });
  });

  it('reports a deleted subtree once and a type change as one modify', () => {
    const lower = base();
    const upper = lower.clone();
    upper.remove('/var/lib');
    upper.put(file('/bin', 'now a file'));
    expect(summary(diff(lower, upper))).toEqual(['M /bin', 'M /var', 'D /var/lib']);
    const back = diff(upper, lower);
    expect(summary(back)).toEqual(['M /bin', 'A /bin/my-app-binary', 'A /bin/my-app-tools', 'M /var', 'A /var/lib', 'A /var/lib/x', 'A /var/lib/x/1', 'A /var/lib/x/2']);
  });

  it('detects a same-size, same-mtime content change once contents are hashed', async () => {
    const lower = Tree.fromEntries([file('/f', 'aaaa', 0o644, 100)]);
    const upper = Tree.fromEntries([file('/f', 'aaab', 0o644, 100)]);
    const same = Tree.fromEntries([file('/f', 'aaaa', 0o644, 100)]);
    // Unhashed distinct sources: reported (never missed).
    expect(summary(diff(lower, same))).toEqual(['M /f']);
    await Promise.all([lower.hashContents(), upper.hashContents(), same.hashContents()]);
    expect(summary(diff(lower, upper))).toEqual(['M /f']);
    expect(diff(lower, same)).toEqual([]);
  });

  it('detects mode, uid, gid, mtime, rdev, linkname and xattr-only changes', () => {
    const cases: Array<[Entry, Entry]> = [
      [file('/x', '', 0o644), file('/x', '', 0o4755)],
      [file('/x'), { ...file('/x'), uid: 1 }],
      [file('/x'), { ...file('/x'), gid: 1 }],
      [file('/x'), { ...file('/x'), mtime: 1 }],
      [dir('/x'), dir('/x', 0o755, 5)],
      [{ ...file('/x'), type: 'char', devmajor: 1, devminor: 3 }, { ...file('/x'), type: 'char', devmajor: 1, devminor: 5 }],
      [symlink('/x', 'a'), symlink('/x', 'b')],
      [file('/x'), { ...file('/x'), xattrs: { 'security.capability': new Uint8Array([1]) } }],
      [{ ...file('/x'), xattrs: { 'user.a': new Uint8Array([1]) } }, { ...file('/x'), xattrs: { 'user.a': new Uint8Array([2]) } }],
      [file('/x'), { ...file('/x'), type: 'fifo' }],
    ];
    for (const [before, after] of cases) {
      expect(summary(diff(Tree.fromEntries([before]), Tree.fromEntries([after])))).toEqual(['M /x']);
    }
    const xa = { ...file('/x'), xattrs: { 'user.a': new Uint8Array([1]) } };
    expect(diff(Tree.fromEntries([xa]), Tree.fromEntries([{ ...xa, xattrs: { 'user.a': new Uint8Array([1]) } }]))).toEqual([]);
  });

  it('reports the root only when its own metadata changed', () => {
    const lower = Tree.fromEntries([file('/a')]);
    const upper = Tree.fromEntries([file('/a'), file('/b')]);
    expect(summary(diff(lower, upper))).toEqual(['A /b']);
    const chmod = Tree.fromEntries([dir('/', 0o700), file('/a')]);
    expect(summary(diff(lower, chmod))).toEqual(['M /']);
    expect(changesToEntries(diff(lower, chmod), chmod).map((e) => e.path)).toEqual(['/']);
  });

  it('hardlinks: deleting one member leaves the others unchanged; a new member brings its whole group into the layer', () => {
    const data = bytesSource(new TextEncoder().encode('shared'));
    const lower = Tree.fromEntries([{ ...file('/a'), size: 6, content: data }, hardlink('/b', '/a'), hardlink('/c', '/a')]);
    const dropped = lower.clone();
    dropped.remove('/a');
    expect(summary(diff(lower, dropped))).toEqual(['D /a']);
    const grown = lower.clone();
    grown.link('/0', '/c');
    expect(summary(diff(lower, grown))).toEqual(['A /0']);
    const entries = changesToEntries(diff(lower, grown), grown);
    // The layer links only to its own entries (OCI: links to files outside a changeset are not recorded).
    expect(entries.map((e) => [e.path, e.type, e.linkname])).toEqual([
      ['/0', 'file', undefined],
      ['/a', 'hardlink', '/0'],
      ['/b', 'hardlink', '/0'],
      ['/c', 'hardlink', '/0'],
    ]);
    expect(entries[0]!.content).toBe(data);
    expect(applyEntries(lower, entries).hardlinks('/a')).toEqual(['/0', '/a', '/b', '/c']);
    const split = lower.clone();
    split.put({ ...file('/b'), size: 6, content: data });
    expect(summary(diff(lower, split))).toEqual(['M /a', 'M /b', 'M /c']);
    expect(applyEntries(lower, changesToEntries(diff(lower, split), split)).hardlinks('/b')).toEqual(['/b']);
  });

  it('stamps whiteouts with the epoch or a fixed time, never the clock', async () => {
    const lower = Tree.fromEntries([file('/gone'), file('/x', 'x', 0o644, 2_000_000_000)]);
    const upper = Tree.fromEntries([file('/x', 'y', 0o644, 2_000_000_000)]);
    await Promise.all([lower.hashContents(), upper.hashContents()]);
    const layer = toLayer(diff(lower, upper), upper, { sourceDateEpoch: 1_700_000_000, compression: 'none' });
    const seen: Array<[string, number]> = [];
    for await (const m of readTar(layer.uncompressed())) seen.push([m.name, m.entry.mtime]);
    expect(seen).toEqual([
      ['.wh.gone', 1_700_000_000],
      ['x', 1_700_000_000],
    ]);
    const first = await toLayer(diff(lower, upper), upper).diffId();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await toLayer(diff(lower, upper), upper).diffId()).toBe(first);
  });
});

describe('whiteout names', () => {
  it('builds and classifies them', () => {
    expect(whiteoutPath('/etc/my-app-config')).toBe('/etc/.wh.my-app-config');
    expect(whiteoutPath('/top')).toBe('/.wh.top');
    expect(opaquePath('/')).toBe('/.wh..wh..opq');
    expect(classifyPath('/a/.wh.b')).toEqual({ kind: 'whiteout', target: '/a/b' });
    expect(classifyPath('/a/.wh..wh..opq')).toEqual({ kind: 'opaque', dir: '/a' });
    expect(classifyPath('/a/b.wh.c')).toEqual({ kind: 'entry' });
  });

  it('rejects .wh., .wh.., .wh..., unknown metadata names and paths below a whiteout name', () => {
    for (const bad of ['/.wh.', '/a/.wh..', '/a/.wh...', '/a/.wh..wh.plnk', '/.wh.x/y']) {
      const e = err(() => classifyPath(bad));
      expect(e).toBeInstanceOf(LayerFormatError);
      expect((e as LayerFormatError).code).toBe('INVALID_WHITEOUT');
      expect((e as LayerFormatError).data.entry).toBe(bad);
      expect(err(() => applyEntries(Tree.empty(), [whiteout(bad)]))).toBeInstanceOf(LayerFormatError);
    }
  });
});

describe('apply refuses what cannot be applied', () => {
  const lower = Tree.fromEntries([dir('/real'), file('/real/x', 'x'), symlink('/link', '/real'), file('/f', 'f')]);

  it('whiteouts and entries below a symlink the layer leaves in place', async () => {
    expect(err(() => applyEntries(lower, [whiteout('/link/.wh.x')]))).toBeInstanceOf(UnsafePathError);
    expect(err(() => applyEntries(lower, [file('/link/.wh..wh..opq')]))).toBeInstanceOf(UnsafePathError);
    expect(err(() => applyEntries(lower, [file('/link/y', 'pwn')]))).toBeInstanceOf(UnsafePathError);
    await expect(apply(lower, membersOf([symlink('/s', '/etc'), file('/s/passwd', 'x')]))).rejects.toBeInstanceOf(UnsafePathError);
    // Replaced by a directory in the same layer: nothing below the old symlink to hide.
    const ok = applyEntries(lower, [dir('/link'), whiteout('/link/.wh.x'), file('/link/y', 'y')]);
    expect(ok.readdir('/link')).toEqual(['y']);
    expect(ok.has('/real/x')).toBe(true);
  });

  it('duplicates, entries below files, hardlinks to nothing or to directories', async () => {
    expect(err(() => applyEntries(lower, [file('/a'), file('/a')]))).toBeInstanceOf(DuplicatePathError);
    const below = err(() => applyEntries(lower, [file('/f/x')])) as LayerFormatError;
    expect([below.code, below.data.entry]).toEqual(['NOT_A_DIRECTORY', '/f/x']);
    const sameLayer = err(() => applyEntries(lower, [file('/g'), file('/g/x')])) as LayerFormatError;
    expect(sameLayer.code).toBe('NOT_A_DIRECTORY');
    for (const target of ['/missing', '/real']) {
      const e = err(() => applyEntries(lower, [hardlink('/h', target)])) as LayerFormatError;
      expect([e.code, e.data.entry]).toEqual(['HARDLINK_TARGET_MISSING', '/h']);
    }
    await expect(apply(lower, membersOf([file('../escape', 'x')]))).rejects.toBeInstanceOf(UnsafePathError);
    await expect(apply(lower, membersOf([file('//abs', 'x')]), { absoluteNames: 'reject' })).rejects.toBeInstanceOf(UnsafePathError);
  });

  it('leaves the input tree untouched, even when it fails', () => {
    const before = [...lower.entries()];
    expect(() => applyEntries(lower, [whiteout('/.wh.real'), file('/f/x')])).toThrow();
    applyEntries(lower, [whiteout('/.wh.real'), hardlink('/h', '/f')]);
    expect([...lower.entries()]).toEqual(before);
    expect(lower.hardlinks('/f')).toEqual(['/f']);
  });
});
