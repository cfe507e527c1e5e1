/**
 * `layers-extracted/` (the unpacked layers RUN steps and containers use) is
 * counted by `cache du`, removed by `rmi` and `prune` once no image uses a
 * layer, pruned least recently used first by `cache prune --keep-storage`,
 * and never taken from a live process that holds a lease on it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { extractedLayer } from '../../src/sandbox/extracted.js';
import { listExtracted, pruneExtracted } from '../../src/sandbox/extracted-gc.js';
import { digestHex } from '../../src/digest.js';
import { ImageStore } from '../../src/image/store/store.js';
import { cli, names, removeAll, repo, scratch } from './helpers.js';

const exec = promisify(execFile);
const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** Extracts every layer of the images in another process (which then exits, its lease with it). */
async function extractElsewhere(store: string, refs: string[]): Promise<void> {
  const code = `
    import { ImageStore } from ${JSON.stringify(join(repo, 'src/image/store/store.ts'))};
    import { extractedLayer } from ${JSON.stringify(join(repo, 'src/sandbox/extracted.ts'))};
    const store = new ImageStore(${JSON.stringify(store)});
    for (const ref of ${JSON.stringify(refs)}) for (const layer of await (await store.getImage(ref)).layers()) await extractedLayer(layer, store.root);`;
  await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo });
}

/** A store with `base` (one 2 MB layer) and `app` (FROM base, plus a 1 MB layer). */
async function twoImages(): Promise<{ store: string; base: string[]; app: string[] }> {
  const [store, ctx] = [await scratch(), await scratch()];
  cleanup.push(store, ctx);
  await writeFile(join(ctx, 'big'), randomBytes(2 << 20));
  await writeFile(join(ctx, 'more'), randomBytes(1 << 20));
  await build({ context: ctx, store, tags: 'base:1', dockerfileText: 'FROM scratch\nCOPY big /big\n' });
  await build({ context: ctx, store, tags: 'app:1', dockerfileText: 'FROM base:1\nCOPY more /more\n' });
  const ids = async (ref: string) => ((await (await new ImageStore(store).getImage(ref)).config()).rootfs.diff_ids as string[]).map((d) => digestHex(d as never));
  return { store, base: await ids('base:1'), app: await ids('app:1') };
}

const extracted = async (store: string) => (await names(join(store, 'layers-extracted'))).filter((n) => /^[0-9a-f]{64}$/.test(n));

describe('layers-extracted', () => {
  it('cache du counts it; rmi drops what no image uses, keeps what another image uses', async () => {
    const { store, base, app } = await twoImages();
    await extractElsewhere(store, ['app:1']);
    expect((await extracted(store)).sort()).toEqual([...app].sort());
    const du = await cli(['cache', 'du', '--store', store]);
    expect(du.code).toBe(0);
    expect(du.stdout).toMatch(/^Extracted layers: 2 \(3\.1\dMB\)$/m);
    const total = /^Total:\s+([\d.]+)MB$/m.exec(du.stdout);
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(3.14);

    expect((await cli(['rmi', '--store', store, 'app:1'])).code).toBe(0);
    expect(await extracted(store)).toEqual(base);
    expect((await cli(['rmi', '--store', store, 'base:1'])).code).toBe(0);
    expect(await extracted(store)).toEqual([]);
  });

  it('prune --dangling drops the unpacked layers of the images it removes', async () => {
    const { store, base, app } = await twoImages();
    await extractElsewhere(store, ['app:1']);
    // A new app:1 leaves the old one dangling.
    const ctx = await scratch();
    cleanup.push(ctx);
    await writeFile(join(ctx, 'other'), 'other\n');
    await build({ context: ctx, store, tags: 'app:1', dockerfileText: 'FROM base:1\nCOPY other /other\n' });
    expect((await extracted(store)).sort()).toEqual([...app].sort());
    const pruned = await cli(['prune', '--dangling', '--store', store]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted Images: sha256:/m);
    expect(await extracted(store)).toEqual(base);
  });

  it('a live process\'s lease keeps its layer through rmi and prune', async () => {
    const { store, base } = await twoImages();
    await extractElsewhere(store, ['app:1']);
    // This process uses base's layer now.
    await extractedLayer((await (await new ImageStore(store).getImage('base:1')).layers())[0]!, store);
    expect((await cli(['rmi', '--store', store, 'app:1', 'base:1'])).code).toBe(0);
    expect((await cli(['prune', '--store', store])).code).toBe(0);
    expect(await extracted(store)).toEqual(base);
  });

  it('cache prune --keep-storage drops the least recently used first; --all drops every unleased one', async () => {
    const { store, base, app } = await twoImages();
    await extractElsewhere(store, ['app:1']);
    const [older, newer] = [base[0]!, app[1]!];
    await utimes(join(store, 'layers-extracted', older, 'meta.json'), new Date(1e12), new Date(1e12));
    await utimes(join(store, 'layers-extracted', newer, 'meta.json'), new Date(2e12), new Date(2e12));
    const sizes = new Map((await listExtracted(store)).map((l) => [l.hex, l.bytes]));
    // Room for the newer layer only.
    const result = await pruneExtracted(store, { keepBytes: sizes.get(newer)! });
    expect(result).toMatchObject({ removed: 1, freedBytes: sizes.get(older)! });
    expect(await extracted(store)).toEqual([newer]);

    await extractElsewhere(store, ['app:1']);
    const all = await cli(['cache', 'prune', '--all', '--store', store]);
    expect(all.code).toBe(0);
    expect(await extracted(store)).toEqual([]);
    // The cache's own records and blobs go too: at least the 3 MB of unpacked layers were reclaimed.
    expect(Number(/Total reclaimed space: ([\d.]+)MB/.exec(all.stdout)?.[1])).toBeGreaterThanOrEqual(3.14);
  });
});
