/**
 * One corrupt blob does not take the store down: `images` lists the other
 * images and marks the broken one, `rmi` removes it (by tag, with or without
 * -f, or by manifest digest), and the good images stay reachable by ID.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { digestHex } from '../../src/digest.js';
import { ImageStore } from '../../src/image/store/store.js';
import { cli, crashed, removeAll, scratch } from './helpers.js';

const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

async function twoImages(): Promise<{ store: string; good: { digest: string; id: string }; bad: { digest: string; id: string } }> {
  const [store, ctx] = [await scratch(), await scratch()];
  cleanup.push(store, ctx);
  await writeFile(join(ctx, 'a'), 'a\n');
  await writeFile(join(ctx, 'b'), 'b\n');
  const good = await build({ context: ctx, store, tags: 'good:1', dockerfileText: 'FROM scratch\nCOPY a /a\n' });
  const bad = await build({ context: ctx, store, tags: ['bad:1', 'bad:2'], dockerfileText: 'FROM scratch\nCOPY b /b\n' });
  return { store, good: { digest: good.digest, id: good.imageId }, bad: { digest: bad.digest, id: bad.imageId } };
}

const blob = (store: string, digest: string) => join(store, 'blobs', 'sha256', digestHex(digest as never));

describe.each([
  ['config', (s: { bad: { id: string } }) => s.bad.id],
  ['manifest', (s: { bad: { digest: string } }) => s.bad.digest],
])('a corrupt %s blob', (_what, target) => {
  it('images lists the rest and marks it; rmi removes it', async () => {
    const setup = await twoImages();
    await writeFile(blob(setup.store, target(setup)), '{"not":"the blob"}');

    const listed = await cli(['images', '--store', setup.store]);
    expect(crashed(listed.stderr)).toBe(false);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.startsWith('good '))).toMatch(/\s[\d.]+k?B$/);
    expect(lines.filter((l) => l.startsWith('bad ')).every((l) => l.endsWith('<corrupt>'))).toBe(true);
    expect(listed.stderr).toMatch(/warning: bad:1 is corrupt \(.+\); remove it with layerkit rmi bad:1/);

    // The good image is still found by ID prefix.
    expect((await cli(['inspect', '--store', setup.store, digestHex(setup.good.id as never).slice(0, 12)])).code).toBe(0);

    // By tag: the other tag keeps the image; then -f by tag removes it whole.
    const untag = await cli(['rmi', '--store', setup.store, 'bad:1']);
    expect(untag).toMatchObject({ code: 0, stdout: 'Untagged: docker.io/library/bad:1\n' });
    const gone = await cli(['rmi', '-f', '--store', setup.store, 'bad:2']);
    expect(gone.code).toBe(0);
    expect(gone.stdout).toContain(`Deleted: ${setup.bad.digest}`);
    const after = await new ImageStore(setup.store).list();
    expect(after.map((i) => i.tags)).toEqual([['good:1']]);
    expect(after[0]!.corrupt).toBeUndefined();
    // With the broken image gone, prune can reclaim its blobs again.
    const pruned = await cli(['prune', '--store', setup.store]);
    expect(pruned.code).toBe(0);
  });

  it('rmi by manifest digest removes it too', async () => {
    const setup = await twoImages();
    await writeFile(blob(setup.store, target(setup)), 'garbage');
    const removed = await cli(['rmi', '-f', '--store', setup.store, setup.bad.digest]);
    expect(removed.code).toBe(0);
    expect((await new ImageStore(setup.store).list()).map((i) => i.tags)).toEqual([['good:1']]);
  });
});

describe('the library', () => {
  it('list() reports the broken image with what is wrong', async () => {
    const setup = await twoImages();
    await writeFile(blob(setup.store, setup.bad.id), '{}');
    const images = await new ImageStore(setup.store).list();
    const bad = images.find((i) => i.digest === setup.bad.digest)!;
    expect(bad.corrupt).toMatch(/sha256:/);
    expect(bad.size).toBe(0);
    expect(images.find((i) => i.digest === setup.good.digest)!.corrupt).toBeUndefined();
  });
});
