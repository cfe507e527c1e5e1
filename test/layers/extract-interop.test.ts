/**
 * Differential: for benign layers, extractLayer leaves the same files as GNU
 * tar extracting the same blob.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { diff } from '../../src/layers/changes/diff.js';
import { toLayer } from '../../src/layers/changes/emit.js';
import { extractLayer } from '../../src/layers/extract.js';
import { layerFromTarFile } from '../../src/layers/from-tar.js';
import { Tree } from '../../src/layers/tree.js';
import { treeEvolutionArbitrary } from '../../src/testing/trees.js';
import { ownerReadableTree } from '../support/owner-readable.js';
import { snapshotDir, tempDir } from './extract-helpers.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const isRoot = process.getuid?.() === 0;
const gnuTar = spawnSync('tar', ['--version'], { encoding: 'utf8' });
const haveGnuTar = !gnuTar.error && gnuTar.stdout.includes('GNU tar');
if (!haveGnuTar && !process.env.CI) console.warn('skipping GNU tar interop: GNU tar not found');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe.runIf(haveGnuTar || Boolean(process.env.CI))('extractLayer vs GNU tar', () => {
  it('leaves the same tree as tar -xzf for generated layers (types, modes, owners, mtimes, hardlinks, long and unicode names)', async () => {
    if (!haveGnuTar) throw new Error('GNU tar missing');
    await fc.assert(
      fc.asyncProperty(
        treeEvolutionArbitrary(1, { xattrs: false, linuxSymlinks: true, ...(isRoot ? {} : { specialFiles: false, owners: [process.getuid!()], modeMask: 0o777 }) }).map((trees) => trees.map(ownerReadableTree)),
        async ([tree]) => {
          const t = await tempDir('layerkit-interop-');
          cleanups.push(t.cleanup);
          const blob = join(t.path, 'layer.tar.gz');
          const layer = toLayer(diff(Tree.empty(), tree!), tree!, { level: 1 });
          await pipeline(Readable.from(layer.compressed()), createWriteStream(blob));
          const gnu = join(t.path, 'gnu');
          await mkdir(gnu);
          const args = ['-xzf', blob, '-C', gnu, '--numeric-owner', ...(isRoot ? ['--same-owner', '--same-permissions'] : ['--no-same-owner', '--same-permissions'])];
          const r = spawnSync('tar', args, { encoding: 'utf8' });
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          const ours = join(t.path, 'ours');
          const result = await extractLayer(layerFromTarFile(blob), ours);
          expect(result.skipped).toEqual([]);
          expect(await snapshotDir(ours)).toEqual(await snapshotDir(gnu));
        },
      ),
      { numRuns: RUNS || 15 },
    );
  });
});
