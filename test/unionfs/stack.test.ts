/**
 * Layer indexes and stacks: laws over random layers (entry order does not
 * matter, reserved names never show, listings are sorted and unique) and
 * hostile layers that must be refused or confined.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { lowerLayersArbitrary, observeFs } from '../../src/testing/unionfs.js';
import { indexLayer, InvalidLayerError, LayerIndex, LowerStack, UnionFS } from '../../src/unionfs/index.js';

const RUNS = Number(process.env.UNIONFS_RUNS ?? 50);
const meta = { uid: 0, gid: 0, mtime: 0, size: 0 };
const dir = (path: string): Entry => ({ ...meta, path, type: 'dir', mode: 0o755 });
const file = (path: string, text = ''): Entry => ({ ...meta, path, type: 'file', mode: 0o644, size: text.length, content: bytesSource(Buffer.from(text)) });

describe('stacking laws', () => {
  it('a layer means the same whatever the order of its entries', async () => {
    await fc.assert(
      fc.asyncProperty(
        lowerLayersArbitrary({ symlinkTargets: 'any' }).chain((layers) =>
          fc.tuple(fc.constant(layers), fc.tuple(...layers.map((l) => fc.shuffledSubarray(l, { minLength: l.length, maxLength: l.length })))),
        ),
        async ([layers, shuffled]) => {
          const a = await observeFs(await UnionFS.open(layers));
          const b = await observeFs(await UnionFS.open(shuffled));
          expect(b).toEqual(a);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('listings are sorted, unique and free of whiteout names at every depth', async () => {
    await fc.assert(
      fc.asyncProperty(lowerLayersArbitrary({ symlinkTargets: 'any' }), async (layers) => {
        const view = await UnionFS.open(layers);
        const dirs = ['/', ...Object.entries((await observeFs(view)).nodes).filter(([, n]) => n.type === 'dir').map(([p]) => p)];
        for (const d of dirs) {
          const names = await view.readdir(d);
          expect(names).toEqual([...new Set(names)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
          expect(names.filter((n) => n.startsWith('.wh.'))).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('hostile layers', () => {
  it('a whiteout below a symlink deletes nothing through it', async () => {
    const view = await UnionFS.open([[dir('/etc'), file('/etc/passwd', 'x'), { ...meta, path: '/link', type: 'symlink', mode: 0o777, linkname: '/etc' }], [file('/link/.wh.passwd')]]);
    expect(await view.readFile('/etc/passwd', 'utf8')).toBe('x');
  });

  it('refuses entries below a non-directory, paths above the root, hardlinks to nothing or to directories', () => {
    const link = (path: string, target: string): Entry => ({ ...meta, path, type: 'hardlink', mode: 0o644, linkname: target });
    const symlink: Entry = { ...meta, path: '/s', type: 'symlink', mode: 0o777, linkname: '/etc' };
    expect(() => LowerStack.of([LayerIndex.fromEntries([symlink]), LayerIndex.fromEntries([file('/s/x')])])).toThrow(InvalidLayerError);
    expect(() => LowerStack.of([LayerIndex.fromEntries([file('/f'), file('/f/x')])])).toThrow(InvalidLayerError);
    expect(() => LayerIndex.fromEntries([file('/a/../../x')])).toThrow(InvalidLayerError);
    expect(() => LowerStack.of([LayerIndex.fromEntries([link('/l', '/missing')])])).toThrow(InvalidLayerError);
    expect(() => LowerStack.of([LayerIndex.fromEntries([dir('/d'), link('/l', '/d')])])).toThrow(InvalidLayerError);
  });
});

describe('indexing Layer objects', () => {
  it('keeps contents beyond the memory budget in a spool file and reads them back', async () => {
    const big = 'y'.repeat(100_000);
    const layer = layerFromEntries([dir('/data'), file('/data/small', 'x'), file('/data/big', big)]);
    const spoolDir = await mkdtemp(join(tmpdir(), 'lk-stack-spool-'));
    try {
      const index = await indexLayer(layer, { memoryBudget: 10, spoolDir });
      expect(await indexLayer(layer)).toBe(index);
      expect(await readdir(spoolDir)).toHaveLength(1);
      const view = await UnionFS.open([index]);
      expect(await view.readFile('/data/big', 'utf8')).toBe(big);
      expect(await view.readFile('/data/small', 'utf8')).toBe('x');
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});
