/**
 * LayerIndex.fromEntries keeps clean, ordered entries as given and
 * normalizes and sorts the rest: the index is the same either way.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePaths, type Entry } from '../../src/layers/entry.js';
import { LayerIndex } from '../../src/unionfs/layer-index.js';
import { LowerStack } from '../../src/unionfs/lower-stack.js';

const file = (path: string, mtime = 0): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: 0 });
const dir = (path: string): Entry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });

/** A path written the untidy ways a tar may hold it (no leading slash, `./`, `//`, a trailing `/`). */
function untidy(path: string, style: number): string {
  const rel = path.slice(1);
  switch (style % 4) {
    case 0:
      return rel;
    case 1:
      return `./${rel}`;
    case 2:
      return `/${rel.replaceAll('/', '//')}`;
    default:
      return `/${rel}/.`;
  }
}

const name = fc.constantFrom('a', 'b', 'a.b', 'a-b', 'z', 'é', 'x');
const relPaths = fc.uniqueArray(fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => '/' + parts.join('/')), { maxLength: 20 });

describe('LayerIndex.fromEntries', () => {
  it('indexes untidy, shuffled entries as their clean, sorted form (property)', () => {
    fc.assert(
      fc.property(relPaths, fc.array(fc.nat(), { minLength: 20, maxLength: 20 }), fc.func(fc.integer()), (paths, styles, order) => {
        // Only leaves, so no path is both a file and a parent of another entry.
        const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(p + '/')));
        const clean = leaves.map((p, i) => file(p, i)).sort((a, b) => comparePaths(a.path, b.path));
        const messy = leaves
          .map((p, i) => file(untidy(p, styles[i]!), i))
          .map((e, i) => ({ e, k: order(i) }))
          .sort((a, b) => a.k - b.k)
          .map(({ e }) => e);
        const a = LayerIndex.fromEntries(clean);
        const b = LayerIndex.fromEntries(messy);
        // In order without the map (made on first use for ordered input), and the same once it is made.
        expect([...a.ordered()]).toEqual(clean);
        expect([a.size, b.size]).toEqual([clean.length, clean.length]);
        expect([...b.ordered()].map((e) => e.path)).toEqual(clean.map((e) => e.path));
        expect([...a.entries.values()]).toEqual([...a.ordered()]);
        expect([...b.entries.keys()]).toEqual([...a.entries.keys()]);
        expect([...b.entries.values()]).toEqual([...a.entries.values()]);
        // Clean, ordered entries are kept as given, not copied.
        for (const e of clean) expect(a.entries.get(e.path)).toBe(e);
        // Untidy ones are copies: the caller's objects keep their paths.
        for (const e of messy) if (b.entries.get(e.path) !== undefined) expect(b.entries.get(e.path)).toBe(e);
      }),
    );
  });

  it('keeps the last of a path listed twice, also when the input is otherwise ordered', () => {
    const index = LayerIndex.fromEntries([dir('/a'), file('/a/x', 1), file('/a/y'), file('/a/x', 2)]);
    expect([...index.entries.keys()]).toEqual(['/a', '/a/x', '/a/y']);
    expect(index.entries.get('/a/x')?.mtime).toBe(2);
  });

  it('normalizes a hardlink target given untidy, and stacks it', () => {
    const index = LayerIndex.fromEntries([dir('/a'), file('/a/x'), { ...file('/a/y'), type: 'hardlink', linkname: 'a//x' }]);
    expect(index.entries.get('/a/y')?.linkname).toBe('/a/x');
    const stack = LowerStack.empty().withLayer(index);
    expect(stack.lookup('/a/y')).toBe(stack.lookup('/a/x'));
  });

  it('refuses an untidy path that climbs above the root, as before', () => {
    expect(() => LayerIndex.fromEntries([file('/a/../../x')])).toThrow(/climbs above the root/);
    expect(() => LayerIndex.fromEntries([file('/a\0b')])).toThrow(/NUL/);
  });
});
