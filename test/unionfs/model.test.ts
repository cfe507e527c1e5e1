/**
 * Model-based test: random operation sequences on a UnionFS over random
 * lower layers and on a plain model — a real temp directory holding the same
 * layers flattened by the layers module — must agree after every step
 * (outcomes, error codes, and the whole observable tree). Then committing the
 * upper and applying that layer to the flattened lowers gives the view.
 *
 * The view runs with `hardlinks: 'preserve'` and `renameDir: 'copy-up'`, the
 * settings under which overlayfs behaves as a plain file system; the
 * Docker defaults (`break`, `exdev`) are checked against the kernel in
 * kernel.test.ts. Symlink targets are relative and free of `..`, because the
 * model directory is not a chroot.
 *
 * UNIONFS_RUNS=500 for a longer run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apply } from '../../src/layers/changes/apply.js';
import {
  lowerLayersArbitrary,
  observeFs,
  unionOpArbitrary,
  UnionOpCommand,
  type UnionArbitraryOptions,
} from '../../src/testing/unionfs.js';
import { UnionFS } from '../../src/unionfs/index.js';
import { flattenLayers, hostView, isRoot, removeDir, tempDir, writeEntries } from './helpers.js';

const RUNS = Number(process.env.UNIONFS_RUNS ?? 25);
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const umask = process.umask();

const options: UnionArbitraryOptions = isRoot
  ? { symlinkTargets: 'relative' }
  : {
      // An ordinary user: no chown, and only modes under which the owner may read, write and
      // search whatever they are given to (a chmod can hit a file or a directory).
      symlinkTargets: 'relative',
      owners: [uid],
      excludeOps: ['chown', 'lchown'],
      modes: { file: [0o755, 0o700, 0o775, 0o777], dir: [0o755, 0o700, 0o775, 0o777] },
    };

describe('UnionFS against a plain directory', () => {
  it('agrees after every operation, and commit() applied to the lowers gives the view', async () => {
    await fc.assert(
      fc.asyncProperty(
        lowerLayersArbitrary(options),
        fc.commands([unionOpArbitrary(options).map((op) => new UnionOpCommand(op))], { maxCommands: 25 }),
        async (layers, commands) => {
          const dir = await tempDir('unionfs-model-');
          const applied = await tempDir('unionfs-applied-');
          try {
            const lowerTree = flattenLayers(layers);
            await writeEntries(lowerTree.entries(), dir);
            const view = await UnionFS.open(layers, { hardlinks: 'preserve', renameDir: 'copy-up', umask, uid, gid });
            const model = { fs: hostView(dir) };
            expect(await observeFs(view)).toEqual(await observeFs(model.fs));
            await fc.asyncModelRun(() => ({ model, real: view }), commands);

            const before = await observeFs(view);
            const layer = await view.commit();
            expect(await observeFs(view)).toEqual(before);
            await writeEntries((await apply(lowerTree, layer)).entries(), applied);
            expect(await observeFs(hostView(applied))).toEqual(before);
          } finally {
            await removeDir(dir);
            await removeDir(applied);
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, Math.max(60_000, RUNS * 1000));
});
