/**
 * Cold-build keys: a COPY whose key is computed from the copy's own reads
 * (ChecksumTap) must get exactly the key a checksum computed before the copy
 * gives — otherwise a warm cache could answer with another step's layer.
 */
import { execFileSync } from 'node:child_process';
import { link, mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { openContext, StatCache, type BuildContext } from '../../src/context/index.js';
import { getfattrReader, type XattrReader } from '../../src/context/xattrs.js';
import { copyItem, prepareDestination } from '../../src/builder/copy/copy.js';
import { contextSourceFs } from '../../src/builder/copy/sources.js';
import { CopyTarget } from '../../src/builder/copy/target.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { LowerStack } from '../../src/unionfs/lower-stack.js';
import { freshStore, tempDir } from './helpers.js';

/** Property runs; LAYERKIT_PROPERTY_RUNS raises them for longer runs. */
const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether user.* xattrs can be set here (ext4, tmpfs ≥ 6.6, …) and read back with getfattr. */
async function xattrsSettable(dir: string): Promise<boolean> {
  if (!(await getfattrReader())) return false;
  try {
    await writeFile(join(dir, '.probe'), '');
    execFileSync('setfattr', ['-n', 'user.probe', '-v', '1', join(dir, '.probe')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A context with everything a key covers: modes (setuid, sticky, 0600,
 * 0755), symlinks (relative, absolute, dangling, to a directory), hardlinks
 * (same directory and across directories), an empty file, a file above the
 * one-read size, xattrs where they can be set, and a `.dockerignore` with an
 * exception.
 */
async function richContext(): Promise<{ root: string; xattrs: boolean }> {
  const root = await tempDir('lk-tap-');
  const files: Record<string, [string | Uint8Array, number]> = {
    'a.txt': ['alpha\n', 0o644],
    'bin/run': ['#!/bin/sh\necho run\n', 0o755],
    'bin/suid': ['s', 0o4755],
    'secret': ['only me', 0o600],
    'empty': ['', 0o644],
    'big.bin': [Buffer.alloc(1.5 * 2 ** 20, 7), 0o644],
    'd/one': ['1', 0o644],
    'd/sub/two': ['2', 0o640],
    'd/sub/tmp/x': ['x', 0o644],
    'ignored.log': ['no', 0o644],
    'd/skip/drop': ['drop', 0o644],
    'd/skip/keep': ['keep', 0o644],
    '.dockerignore': ['*.log\nd/skip\n!d/skip/keep\n', 0o644],
  };
  for (const [rel, [content, mode]] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), content);
    await chmod(join(root, rel), mode);
  }
  await chmod(join(root, 'd/sub/tmp'), 0o1777);
  await symlink('a.txt', join(root, 'link-rel'));
  await symlink('/etc/passwd', join(root, 'link-abs'));
  await symlink('missing', join(root, 'd/dangling'));
  await symlink('../bin', join(root, 'd/bin-link'));
  await writeFile(join(root, 'hard1'), 'shared bytes');
  await link(join(root, 'hard1'), join(root, 'hard2'));
  await link(join(root, 'hard1'), join(root, 'd/sub/hard3'));
  const xattrs = await xattrsSettable(root);
  if (xattrs) {
    execFileSync('setfattr', ['-n', 'user.comment', '-v', 'hello', join(root, 'a.txt')]);
    execFileSync('setfattr', ['-n', 'user.dir', '-v', '0x00ff', join(root, 'd/sub')]);
    execFileSync('setfattr', ['-n', 'user.linked', '-v', 'same', join(root, 'hard1')]);
  } else if (process.env.CI) {
    throw new Error('user.* xattrs cannot be set in the temporary directory (setfattr from the attr package, on ext4)');
  } else {
    console.warn('xattrs not covered: user.* attributes cannot be set here');
  }
  return { root, xattrs };
}

type ReadMode = 'all' | 'none' | 'partial';

/** Copies `sources` the way COPY does, through a tap, then writes (or partly reads) the layer. */
async function tappedChecksum(
  context: BuildContext,
  sources: readonly string[],
  excludes: readonly string[],
  read: ReadMode,
  cache?: StatCache,
): Promise<string> {
  const tap = await context.tapChecksum(cache ? { cache } : {});
  const fs = contextSourceFs(context, 'context', { selected: (s) => tap.add(s), observe: (e) => tap.observe(e) });
  const target = new CopyTarget(LowerStack.empty());
  const dest = prepareDestination(target, '/out/', { createdMtime: 0 });
  for (const source of sources) for (const item of await fs.select([source], { excludes })) await copyItem(target, item, dest, { createdMtime: 0 });
  const entries = target.entries();
  if (read === 'all' && entries.length > 0) {
    for await (const chunk of layerFromEntries(entries).uncompressed()) void chunk;
  } else if (read === 'partial') {
    // Only some files read, some of them only in part (as ADD sniffs an archive).
    let k = 0;
    for (const entry of entries) {
      if (entry.type !== 'file' || !entry.content || k++ % 2 === 1) continue;
      for await (const chunk of entry.content.open()) {
        void chunk;
        if (k % 3 === 0) break;
      }
    }
  }
  return tap.digest();
}

/** The checksum computed before any copy, on a context object of its own (nothing remembered). */
async function upfrontChecksum(root: string, sources: readonly string[], excludes: readonly string[], cache?: StatCache): Promise<string> {
  const context = await openContext(root);
  return context.checksum(await context.resolveSources(sources, excludes.length > 0 ? { excludes } : {}), cache ? { cache } : {});
}

const SELECTIONS: Array<[string[], string[]]> = [
  [['.'], []],
  [['.'], ['bin', '!bin/run', '**/hard3']],
  [['d', 'a.txt'], ['sub/tmp']],
  [['*.txt', 'bin/', 'link-rel'], []],
  [['hard2', 'hard1'], []],
  [['d/sub'], []],
  [['d/bin-link', 'empty', 'big.bin'], []],
  [['nomatch*', 'secret'], []],
];

describe('checksums taken during the copy', () => {
  it('equal the checksum taken before it, for every selection, however much of the layer was read', async () => {
    const { root } = await richContext();
    for (const [sources, excludes] of SELECTIONS) {
      const upfront = await upfrontChecksum(root, sources, excludes);
      for (const read of ['all', 'none', 'partial'] as const) {
        const tapped = await tappedChecksum(await openContext(root), sources, excludes, read);
        expect(tapped, `${sources.join(' ')} --exclude=${excludes.join(',')} (${read})`).toBe(upfront);
      }
    }
  });

  it('covers the xattrs the copy read: a changed attribute changes both checksums alike', async () => {
    const { root, xattrs } = await richContext();
    if (!xattrs) return;
    const before = await tappedChecksum(await openContext(root), ['.'], [], 'all');
    execFileSync('setfattr', ['-n', 'user.comment', '-v', 'changed', join(root, 'a.txt')]);
    const after = await tappedChecksum(await openContext(root), ['.'], [], 'all');
    expect(after).not.toBe(before);
    expect(after).toBe(await upfrontChecksum(root, ['.'], []));
  });

  it('checksum() of an equal selection after the tap agrees, from the stat index alone', async () => {
    const { root } = await richContext();
    await sleep(50); // the index only records files changed before its fence (a clock tick ago)
    const context = await openContext(root);
    const cache = new StatCache(await tempDir('lk-tap-cache-'));
    const tapped = await tappedChecksum(context, ['d', 'a.txt'], ['sub/tmp'], 'all', cache);
    const read = cache.stats.misses;
    expect(await context.checksum(await context.resolveSources(['d', 'a.txt'], { excludes: ['sub/tmp'] }), { cache })).toBe(tapped);
    expect(cache.stats.misses).toBe(read);
  });

  it('teaches the stat index, so the next checksum of the context reads no file', async () => {
    const { root } = await richContext();
    await sleep(50); // the index only records files changed before its fence (a clock tick ago)
    const cache = new StatCache(await tempDir('lk-tap-cache-'));
    const tapped = await tappedChecksum(await openContext(root), ['.'], [], 'all', cache);
    expect(cache.stats.misses).toBeGreaterThan(0);
    const later = new StatCache(cache.dir);
    expect(await upfrontChecksum(root, ['.'], [], later)).toBe(tapped);
    expect(later.stats).toEqual({ hits: cache.stats.misses, misses: 0 });
  });

  it('property: for random trees, selections, excludes and reads, tapped = up front', async () => {
    const names = ['a', 'b', 'd/a', 'd/b', 'd/e/a'];
    const tree = fc.record({
      files: fc.dictionary(fc.constantFrom(...names), fc.record({ content: fc.uint8Array({ maxLength: 64 }), mode: fc.constantFrom(0o644, 0o600, 0o755, 0o4755) }), { minKeys: 1 }),
      links: fc.dictionary(fc.constantFrom('l', 'd/l'), fc.constantFrom('a', '../b', 'missing', '/abs', 'd')),
      hardlinks: fc.subarray(['h1', 'd/h2', 'd/e/h3']),
      ignore: fc.constantFrom('', 'd/e\n', 'd\n!d/b\n', '*\n!a\n'),
    });
    const selection = fc.record({
      sources: fc.array(fc.constantFrom('.', 'a', 'd', 'd/e', 'l', '*', 'h1', 'd/h2', 'nomatch*'), { minLength: 1, maxLength: 3 }),
      excludes: fc.subarray(['b', 'e', '**/a', '!d/e/a', 'h*']),
      read: fc.constantFrom<ReadMode>('all', 'none', 'partial'),
    });
    await fc.assert(
      fc.asyncProperty(tree, selection, async (spec, sel) => {
        const root = await tempDir('lk-tap-prop-');
        for (const [rel, file] of Object.entries(spec.files)) {
          await mkdir(join(root, rel, '..'), { recursive: true });
          await writeFile(join(root, rel), file.content);
          await chmod(join(root, rel), file.mode);
        }
        for (const [rel, target] of Object.entries(spec.links)) {
          await mkdir(join(root, rel, '..'), { recursive: true });
          await symlink(target, join(root, rel)).catch(() => undefined);
        }
        if (spec.hardlinks.length > 0) {
          await writeFile(join(root, 'shared'), 'same inode');
          for (const rel of spec.hardlinks) {
            await mkdir(join(root, rel, '..'), { recursive: true });
            await link(join(root, 'shared'), join(root, rel)).catch(() => undefined);
          }
        }
        if (spec.ignore !== '') await writeFile(join(root, '.dockerignore'), spec.ignore);
        const excludes = sel.excludes.some((p) => !p.startsWith('!')) ? sel.excludes : [];
        let upfront: string | Error;
        try {
          upfront = await upfrontChecksum(root, sel.sources, excludes);
        } catch (err) {
          upfront = err as Error;
        }
        if (upfront instanceof Error) {
          // A source that names nothing fails the copy as well.
          await expect(tappedChecksum(await openContext(root), sel.sources, excludes, sel.read)).rejects.toThrow();
          return;
        }
        expect(await tappedChecksum(await openContext(root), sel.sources, excludes, sel.read)).toBe(upfront);
      }),
      runs(25),
    );
  });
});

/** An xattr reader that counts how often each path is asked for. */
function countingReader(inner: XattrReader): XattrReader & { asked: Map<string, number> } {
  const asked = new Map<string, number>();
  return {
    asked,
    read(paths) {
      for (const path of paths) asked.set(path, (asked.get(path) ?? 0) + 1);
      return inner.read(paths);
    },
  };
}

describe('a cold build', () => {
  it('keys each COPY from the copy and reads every path’s xattrs once; a warm rebuild hits every step without reading', async () => {
    const { root, xattrs } = await richContext();
    await sleep(50);
    // Disjoint sources, so each path is copied by one step only.
    const dockerfile = [
      'FROM scratch',
      'LABEL stage=cold',
      'COPY --exclude=sub/tmp d /d/',
      'COPY --exclude=suid bin /bin/',
      'COPY a.txt hard1 hard2 /x/',
      'COPY --link secret /private/',
      'COPY --chmod=0700 big.bin empty /y/',
      'WORKDIR /all',
    ].join('\n');
    const reader = countingReader((await getfattrReader()) ?? { read: async () => new Map() });
    const store = await freshStore();
    const options = { context: root, dockerfileText: dockerfile, store, sourceDateEpoch: 1700000000, xattrs: reader };
    const cold = await build(options);
    expect(cold.steps.map((s) => s.cached)).toEqual([false, false, false, false, false, false, false]);
    if (xattrs) {
      // The copy's own lookup, none for the keys.
      expect([...reader.asked].filter(([, n]) => n > 1)).toEqual([]);
      expect(reader.asked.get(join(root, 'd/sub'))).toBe(1);
    }
    const warm = await build(options);
    expect(warm.steps.map((s) => s.cached)).toEqual([true, true, true, true, true, true, true]);
    expect(warm.cache).toMatchObject({ hits: 7, misses: 0, contextFilesRead: 0 });
    expect(warm.digest).toBe(cold.digest);
    const reference = await build({ ...options, store: await freshStore(), noCache: true });
    expect(reference.digest).toBe(cold.digest);
  });

  it('overlapping selections, --exclude, followed symlinks and hardlinks: the warm rebuild hits every step', async () => {
    const { root } = await richContext();
    const dockerfile = [
      'FROM scratch',
      'LABEL stage=cold',
      'COPY . /all/',
      'COPY --exclude=bin --exclude=!bin/run --exclude=**/hard3 . /some/',
      'COPY d a.txt /d/',
      'COPY --link --chmod=0700 hard2 secret /private/',
      'COPY --link hard1 link-rel /linked/',
      'COPY big.bin d/sub /x/',
    ].join('\n');
    const store = await freshStore();
    const options = { context: root, dockerfileText: dockerfile, store, sourceDateEpoch: 1700000000 };
    const cold = await build(options);
    const warm = await build(options);
    expect(warm.steps.map((s) => s.cached)).toEqual(cold.steps.map(() => true));
    expect(warm.digest).toBe(cold.digest);
  });

  it('COPY --link --chown=<name> of a new /etc/passwd is keyed on the owner before the copy, cold or warm', async () => {
    const root = await tempDir('lk-tap-link-');
    await mkdir(join(root, 'base'), { recursive: true });
    await mkdir(join(root, 'next'), { recursive: true });
    await writeFile(join(root, 'base/passwd'), 'root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n');
    await writeFile(join(root, 'next/passwd'), 'root:x:0:0::/:/bin/sh\napp:x:2000:2000::/:/bin/sh\n');
    const dockerfile = 'FROM scratch\nLABEL a=b\nCOPY base/ /etc/\nCOPY --link --chown=app next/ /etc/\n';
    const store = await freshStore();
    const options = { context: root, dockerfileText: dockerfile, store, sourceDateEpoch: 1700000000 };
    const cold = await build(options);
    const warm = await build(options);
    expect(warm.steps.map((s) => s.cached)).toEqual([true, true, true]);
    expect(warm.digest).toBe(cold.digest);
  });

  it('a warm cache never gives a stale hit: a change under a COPY that was keyed from the copy misses', async () => {
    const { root } = await richContext();
    const dockerfile = 'FROM scratch\nLABEL a=b\nCOPY d /d\nCOPY a.txt /a.txt\n';
    const store = await freshStore();
    const options = { context: root, dockerfileText: dockerfile, store, sourceDateEpoch: 1700000000 };
    await build(options);
    await writeFile(join(root, 'd/sub/two'), '2!');
    const changed = await build(options);
    expect(changed.steps.map((s) => s.cached)).toEqual([true, false, false]);
    const reference = await build({ ...options, store: await freshStore(), noCache: true });
    expect(changed.digest).toBe(reference.digest);
  });
});
