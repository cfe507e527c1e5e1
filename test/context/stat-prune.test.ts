/**
 * The stat index forgets what a checksum of a whole directory no longer
 * finds, in a first build as in later ones.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContext, StatCache } from '../../src/context/index.js';

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-prune-'));
  made.push(dir);
  return dir;
}

/** Waits until the filesystem clock is past the files' ctimes, so the index records them. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('stat index pruning', () => {
  it('records every file of a first checksum, and forgets removed files at the next', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'b'));
    for (const f of ['a', 'b/c', 'b/d', 'b/e']) await writeFile(join(root, f), f);
    await settle();
    const cache = new StatCache(await tempDir());
    const checksum = async (source: string) => {
      const ctx = await openContext(root, { xattrs: false });
      return ctx.checksum(await ctx.resolveSources([source]), { cache });
    };
    await checksum('.');
    const index = await cache.index(root);
    expect(index.size).toBe(6); // the root, a, b, b/c, b/d, b/e
    await rm(join(root, 'b/d'));
    await rm(join(root, 'a'));
    await settle();
    await checksum('b');
    // Below b only: b/d goes, a stays until a checksum walks the root.
    expect([index.hasBelow('/b/c'), index.hasBelow('/b/e'), index.hasBelow('/b/d'), index.hasBelow('/a')]).toEqual([true, true, false, true]);
    await checksum('.');
    expect([index.hasBelow('/b/c'), index.hasBelow('/b/e'), index.hasBelow('/a')]).toEqual([true, true, false]);
  });
});
