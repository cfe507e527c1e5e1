/**
 * Differential test against the kernel: the same random layers and
 * operation sequence on a real overlayfs mount (unprivileged, in a user and
 * mount namespace; see kernel-harness.ts) and on a UnionFS with its default,
 * Docker-like settings. The kernel is the reference: every outcome (value or
 * error code) and the whole tree after every step must match.
 *
 * Allowed differences, not compared: timestamps, inode numbers (the names
 * of a hardlink made in the upper report different ones on overlayfs, so
 * hardlinks are compared by link count), directory
 * link counts (overlayfs reports 1 for merged directories, as we do for all),
 * readdir order (we sort). One kernel quirk is kept out of the generated
 * layers: a whiteout that hides nothing (its name does not exist below, or
 * the same layer makes its directory opaque) in a directory that does not
 * merge with a lower one is listed by the kernel's readdir (the raw lowerdir
 * listing passes through) while lookups of it fail; UnionFS never shows a
 * whiteout. Setuid/setgid files are left out: the namespace's root
 * lacks CAP_FSETID in the initial namespace, so the kernel clears those bits
 * on every write, where a container's root (and UnionFS) keeps them — the
 * plain-directory test, run as real root, covers them. Ownership is 0:0 throughout because the namespace
 * maps only root. The mount uses the defaults of this kernel for
 * `redirect_dir` (off/nofollow: a directory with lower content cannot be
 * renamed, EXDEV) and `index` (off: copy-up breaks hardlinks), which are
 * also Docker's and UnionFS's defaults.
 *
 * Skips with a reason without unprivileged overlay mounts; fails under CI=true.
 * UNIONFS_KERNEL_RUNS=200 for a longer run.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  lowerLayersArbitrary,
  observeFs,
  runUnionOp,
  unionOpsArbitrary,
  type UnionArbitraryOptions,
} from '../../src/testing/unionfs.js';
import { UnionFS } from '../../src/unionfs/index.js';
import { dropUselessWhiteouts, requirement } from './helpers.js';
import { harnessNames, KernelHarness } from './kernel-harness.js';

const RUNS = Number(process.env.UNIONFS_KERNEL_RUNS ?? 6);
const harness = await KernelHarness.create();
const available = requirement('kernel overlayfs differential test', typeof harness === 'string' ? harness : undefined);

const options: UnionArbitraryOptions = { symlinkTargets: 'any', sameLayerWhiteouts: false, owners: [0], setidModes: false };

describe.runIf(available)('UnionFS against kernel overlayfs', () => {
  afterAll(async () => {
    if (typeof harness !== 'string') await harness.dispose();
  });

  it('gives the same outcome and tree as the kernel after every operation', async () => {
    const kernel = harness as KernelHarness;
    const exclude = new Set(harnessNames().map((n) => '/' + n));
    const observe = { exclude: (p: string) => exclude.has(p), linkGroups: false };
    await fc.assert(
      fc.asyncProperty(lowerLayersArbitrary(options).map(dropUselessWhiteouts), unionOpsArbitrary({ ...options, maxOps: 15 }), async (layers, ops) => {
        const reference = await kernel.run(layers, ops);
        const view = await UnionFS.open(layers);
        for (const name of harnessNames()) await view.mkdir('/' + name);
        expect(await observeFs(view, observe), 'tree before any operation').toEqual(reference.initial);
        for (const [i, op] of ops.entries()) {
          const step = reference.steps[i]!;
          expect(await runUnionOp(view, op), `outcome of step ${i}: ${JSON.stringify(op)}`).toEqual(step.outcome);
          expect(await observeFs(view, observe), `tree after step ${i}: ${JSON.stringify(op)}`).toEqual(step.observation);
        }
      }),
      { numRuns: RUNS },
    );
  }, Math.max(60_000, RUNS * 3000));
});
