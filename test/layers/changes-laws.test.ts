/**
 * The laws of changesets (notes §8, "Property-test checklist"), checked on
 * generated trees: files, dirs, symlinks, hardlinks, fifos, devices, modes,
 * owners, xattrs, deep and long paths, unicode names and type changes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { apply, applyEntries } from '../../src/layers/changes/apply.js';
import { diff } from '../../src/layers/changes/diff.js';
import { changesToEntries, toLayer } from '../../src/layers/changes/emit.js';
import { flatten, squash } from '../../src/layers/changes/squash.js';
import type { Entry } from '../../src/layers/entry.js';
import { Tree } from '../../src/layers/tree.js';
import { snapshotTree, treeEvolutionArbitrary } from '../../src/testing/trees.js';
import { dir, file, hardlink, membersOf, permute, symlink, whiteout } from './changes-helpers.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const runs = (n: number) => ({ numRuns: RUNS || n });
const noGzip = { compression: 'none' as const };

async function same(actual: Tree, expected: Tree): Promise<void> {
  expect(await snapshotTree(actual)).toEqual(await snapshotTree(expected));
}

describe('diff/apply round trip', () => {
  it('apply(a, entries(diff(a, b))) ≡ b, in memory', async () => {
    await fc.assert(
      fc.asyncProperty(treeEvolutionArbitrary(2), fc.boolean(), async ([a, b], opaque) => {
        const changes = diff(a!, b!, { opaque });
        await same(applyEntries(a!, changesToEntries(changes, b!)), b!);
      }),
      runs(300),
    );
  });

  it('apply(a, toLayer(diff(a, b))) ≡ b through a real tar, and the result diffs empty against b', async () => {
    await fc.assert(
      fc.asyncProperty(treeEvolutionArbitrary(2), fc.boolean(), async ([a, b], gzip) => {
        const layer = toLayer(diff(a!, b!), b!, gzip ? { level: 1 } : noGzip);
        const result = await apply(a!, layer);
        await same(result, b!);
        await b!.hashContents();
        expect(diff(result, b!)).toEqual([]);
      }),
      runs(50),
    );
  });

  it('diff(a, a) and diff(a, clone(a)) are empty', () => {
    fc.assert(
      fc.property(treeEvolutionArbitrary(1), ([a]) => {
        expect(diff(a!, a!)).toEqual([]);
        expect(diff(a!, a!.clone())).toEqual([]);
      }),
      runs(200),
    );
  });

  it('chain law: diff a→b then b→c, applied onto a, gives c', async () => {
    await fc.assert(
      fc.asyncProperty(treeEvolutionArbitrary(3), async ([a, b, c]) => {
        const ab = toLayer(diff(a!, b!), b!, noGzip);
        const bc = toLayer(diff(b!, c!), c!, noGzip);
        await same(await apply(await apply(a!, ab), bc), c!);
      }),
      runs(40),
    );
  });

  it('flatten of N layers ≡ sequential apply ≡ the last tree; squash onto a base ≡ flatten onto it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 5 }).chain((n) => treeEvolutionArbitrary(n)), async (trees) => {
        const layers = trees.map((t, i) => toLayer(diff(i === 0 ? Tree.empty() : trees[i - 1]!, t), t, noGzip));
        let sequential = Tree.empty();
        for (const layer of layers) sequential = await apply(sequential, layer);
        const flat = await flatten(layers);
        await same(flat, sequential);
        await same(flat, trees[trees.length - 1]!);
        const base = await flatten(layers.slice(0, 1));
        const squashed = await squash(layers.slice(1), { base, ...noGzip });
        await same(await apply(base, squashed), flat);
      }),
      runs(25),
    );
  });
});

describe('type changes, one by one', () => {
  const lower = () =>
    Tree.fromEntries([dir('/d2f'), file('/d2f/x', 'x'), dir('/d2s'), dir('/d2s/sub'), file('/d2s/sub/y', 'y'), file('/f2d', 'f'), symlink('/s2d', 'd2f'), file('/same', 's')]);
  it('file → dir, dir → file, dir → symlink, symlink → dir round-trip through a tar', async () => {
    const a = lower();
    const b = a.clone();
    b.put(file('/d2f', 'was a dir'));
    b.put(symlink('/d2s', '/elsewhere'));
    b.put(dir('/f2d', 0o700));
    b.put(file('/f2d/inner', 'in'));
    b.put(dir('/s2d'));
    b.put(file('/s2d/z', 'z'));
    const changes = diff(a, b);
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
      'modify /d2f',
      'modify /d2s',
      'modify /f2d',
      'add /f2d/inner',
      'modify /s2d',
      'add /s2d/z',
    ]);
    await same(await apply(a, toLayer(changes, b, noGzip)), b);
  });
});

/** A lower tree to hide things in, and a name that is in it. */
function lowerWith(x: 'file' | 'dir'): Tree {
  const t = Tree.fromEntries([dir('/d', 0o700), file('/d/keep', 'k'), file('/top', 't')]);
  if (x === 'file') t.put(file('/d/x', 'lower x'));
  else t.put(dir('/d/x', 0o711)), t.put(file('/d/x/old', 'old')), t.put(dir('/d/x/sub')), t.put(file('/d/x/sub/deep', 'deep'));
  return t;
}

describe('whiteouts and opaque directories', () => {
  it('same-layer rule: X and .wh.X in one layer keep this layer’s X, for every entry order', async () => {
    const layerEntries: Entry[] = [
      dir('/d', 0o700),
      whiteout('/d/.wh.x'),
      dir('/d/x', 0o750),
      file('/d/x/new', 'new'),
      whiteout('/d/.wh.keep'),
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'file' | 'dir'>('file', 'dir'), fc.array(fc.integer(), { minLength: 5, maxLength: 5 }), async (lowerKind, keys) => {
        const lower = lowerWith(lowerKind);
        const result = await apply(lower, membersOf(permute(layerEntries, keys)));
        expect(result.get('/d/x')).toMatchObject({ type: 'dir', mode: 0o750 });
        expect(result.readdir('/d/x')).toEqual(['new']); // lower children hidden by the whiteout, own child kept
        expect(result.has('/d/keep')).toBe(false);
        expect(result.has('/top')).toBe(true);
        await same(result, applyEntries(lower, layerEntries));
      }),
      runs(60),
    );
  });

  it('opaque hides every lower descendant and no entry of its own layer, wherever it sits', async () => {
    const layerEntries: Entry[] = [dir('/d', 0o701), file('/d/.wh..wh..opq'), dir('/d/x'), file('/d/x/mine', 'm'), file('/d/y', 'y'), hardlink('/d/z', '/top')];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'file' | 'dir'>('file', 'dir'), fc.array(fc.integer(), { minLength: 6, maxLength: 6 }), async (lowerKind, keys) => {
        const lower = lowerWith(lowerKind);
        const result = await apply(lower, membersOf(permute(layerEntries, keys)));
        expect(result.readdir('/d')).toEqual(['x', 'y', 'z']);
        expect(result.readdir('/d/x')).toEqual(['mine']);
        expect(result.get('/d')!.mode).toBe(0o701);
        expect(result.hardlinks('/top')).toEqual(['/d/z', '/top']);
      }),
      runs(60),
    );
  });

  it('entry-order independence: any permutation of a generated layer gives the same tree', async () => {
    await fc.assert(
      fc.asyncProperty(treeEvolutionArbitrary(2), fc.boolean(), fc.array(fc.integer(), { minLength: 1, maxLength: 64 }), async ([a, b], opaque, keys) => {
        const entries = changesToEntries(diff(a!, b!, { opaque }), b!);
        const shuffled = await apply(a!, membersOf(permute(entries, keys)));
        await same(shuffled, b!);
      }),
      runs(120),
    );
  });

  it('an opaque marker with no directory entry keeps or creates the directory', () => {
    const lower = Tree.fromEntries([dir('/a', 0o700), file('/a/old')]);
    const kept = applyEntries(lower, [file('/a/.wh..wh..opq')]);
    expect(kept.get('/a')!.mode).toBe(0o700);
    expect(kept.readdir('/a')).toEqual([]);
    const created = applyEntries(Tree.empty(), [file('/n/.wh..wh..opq')]);
    expect(created.get('/n')).toMatchObject({ type: 'dir', mode: 0o755 });
  });

  it('a whiteout of a missing path is harmless; rm -rf + mkdir as opaque matches explicit whiteouts', async () => {
    const lower = Tree.fromEntries([dir('/a'), dir('/a/b'), dir('/a/b/c'), file('/a/b/c/bar', 'bar')]);
    expect(await snapshotTree(applyEntries(lower, [file('/nope/.wh.x'), file('/a/.wh.missing')]))).toEqual(await snapshotTree(lower));
    const upper = Tree.fromEntries([dir('/a'), dir('/a/b'), dir('/a/b/c'), file('/a/b/c/foo', 'foo')]);
    const opaque = changesToEntries(diff(lower, upper, { opaque: true }), upper);
    expect(opaque.map((e) => e.path)).toEqual(['/a', '/a/b', '/a/b/c', '/a/b/c/.wh..wh..opq', '/a/b/c/foo']);
    const explicit = changesToEntries(diff(lower, upper), upper);
    expect(explicit.map((e) => e.path)).toEqual(['/a', '/a/b', '/a/b/c', '/a/b/c/.wh.bar', '/a/b/c/foo']);
    await same(applyEntries(lower, opaque), applyEntries(lower, explicit));
  });

  it('a hardlink may name a lower file that the same layer whites out', async () => {
    const lower = Tree.fromEntries([file('/old', 'payload')]);
    const result = await apply(lower, membersOf([whiteout('/.wh.old'), hardlink('/new', '/old')]));
    expect(result.has('/old')).toBe(false);
    expect(result.get('/new')).toMatchObject({ type: 'file', size: 7 });
    expect(symlink('/x', 'y').type).toBe('symlink');
  });
});
